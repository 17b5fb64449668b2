import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PlanCreated, RenderFailed } from '@flotilla/events';
import type { PlannerHandle } from '@flotilla/planner';
import { GitWorkdir, waitFor } from '@flotilla/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness, TOKENS } from '../../services/planner/test/harness.ts';

// Red team: a writer of the config repo attacks the real planner (real NATS, real git server,
// real kubectl in the sandbox). Each commit is pushed on top of the same good base and announced
// as the git-watcher would; each must end in a RenderFailed with the exact refusal code and no
// plan for that revision. A local HTTP server stands in for "the network": it must see nothing.

type D = Record<string, unknown>;
type Entry = string | { link: string } | { exec: string };

let h: Harness;
let planner: PlannerHandle;
let work: GitWorkdir;
let base: string;
let server: Server;
let requests = 0;
let url = '';
const markerDir = await mkdtemp(join(tmpdir(), 'redteam-'));
const marker = join(markerDir, 'pwned');

beforeAll(async () => {
  server = createServer((_req, res) => {
    requests++;
    res.end('apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fetched\n');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  h = await createHarness();
  // A wall-time budget that a legitimate render meets easily and an exploding one does not.
  planner = await h.start({ render: { timeoutMs: 20_000 } });
  for (const c of ['dev', 'test', 'uat', 'prod']) await h.events.wait(PlanCreated, (d: D) => d.cluster === c);
  work = await GitWorkdir.clone(h.git.fileUrl(h.repoName));
  base = await work.head();
});

afterAll(async () => {
  await work?.remove();
  await h?.stop();
  server?.close();
  await rm(markerDir, { recursive: true, force: true });
});

/** Pushes base + `files` (as a force-push, so attacks do not stack) and announces it. */
async function push(files: Record<string, Entry>, remove: string[] = []): Promise<string> {
  await work.resetHard(base);
  for (const p of remove) await work.removeFile(p);
  for (const [p, e] of Object.entries(files)) {
    const full = join(work.dir, p);
    await mkdir(dirname(full), { recursive: true });
    if (typeof e === 'string') await work.writeFile(p, e);
    else if ('link' in e) await symlink(e.link, full);
    else {
      await work.writeFile(p, e.exec);
      await chmod(full, 0o755);
    }
  }
  const sha = await work.commit(`attack ${Object.keys(files).join(', ')}`);
  await work.forcePush();
  await h.commitDetected(sha);
  return sha;
}

/** The refusal for `cluster` at `sha`; asserts no plan was published for it at that revision. */
async function refused(sha: string, cluster: string, code: string): Promise<D> {
  const e = await h.events.wait<D>(RenderFailed, (d) => d.revision === sha && d.cluster === cluster);
  expect(e.data, JSON.stringify(e.data)).toMatchObject({ code });
  await renderedThrough(sha);
  // Other clusters may be re-planned at this revision (it restores the base); this one is not.
  expect(h.events.of(PlanCreated, (d: D) => d.revision === sha && d.cluster === cluster)).toEqual([]);
  const status = await h.api(planner, 'GET', '/api/v1/stages', TOKENS.bob);
  const clusters = (
    status.body.stages as Array<{
      clusters: Array<{ name: string; desired: D | null; lastRenderError: D | null }>;
    }>
  ).flatMap((s) => s.clusters);
  const c = clusters.find((x) => x.name === cluster);
  expect(c?.desired?.revision).not.toBe(sha);
  expect(c?.lastRenderError).toMatchObject({ revision: sha, code });
  return e.data;
}

/** Waits until the planner recorded `sha` as rendered (its publish step is over). */
async function renderedThrough(sha: string): Promise<void> {
  await waitFor(
    `the planner to finish rendering ${sha}`,
    async () =>
      (await h.api(planner, 'GET', '/api/v1/stages', TOKENS.bob)).body.revision === sha ? true : undefined,
    { timeoutMs: 60_000 },
  );
}

const K = 'clusters/dev/kustomization.yaml';
const KEEP = 'resources:\n  - ../../apps/web\npatches:\n  - path: web-image.yaml\n';

describe('a config-repo writer attacks the planner', () => {
  // Every field that names a path, and every remote form kustomize accepts.
  const forms = () => [
    'git::https://github.com/org/repo//base?ref=v1',
    'git::ssh://git@github.com/org/repo',
    `git::file://${markerDir}`,
    'github.com:org/repo',
    'git@github.com:org/repo',
    'user@host:path/to/repo',
    'https://github.com/org/repo//base?ref=v1',
    `${url}/cm.yaml`,
    'github.com/org/repo/base',
  ];
  const fields: Record<string, (v: string) => string> = {
    resources: (v) => `resources:\n  - ../../apps/web\n  - ${v}\n`,
    bases: (v) => `${KEEP}bases:\n  - ${v}\n`,
    components: (v) => `${KEEP}components:\n  - ${v}\n`,
    crds: (v) => `${KEEP}crds:\n  - ${v}\n`,
    configurations: (v) => `${KEEP}configurations:\n  - ${v}\n`,
    generators: (v) => `${KEEP}generators:\n  - ${v}\n`,
    transformers: (v) => `${KEEP}transformers:\n  - ${v}\n`,
    validators: (v) => `${KEEP}validators:\n  - ${v}\n`,
    patchesStrategicMerge: (v) => `${KEEP}patchesStrategicMerge:\n  - ${v}\n`,
    'patches[].path': (v) => `resources:\n  - ../../apps/web\npatches:\n  - path: ${v}\n`,
    'patchesJson6902[].path': (v) =>
      `${KEEP}patchesJson6902:\n  - path: ${v}\n    target: {kind: Deployment, name: web}\n`,
    'replacements[].path': (v) => `${KEEP}replacements:\n  - path: ${v}\n`,
    'openapi.path': (v) => `${KEEP}openapi:\n  path: ${v}\n`,
    'configMapGenerator[].files': (v) =>
      `${KEEP}configMapGenerator:\n  - name: c\n    files:\n      - ${v}\n`,
    'configMapGenerator[].envs': (v) => `${KEEP}configMapGenerator:\n  - name: c\n    envs:\n      - ${v}\n`,
    'secretGenerator[].files': (v) => `${KEEP}secretGenerator:\n  - name: s\n    files:\n      - ${v}\n`,
  };

  it('every remote form kustomize understands, in every field: render.remote-reference with file and line', async () => {
    // The whole cross product, against the real planner. Four attacks per commit, one in each
    // cluster's kustomization: each cluster renders (and is refused) on its own.
    const pairs = Object.entries(fields).flatMap(([field, make]) =>
      forms().map((form) => ({ field, form, text: make(form) })),
    );
    const clusters = ['dev', 'test', 'uat', 'prod'];
    for (let i = 0; i < pairs.length; i += clusters.length) {
      const batch = pairs
        .slice(i, i + clusters.length)
        .map((p, j) => ({ ...p, cluster: clusters[j] as string }));
      const sha = await push(
        Object.fromEntries(batch.map((b) => [`clusters/${b.cluster}/kustomization.yaml`, b.text])),
      );
      for (const b of batch) {
        const d = await refused(sha, b.cluster, 'render.remote-reference');
        expect(d, `${b.field} ← ${b.form}`).toMatchObject({
          file: `clusters/${b.cluster}/kustomization.yaml`,
          line: b.text.split('\n').findIndex((l) => l.includes(b.form)) + 1,
        });
      }
    }
    expect(pairs.length).toBe(Object.keys(fields).length * forms().length);
  }, 900_000);

  it('committed dotfiles (.gitconfig, .ssh/config, .kube/kuberc, .config/kustomize/plugin) change nothing', async () => {
    const dotfiles: Record<string, Entry> = {
      '.gitconfig': `[core]\n\tsshCommand = touch ${marker}\n\tfsmonitor = touch ${marker}\n[url "git@evil:"]\n\tinsteadOf = https://\n`,
      '.ssh/config': `Host *\n  ProxyCommand touch ${marker}\n`,
      '.kube/kuberc': `apiVersion: kubectl.config.k8s.io/v1beta1\nkind: Preference\noverrides:\n  - command: kustomize\n    flags:\n      - name: enable-alpha-plugins\n        default: "true"\n`,
      '.config/kustomize/plugin/someteam.example.com/v1/chartinflator/ChartInflator': {
        exec: `#!/bin/sh\ntouch ${marker}\n`,
      },
      'clusters/dev/inflator.yaml':
        'apiVersion: someteam.example.com/v1\nkind: ChartInflator\nmetadata:\n  name: x\n',
    };
    const remote = await push({
      ...dotfiles,
      [K]: `resources:\n  - ../../apps/web\n  - git@github.com:org/repo\n`,
    });
    await refused(remote, 'dev', 'render.remote-reference');
    const plugin = await push({ ...dotfiles, [K]: `${KEEP}generators:\n  - inflator.yaml\n` });
    expect(await refused(plugin, 'dev', 'render.plugin')).toMatchObject({
      file: 'clusters/dev/inflator.yaml',
      line: 1,
    });
    const fn = await push({
      ...dotfiles,
      'clusters/dev/fn.yaml': `apiVersion: builtin\nkind: LabelTransformer\nmetadata:\n  name: fn\n  annotations:\n    config.kubernetes.io/function: |\n      exec:\n        path: ../../.config/kustomize/plugin/someteam.example.com/v1/chartinflator/ChartInflator\nlabels: {a: b}\nfieldSpecs: [{path: metadata/labels, create: true}]\n`,
      [K]: `${KEEP}transformers:\n  - fn.yaml\n`,
    });
    await refused(fn, 'dev', 'render.plugin');
    const helm = await push({ [K]: `${KEEP}helmCharts:\n  - name: evil\n    repo: ${url}\n` });
    await refused(helm, 'dev', 'render.helm-refused');
    // The same dotfiles beside a legitimate change: rendered as usual, and they did nothing.
    const ok = await push({ ...dotfiles, [K]: `${KEEP}commonLabels:\n  redteam: dotfiles\n` });
    await h.events.wait(PlanCreated, (d: D) => d.revision === ok && d.cluster === 'dev');
    expect(existsSync(marker)).toBe(false);
  }, 300_000);

  it('paths and symlinks that leave the repo: absolute, .., a link to /etc', async () => {
    const abs = await push({ [K]: `resources:\n  - ../../apps/web\n  - /etc/passwd\n` });
    await refused(abs, 'dev', 'render.absolute-path');
    const up = await push({ [K]: `resources:\n  - ../../../../../../etc\n` });
    await refused(up, 'dev', 'render.path-traversal');
    const link = await push({
      'clusters/dev/passwd.yaml': { link: '/etc/passwd' },
      [K]: `${KEEP}configMapGenerator:\n  - name: c\n    files:\n      - passwd.yaml\n`,
    });
    await refused(link, 'dev', 'render.path-traversal');
  });

  it('two symlinks to . in a plain cluster directory: refused at once, not an exploding walk', async () => {
    const sha = await push(
      {
        'clusters/test/cm.yaml':
          'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n  namespace: shop\n',
        'clusters/test/l1': { link: '.' },
        'clusters/test/l2': { link: '.' },
      },
      ['clusters/test'],
    );
    await refused(sha, 'test', 'render.symlink-cycle');
  });

  it('a 9 MiB file is refused by its size before it is parsed', async () => {
    const one = await push({
      'clusters/dev/big.yaml': `${'# padding padding padding padding padding padding padding\n'.repeat(160_000)}`,
      [K]: 'resources:\n  - ../../apps/web\n  - big.yaml\npatches:\n  - path: web-image.yaml\n',
    });
    expect(await refused(one, 'dev', 'render.budget-file-size')).toMatchObject({
      file: 'clusters/dev/big.yaml',
    });
  });

  it('a diamond of kustomizations: 2^15 loads refused by the file budget; 2^17 under a larger one stopped at the time budget', async () => {
    const diamond = (depth: number): Record<string, Entry> => {
      const files: Record<string, Entry> = { [`lib/d${depth}/kustomization.yaml`]: 'resources: []\n' };
      for (let i = 0; i < depth; i++)
        files[`lib/d${i}/kustomization.yaml`] = `resources:\n  - ../d${i + 1}\n  - ../d${i + 1}\n`;
      files[K] = `${KEEP.replace('resources:\n', 'resources:\n  - ../../lib/d0\n')}`;
      return files;
    };
    const wide = await push(diamond(15));
    await refused(wide, 'dev', 'render.budget-files');

    // The time budget, shown without racing the machine's speed: a planner whose file budget
    // admits the diamond and whose wall-time budget (3 s) is a small fraction of what loading
    // 2^17 kustomizations costs anywhere. Base renders finish well inside it.
    await planner.stop();
    planner = await h.start({ render: { timeoutMs: 3_000, maxFiles: 1_000_000 } });
    const slow = await push(diamond(17));
    await refused(slow, 'dev', 'render.budget-time');
  }, 300_000);

  it('the local HTTP server received no request in the whole suite', () => {
    expect(requests).toBe(0);
  });
});
