import { execFile } from 'node:child_process';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

// `flotilla render` as CI runs it: a child process on a local checkout, no services at all.
const root = resolve(import.meta.dirname, '../..');
const main = join(root, 'cli/src/main.ts');
const FIXTURE = join(root, 'libs/render/test/fixtures/shop-config');

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', main, ...args],
      { cwd: root, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' }, timeout: 90_000 },
      (err, stdout, stderr) =>
        done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

let repo: string;
beforeAll(async () => {
  repo = await mkdtemp(join(tmpdir(), 'cli-render-'));
  await cp(FIXTURE, repo, { recursive: true });
  await writeFile(
    join(repo, 'clusters/prod/kustomization.yaml'),
    'resources:\n  - ../../apps/web\n  - git::https://example.com/org/repo//base\n',
  );
});
afterAll(async () => {
  await rm(repo, { recursive: true, force: true });
});

describe('flotilla render', () => {
  it('prints the objects a cluster would get, sorted as in a bundle, and exits 0', async () => {
    const r = await cli(['render', repo, '--cluster', 'dev']);
    expect(r.stderr).toContain('3 objects from clusters/dev (kustomize)');
    expect(r.code).toBe(0);
    const docs = parseAllDocuments(r.stdout).map(
      (d) => d.toJS() as { kind: string; metadata: { name: string } },
    );
    expect(docs.map((d) => `${d.kind}/${d.metadata.name}`)).toEqual([
      'Namespace/shop',
      'Service/web',
      'Deployment/web',
    ]);
    const json = await cli(['render', repo, '--path', 'clusters/dev', '-o', 'json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ kind: 'List', items: [{ kind: 'Namespace' }, {}, {}] });
  });

  it('prints a refusal with file, line, column and code, and exits 1', async () => {
    const r = await cli(['render', repo, '--cluster', 'prod']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(
      'clusters/prod/kustomization.yaml:3:5: render.remote-reference: resources "git::https://example.com/org/repo//base" is a go-getter source',
    );
  });

  it('usage errors exit 2: unknown cluster, neither or both of --cluster and --path', async () => {
    expect((await cli(['render', repo, '--cluster', 'nope'])).code).toBe(2);
    expect((await cli(['render', repo])).code).toBe(2);
    expect((await cli(['render', repo, '--cluster', 'dev', '--path', 'x'])).code).toBe(2);
  });
});
