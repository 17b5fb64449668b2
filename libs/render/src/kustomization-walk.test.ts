import { realpath, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BudgetMeter, type RenderBudgets, resolveBudgets } from './budgets.ts';
import { walkKustomization } from './kustomization-walk.ts';
import { RenderFailure, type RenderProblem } from './render-problem.ts';
import { configMap, makeTree, type TreeEntry } from './test-trees/make-tree.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function walk(
  files: Record<string, TreeEntry>,
  dir = 'clusters/dev',
  budgets: Partial<RenderBudgets> = {},
): Promise<{ ok: true; inputs: string[]; loads: number } | { ok: false; problem: RenderProblem }> {
  const { root, done } = await makeTree(files);
  cleanups.push(done);
  const rootReal = await realpath(root);
  try {
    const r = await walkKustomization(
      { rootReal, meter: new BudgetMeter(resolveBudgets(budgets)) },
      join(rootReal, dir),
    );
    return { ok: true, inputs: r.inputs.map((f) => f.slice(rootReal.length + 1)), loads: r.loads };
  } catch (e) {
    if (e instanceof RenderFailure) return { ok: false, problem: e.problem };
    throw e;
  }
}

const K = 'clusters/dev/kustomization.yaml';
const base = {
  'apps/web/kustomization.yaml': 'resources:\n  - cm.yaml\n',
  'apps/web/cm.yaml': configMap('web'),
};

/** One kustomization line per field that names a path; `X` is replaced by the value under test. */
const FIELDS: Record<string, string> = {
  resources: 'resources:\n  - X\n',
  bases: 'bases:\n  - X\n',
  components: 'components:\n  - X\n',
  crds: 'crds:\n  - X\n',
  configurations: 'configurations:\n  - X\n',
  generators: 'generators:\n  - X\n',
  transformers: 'transformers:\n  - X\n',
  validators: 'validators:\n  - X\n',
  patchesStrategicMerge: 'patchesStrategicMerge:\n  - X\n',
  'patches[].path': 'patches:\n  - path: X\n',
  'patchesJson6902[].path': 'patchesJson6902:\n  - path: X\n',
  'replacements[].path': 'replacements:\n  - path: X\n',
  'openapi.path': 'openapi:\n  path: X\n',
  'configMapGenerator[].files': 'configMapGenerator:\n  - name: c\n    files:\n      - X\n',
  'configMapGenerator[].envs': 'configMapGenerator:\n  - name: c\n    envs:\n      - X\n',
  'secretGenerator[].files': 'secretGenerator:\n  - name: s\n    files:\n      - key=X\n',
};

const REMOTE_FORMS = [
  'https://github.com/org/repo//base?ref=v1',
  'git::https://example.com/org/repo',
  'git::ssh://git@example.com/org/repo',
  'git::file:///srv/other-repo',
  'github.com:org/repo',
  'git@github.com:org/repo',
  'user@host:path',
  'github.com/org/repo/base',
  '../../apps/web?ref=main',
];

describe('walkKustomization refuses every remote form in every field, with file and line', () => {
  for (const [field, template] of Object.entries(FIELDS)) {
    it(field, async () => {
      for (const form of REMOTE_FORMS) {
        const text = `namespace: x\n${template.replace('X', form)}`;
        const r = await walk({ ...base, [K]: text });
        expect(r.ok ? r : r.problem, `${field}: ${form}`).toMatchObject({
          code: 'render.remote-reference',
          file: K,
          line: text.split('\n').findIndex((l) => l.includes(form)) + 1,
        });
      }
    });
  }
});

