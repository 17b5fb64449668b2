import { cp, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { renderCluster } from '../src/render.ts';

const FIXTURE = join(import.meta.dirname, 'fixtures/shop-config');
const dirs: string[] = [];
async function copy(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'planner-render-'));
  dirs.push(dir);
  await cp(FIXTURE, dir, { recursive: true });
  return dir;
}
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

describe('renderCluster (kubectl kustomize and plain YAML)', () => {
  it('renders the shop overlay: namespace, deployment with the pinned image, service', async () => {
    const r = await renderCluster(await copy(), 'clusters/dev');
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.mode).toBe('kustomize');
    expect(r.objects.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual([
      'Deployment/web',
      'Namespace/shop',
      'Service/web',
    ]);
    expect(JSON.stringify(r.objects)).toContain('localhost:5000/shop/web:1.4.0@sha256:');
  });

  it('renders a plain directory recursively and refuses duplicates across files with file and line', async () => {
    const dir = await copy();
    await rm(join(dir, 'apps/web/kustomization.yaml'));
    const plain = await renderCluster(dir, 'apps/web');
    expect(plain.ok && plain.mode).toBe('plain');
    expect(plain.ok && plain.objects.length).toBe(3);
    await mkdir(join(dir, 'apps/web/sub'));
    await cp(join(dir, 'apps/web/service.yaml'), join(dir, 'apps/web/sub/again.yaml'));
    const dup = await renderCluster(dir, 'apps/web');
    expect(!dup.ok && dup.problem).toMatchObject({
      file: 'apps/web/sub/again.yaml',
      line: 1,
      code: 'manifest.duplicate-object',
    });
  });

  it('reports a broken kustomization with file and line, before kubectl runs', async () => {
    const dir = await copy();
    await writeFile(
      join(dir, 'clusters/dev/kustomization.yaml'),
      'resources:\n  - ../../apps/web\npatches: [\n',
    );
    const r = await renderCluster(dir, 'clusters/dev');
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problem.file).toBe('clusters/dev/kustomization.yaml');
    expect(r.problem.line).toBeGreaterThanOrEqual(3);
  });

  it('reports broken YAML inside a base resource with its own file and line', async () => {
    const dir = await copy();
    await writeFile(
      join(dir, 'apps/web/service.yaml'),
      'apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n   bad: 1\n',
    );
    const r = await renderCluster(dir, 'clusters/dev');
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problem.file).toBe('apps/web/service.yaml');
    expect([4, 5]).toContain(r.problem.line);
  });

  it('refuses remote bases, paths leaving the repo and symlinks pointing out', async () => {
    const dir = await copy();
    await writeFile(
      join(dir, 'clusters/dev/kustomization.yaml'),
      'resources:\n  - https://github.com/x/y//base?ref=v1\n',
    );
    const remote = await renderCluster(dir, 'clusters/dev');
    expect(!remote.ok && remote.problem).toMatchObject({ code: 'render.remote-base', line: 2 });
    await writeFile(join(dir, 'clusters/dev/kustomization.yaml'), 'resources:\n  - ../../../../etc\n');
    const out = await renderCluster(dir, 'clusters/dev');
    expect(!out.ok && out.problem).toMatchObject({ code: 'render.path-traversal', line: 2 });
    expect(await renderCluster(dir, '../etc')).toMatchObject({
      ok: false,
      problem: { code: 'render.path-traversal' },
    });
    await rm(join(dir, 'clusters/test/kustomization.yaml'));
    await symlink('/etc/hostname', join(dir, 'clusters/test/leak.yaml'));
    const link = await renderCluster(dir, 'clusters/test');
    expect(!link.ok && link.problem).toMatchObject({
      code: 'render.path-traversal',
      file: 'clusters/test/leak.yaml',
    });
  });
});
