import { realpath } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BudgetMeter, resolveBudgets } from './budgets.ts';
import { listPlainYaml } from './plain-walk.ts';
import { RenderFailure } from './render-problem.ts';
import { configMap, makeTree, type TreeEntry } from './test-trees/make-tree.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function list(files: Record<string, TreeEntry>, maxFiles?: number) {
  const { root, done } = await makeTree(files);
  cleanups.push(done);
  const rootReal = await realpath(root);
  const meter = new BudgetMeter(resolveBudgets(maxFiles ? { maxFiles } : {}));
  return listPlainYaml({ rootReal, meter }, join(rootReal, 'clusters/dev')).then(
    (fs) => fs.map((f) => f.file),
    (e: unknown) => {
      if (e instanceof RenderFailure) return e.problem;
      throw e;
    },
  );
}

describe('listPlainYaml', () => {
  it('lists YAML files sorted, skips hidden directories, follows links inside the repo', async () => {
    expect(
      await list({
        'clusters/dev/b.yaml': configMap('b'),
        'clusters/dev/a/x.yml': configMap('x'),
        'clusters/dev/.hidden/h.yaml': configMap('h'),
        'clusters/dev/readme.md': '#',
        'shared/s.yaml': configMap('s'),
        'clusters/dev/shared': { link: '../../shared' },
      }),
    ).toEqual(['clusters/dev/a/x.yml', 'clusters/dev/b.yaml', 'clusters/dev/shared/s.yaml']);
  });

  it('two symlinks to . are a cycle, refused at once instead of exploding', async () => {
    const t = performance.now();
    const r = await list({
      'clusters/dev/a.yaml': configMap('a'),
      'clusters/dev/l1': { link: '.' },
      'clusters/dev/l2': { link: '.' },
    });
    expect(r).toMatchObject({ code: 'render.symlink-cycle', file: 'clusters/dev/l1' });
    expect(performance.now() - t).toBeLessThan(2_000);
  });

  it('a directory reached twice through links is refused; links out and loops too', async () => {
    expect(
      await list({
        'shared/s.yaml': configMap('s'),
        'clusters/dev/one': { link: '../../shared' },
        'clusters/dev/two': { link: '../../shared' },
      }),
    ).toMatchObject({ code: 'render.symlink-cycle', file: 'clusters/dev/two' });
    expect(await list({ 'clusters/dev/etc': { link: '/etc' } })).toMatchObject({
      code: 'render.path-traversal',
      file: 'clusters/dev/etc',
    });
    expect(await list({ 'clusters/dev/a': { link: 'b' }, 'clusters/dev/b': { link: 'a' } })).toMatchObject({
      code: 'render.symlink-cycle',
      file: 'clusters/dev/a',
    });
  });

  it('stops at the file budget', async () => {
    const files: Record<string, TreeEntry> = {};
    for (let i = 0; i < 30; i++) files[`clusters/dev/f${i}.yaml`] = configMap(`f${i}`);
    expect(await list(files, 10)).toMatchObject({ code: 'render.budget-files' });
  });
});