describe('walkKustomization refuses paths that leave the tree', () => {
  it('absolute paths, in every field', async () => {
    for (const [field, template] of Object.entries(FIELDS)) {
      const r = await walk({ ...base, [K]: template.replace('X', '/etc/passwd') });
      expect(r.ok ? r : r.problem, field).toMatchObject({
        code: 'render.absolute-path',
        file: K,
        line: expect.any(Number),
      });
    }
  });

  it('.. past the root, in every field', async () => {
    for (const [field, template] of Object.entries(FIELDS)) {
      const r = await walk({ ...base, [K]: template.replace('X', '../../../outside.yaml') });
      expect(r.ok ? r : r.problem, field).toMatchObject({ code: 'render.path-traversal', file: K });
    }
  });

  it('symlinks whose target is outside, for files and for directories', async () => {
    const file = await walk({
      ...base,
      'clusters/dev/leak.yaml': { link: '/etc/hostname' },
      [K]: 'resources:\n  - leak.yaml\n',
    });
    expect(file.ok ? file : file.problem).toMatchObject({ code: 'render.path-traversal', file: K, line: 2 });
    const dir = await walk({
      ...base,
      'clusters/dev/etc': { link: '/etc' },
      [K]: 'configMapGenerator:\n  - name: c\n    files:\n      - etc/passwd\n',
    });
    expect(dir.ok ? dir : dir.problem).toMatchObject({ code: 'render.path-traversal', file: K, line: 4 });
    // A link to the repo's own parent directory, reached through a base.
    const up = await walk({
      ...base,
      'apps/web/up': { link: '../../..' },
      [K]: 'resources:\n  - ../../apps/web/up\n',
    });
    expect(up.ok ? up : up.problem).toMatchObject({ code: 'render.path-traversal', file: K, line: 2 });
  });

  it('symlink loops and kustomization cycles are refused, not followed', async () => {
    const loop = await walk({
      ...base,
      'clusters/dev/a': { link: 'b' },
      'clusters/dev/b': { link: 'a' },
      [K]: 'resources:\n  - a\n',
    });
    expect(loop.ok ? loop : loop.problem).toMatchObject({ code: 'render.symlink-cycle', file: K, line: 2 });
    const self = await walk({
      'clusters/dev/self': { link: '.' },
      [K]: 'resources:\n  - self\n',
    });
    expect(self.ok ? self : self.problem).toMatchObject({
      code: 'render.kustomization-cycle',
      file: K,
      line: 2,
    });
    const mutual = await walk({
      'apps/a/kustomization.yaml': 'resources:\n  - ../b\n',
      'apps/b/kustomization.yaml': 'resources:\n  - ../a\n',
      [K]: 'resources:\n  - ../../apps/a\n',
    });
    expect(mutual.ok ? mutual : mutual.problem).toMatchObject({
      code: 'render.kustomization-cycle',
      file: 'apps/b/kustomization.yaml',
      line: 2,
    });
  });
});

describe('walkKustomization refuses plugins and Helm', () => {
  it('helmCharts, helmGlobals and helmChartInflationGenerator, at their line', async () => {
    for (const field of ['helmCharts', 'helmGlobals', 'helmChartInflationGenerator']) {
      const r = await walk({ ...base, [K]: `resources:\n  - ../../apps/web\n${field}:\n  - name: x\n` });
      expect(r.ok ? r : r.problem, field).toMatchObject({ code: 'render.helm-refused', file: K, line: 3 });
    }
  });

  it('an external (exec/Go) plugin config in generators, transformers or validators, at its line in the config file', async () => {
    for (const field of ['generators', 'transformers', 'validators']) {
      const r = await walk({
        ...base,
        'clusters/dev/plugin.yaml':
          'apiVersion: someteam.example.com/v1\nkind: ChartInflator\nmetadata:\n  name: x\n',
        [K]: `${field}:\n  - plugin.yaml\n`,
      });
      expect(r.ok ? r : r.problem, field).toMatchObject({
        code: 'render.plugin',
        file: 'clusters/dev/plugin.yaml',
        line: 1,
      });
    }
  });

  it('a KRM function (config.kubernetes.io/function), even under apiVersion builtin, in a second document', async () => {
    const r = await walk({
      ...base,
      'clusters/dev/fn.yaml': `apiVersion: builtin\nkind: LabelTransformer\nmetadata:\n  name: ok\nlabels:\n  a: b\nfieldSpecs:\n  - path: metadata/labels\n    create: true\n---\napiVersion: builtin\nkind: LabelTransformer\nmetadata:\n  name: fn\n  annotations:\n    config.kubernetes.io/function: |\n      exec:\n        path: ./evil.sh\n`,
      [K]: 'transformers:\n  - fn.yaml\n',
    });
    expect(r.ok ? r : r.problem).toMatchObject({
      code: 'render.plugin',
      file: 'clusters/dev/fn.yaml',
      line: 11,
    });
  });

  it('a function annotation on an ordinary resource, and an inline non-builtin transformer', async () => {
    const res = await walk({
      'apps/web/kustomization.yaml': 'resources:\n  - cm.yaml\n',
      'apps/web/cm.yaml': configMap(
        'web',
        '  annotations:\n    config.kubernetes.io/function: "container: {image: evil}"\n',
      ),
      [K]: 'resources:\n  - ../../apps/web\n',
    });
    expect(res.ok ? res : res.problem).toMatchObject({
      code: 'render.plugin',
      file: 'apps/web/cm.yaml',
      line: 1,
    });
    const inline = await walk({
      ...base,
      [K]: 'resources:\n  - ../../apps/web\ntransformers:\n  - |\n    apiVersion: evil.example/v1\n    kind: Run\n',
    });
    expect(inline.ok ? inline : inline.problem).toMatchObject({ code: 'render.plugin', file: K, line: 4 });
  });

  it('a directory in transformers (a kustomization generating plugin configs) is refused', async () => {
    const r = await walk({
      ...base,
      'clusters/dev/tx/kustomization.yaml': 'resources: []\n',
      [K]: 'transformers:\n  - tx\n',
    });
    expect(r.ok ? r : r.problem).toMatchObject({ code: 'render.plugin', file: K, line: 2 });
  });

  it('an unknown kustomization field is refused rather than ignored', async () => {
    const r = await walk({ ...base, [K]: 'resources:\n  - ../../apps/web\nremoteResources:\n  - x\n' });
    expect(r.ok ? r : r.problem).toMatchObject({
      code: 'render.kustomization-unknown-field',
      file: K,
      line: 3,
    });
  });
});

