import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { capture } from '../test/capture-io.ts';
import { EXIT } from './exit-codes.ts';
import { runCli } from './program.ts';

const SHOP = join(import.meta.dirname, '../../examples/shop-config');

const trees: string[] = [];
afterEach(async () => {
  for (const t of trees.splice(0)) await rm(t, { recursive: true, force: true });
});

/** A config repo in a temp dir: path → text, or `{ link }` for a symlink. */
async function repo(files: Record<string, string | { link: string }>): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'flotilla-render-cli-'));
  trees.push(root);
  for (const [path, entry] of Object.entries(files)) {
    const full = join(root, path);
    await mkdir(dirname(full), { recursive: true });
    if (typeof entry === 'string') await writeFile(full, entry);
    else await symlink(entry.link, full);
  }
  return root;
}

const pipeline = (clusters: Record<string, string>) =>
  `apiVersion: flotilla.io/v1
kind: Pipeline
metadata: { name: app }
spec:
  stages:
${Object.entries(clusters)
  .map(([name, path]) => `    - name: ${name}\n      clusters: [{ name: ${name}, path: ${path} }]`)
  .join('\n')}
`;

const kustomization = (resources: string[]) =>
  `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n${resources.map((r) => `  - ${r}`).join('\n')}\n`;

async function render(args: string[]) {
  const io = capture();
  const code = await runCli(['render', ...args], io, {});
  return { code, out: io.outText.join('\n'), err: io.errText.join('\n') };
}

describe('flotilla render', () => {
  it('renders the shop example’s dev cluster as the planner would: a YAML stream of its objects', async () => {
    const r = await render([SHOP, '--cluster', 'dev']);
    expect(r.err).toContain('rendered dev of pipeline shop (clusters/dev): 3 objects');
    expect(r.code).toBe(EXIT.ok);
    const docs = parseAllDocuments(r.out).map((d) => d.toJS());
    // In the order a bundle holds them (sortObjects): the Namespace before what lives in it.
    expect(docs.map((d) => `${d.kind}/${d.metadata.name}`)).toEqual([
      'Namespace/shop',
      'Service/web',
      'Deployment/web',
    ]);
    // The cluster overlay was applied, so this is the kustomization's output, not the base files.
    expect(docs.every((d) => d.metadata.annotations['flotilla.io/cluster'] === 'dev')).toBe(true);
  });

  it('-o json prints a v1 List', async () => {
    const r = await render([SHOP, '--cluster', 'prod', '-o', 'json']);
    expect(r.code).toBe(EXIT.ok);
    const list = JSON.parse(r.out);
    expect(list.kind).toBe('List');
    expect(list.items.map((o: { kind: string }) => o.kind)).toEqual(['Namespace', 'Service', 'Deployment']);
  });

  it('hides Secret values unless --show-secrets, keeping the keys', async () => {
    const dir = await repo({
      'flotilla.yaml': pipeline({ dev: 'clusters/dev' }),
      'clusters/dev/secret.yaml':
        'apiVersion: v1\nkind: Secret\nmetadata: { name: db }\ndata: { password: aHVudGVyMg== }\nstringData: { user: admin }\n',
    });
    const hidden = await render([dir, '--cluster', 'dev']);
    expect(hidden.code).toBe(EXIT.ok);
    expect(hidden.out).not.toContain('aHVudGVyMg==');
    expect(hidden.out).not.toContain('admin');
    const secret = parseAllDocuments(hidden.out)[0]?.toJS();
    expect(Object.keys(secret.data)).toEqual(['password']);
    expect(Object.keys(secret.stringData)).toEqual(['user']);
    expect(hidden.err).toContain('2 Secret value(s) hidden; --show-secrets prints them');
    const shown = await render([dir, '--cluster', 'dev', '--show-secrets']);
    expect(parseAllDocuments(shown.out)[0]?.toJS().data.password).toBe('aHVudGVyMg==');
  });

  it('refuses a remote base with exit 1, naming the kustomization file and line', async () => {
    const dir = await repo({
      'flotilla.yaml': pipeline({ dev: 'clusters/dev' }),
      'clusters/dev/kustomization.yaml': kustomization([
        'cm.yaml',
        'https://github.com/evil/repo//base?ref=main',
      ]),
      'clusters/dev/cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: a }\n',
    });
    const r = await render([dir, '--cluster', 'dev']);
    expect(r.code).toBe(EXIT.failure);
    expect(r.out).toBe('');
    expect(r.err).toMatch(/clusters\/dev\/kustomization\.yaml:5(:\d+)? render\.remote-reference: /);
  });

  it('refuses a symlink out of the repo with exit 1, naming the link', async () => {
    const outside = await repo({ 'secret.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: x }\n' });
    const dir = await repo({
      'flotilla.yaml': pipeline({ dev: 'clusters/dev' }),
      'clusters/dev/escape.yaml': { link: join(outside, 'secret.yaml') },
    });
    const r = await render([dir, '--cluster', 'dev']);
    expect(r.code).toBe(EXIT.failure);
    expect(r.out).toBe('');
    expect(r.err).toContain('clusters/dev/escape.yaml');
    expect(r.err).toContain('render.path-traversal');
  });

  it('an unknown cluster or pipeline is a usage error (2) listing what exists', async () => {
    const cluster = await render([SHOP, '--cluster', 'staging']);
    expect(cluster.code).toBe(EXIT.usage);
    expect(cluster.err).toContain('no cluster staging');
    expect(cluster.err).toContain('clusters: dev, test, uat, prod');
    const io = capture();
    expect(await runCli(['--pipeline', 'billing', 'render', SHOP, '--cluster', 'dev'], io, {})).toBe(
      EXIT.usage,
    );
    expect(io.errText.join('\n')).toContain('no pipeline billing; pipelines: shop');
    const missing = await render([join(SHOP, 'apps'), '--cluster', 'dev']);
    expect(missing.code).toBe(EXIT.usage);
    expect(missing.err).toContain('neither flotilla.yaml nor pipelines/*.yaml');
  });

  it('a refused pipeline file is a refusal (1) with its file and line', async () => {
    const dir = await repo({
      'flotilla.yaml':
        'apiVersion: flotilla.io/v1\nkind: Pipeline\nmetadata: { name: app }\nspec: { stages: 3 }\n',
    });
    const r = await render([dir, '--cluster', 'dev']);
    expect(r.code).toBe(EXIT.failure);
    expect(r.err).toMatch(/flotilla\.yaml:\d+:\d+ /);
  });
});