describe('walkKustomization budgets', () => {
  it('refuses a 60 MiB file by its size, before reading it', async () => {
    const { root, done } = await makeTree({ [K]: 'resources:\n  - big.yaml\n' });
    cleanups.push(done);
    await writeFile(join(root, 'clusters/dev/big.yaml'), '');
    await truncate(join(root, 'clusters/dev/big.yaml'), 60 * 1024 * 1024);
    const rootReal = await realpath(root);
    const t = performance.now();
    const err = await walkKustomization(
      { rootReal, meter: new BudgetMeter(resolveBudgets({})) },
      join(rootReal, 'clusters/dev'),
    ).catch((e: RenderFailure) => e.problem);
    expect(err).toMatchObject({ code: 'render.budget-file-size', file: 'clusters/dev/big.yaml' });
    expect(performance.now() - t).toBeLessThan(5_000);
    expect(process.memoryUsage().rss).toBeLessThan(1024 * 1024 * 1024);
  });

  it('charges a diamond once per path: 2^20 loads are refused at the file budget, quickly', async () => {
    const files: Record<string, TreeEntry> = {
      'lib/l20/kustomization.yaml': 'resources:\n  - cm.yaml\n',
      'lib/l20/cm.yaml': configMap('leaf'),
    };
    for (let i = 0; i < 20; i++)
      files[`lib/l${i}/kustomization.yaml`] = `resources:\n  - ../l${i + 1}\n  - ../l${i + 1}\n`;
    files[K] = 'resources:\n  - ../../lib/l0\n';
    const t = performance.now();
    const r = await walk(files);
    expect(r.ok ? r : r.problem).toMatchObject({ code: 'render.budget-files' });
    expect(performance.now() - t).toBeLessThan(5_000);
  });

  it('refuses more input bytes than the budget', async () => {
    const files: Record<string, TreeEntry> = {
      [K]: `resources:\n${Array.from({ length: 5 }, (_, i) => `  - cm${i}.yaml\n`).join('')}`,
    };
    for (let i = 0; i < 5; i++)
      files[`clusters/dev/cm${i}.yaml`] = `${configMap(`c${i}`)}  pad: "${'x'.repeat(400)}"\n`;
    const r = await walk(files, 'clusters/dev', { maxBytes: 1500 });
    expect(r.ok ? r : r.problem).toMatchObject({ code: 'render.budget-bytes' });
  });
});

describe('walkKustomization accepts a legitimate kustomization and lists what the renderer reads', () => {
  it('every path field used locally', async () => {
    const r = await walk({
      ...base,
      'components/extra/kustomization.yaml':
        'apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources:\n  - cm.yaml\n',
      'components/extra/cm.yaml': configMap('extra'),
      'clusters/dev/crd.yaml':
        'apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: a.b.c\n',
      'clusters/dev/config.yaml': 'nameReference: []\n',
      'clusters/dev/prefix.yaml':
        'apiVersion: builtin\nkind: PrefixSuffixTransformer\nmetadata:\n  name: p\nprefix: dev-\nfieldSpecs:\n  - path: metadata/name\n',
      'clusters/dev/patch.yaml':
        'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\ndata:\n  k: patched\n',
      'clusters/dev/replace.yaml': '- source: {kind: ConfigMap, name: web}\n  targets: []\n',
      'clusters/dev/schema.json': '{}',
      'clusters/dev/app.env': 'A=1\n',
      [K]: [
        'resources:\n  - ../../apps/web',
        'components:\n  - ../../components/extra',
        'crds:\n  - crd.yaml',
        'configurations:\n  - config.yaml',
        'transformers:\n  - prefix.yaml',
        'patches:\n  - path: patch.yaml\n  - patch: |\n      - op: add\n        path: /data/x\n        value: y\n    target: {kind: ConfigMap}',
        'replacements:\n  - path: replace.yaml',
        'openapi:\n  path: schema.json',
        'configMapGenerator:\n  - name: env\n    envs:\n      - app.env',
        '',
      ].join('\n'),
    });
    expect(r.ok ? r : r.problem).toMatchObject({ ok: true });
    if (!r.ok) return;
    expect(r.inputs).toEqual(
      [
        'apps/web/cm.yaml',
        'apps/web/kustomization.yaml',
        'clusters/dev/app.env',
        'clusters/dev/config.yaml',
        'clusters/dev/crd.yaml',
        'clusters/dev/kustomization.yaml',
        'clusters/dev/patch.yaml',
        'clusters/dev/prefix.yaml',
        'clusters/dev/replace.yaml',
        'clusters/dev/schema.json',
        'components/extra/cm.yaml',
        'components/extra/kustomization.yaml',
      ].sort(),
    );
    expect(r.loads).toBe(3);
  });
});
