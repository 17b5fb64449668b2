import { existsSync } from 'node:fs';
import { cp, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  detectIsolation,
  kustomizeArgs,
  renderCluster,
  resolveKustomizeRenderer,
  runSandboxed,
} from '../src/index.ts';
import { baitServer, fixtureCopies } from './hostile-setup.ts';

const copy = fixtureCopies('render-cluster');
const bait = baitServer();

describe('renderCluster (sandboxed flotilla-kustomize or kubectl kustomize, and plain YAML)', () => {
  it('renders the shop overlay in the sandbox: namespace, deployment with the pinned image, service', async () => {
    const r = await renderCluster(await copy(), 'clusters/dev');
    expect(r.ok ? r.mode : r.problem).toBe('kustomize');
    if (!r.ok) return;
    expect(r.objects.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual([
      'Deployment/web',
      'Namespace/shop',
      'Service/web',
    ]);
    expect(JSON.stringify(r.objects)).toContain('localhost:5000/shop/web:1.4.0@sha256:');
    expect(r.stats.isolation).toBe((await detectIsolation()).isolation);
    expect(r.stats.rendererPeakRssBytes).toBeGreaterThanOrEqual(0);
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

  it('reports a broken kustomization and broken YAML in a base with file and line, before kubectl runs', async () => {
    const dir = await copy();
    await writeFile(
      join(dir, 'clusters/dev/kustomization.yaml'),
      'resources:\n  - ../../apps/web\npatches: [\n',
    );
    const r = await renderCluster(dir, 'clusters/dev');
    expect(!r.ok && r.problem.file).toBe('clusters/dev/kustomization.yaml');
    expect(!r.ok && r.problem.line).toBeGreaterThanOrEqual(3);
    expect(r.stats.isolation).toBeUndefined(); // the renderer never started
    const dir2 = await copy();
    await writeFile(
      join(dir2, 'apps/web/service.yaml'),
      'apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n   bad: 1\n',
    );
    const b = await renderCluster(dir2, 'clusters/dev');
    expect(!b.ok && b.problem.file).toBe('apps/web/service.yaml');
  });

  it('refuses remote references, paths leaving the repo and symlinks pointing out', async () => {
    const dir = await copy();
    await writeFile(
      join(dir, 'clusters/dev/kustomization.yaml'),
      'resources:\n  - https://github.com/x/y//base?ref=v1\n',
    );
    expect(await renderCluster(dir, 'clusters/dev')).toMatchObject({
      ok: false,
      problem: { code: 'render.remote-reference', line: 2 },
    });
    await writeFile(join(dir, 'clusters/dev/kustomization.yaml'), 'resources:\n  - ../../../../etc\n');
    expect(await renderCluster(dir, 'clusters/dev')).toMatchObject({
      ok: false,
      problem: { code: 'render.path-traversal', line: 2 },
    });
    expect(await renderCluster(dir, '../etc')).toMatchObject({
      ok: false,
      problem: { code: 'render.path-traversal' },
    });
    await rm(join(dir, 'clusters/test/kustomization.yaml'));
    await symlink('/etc/hostname', join(dir, 'clusters/test/leak.yaml'));
    expect(await renderCluster(dir, 'clusters/test')).toMatchObject({
      ok: false,
      problem: { code: 'render.path-traversal', file: 'clusters/test/leak.yaml' },
    });
  });

  it('names the budget a render exceeds: objects, output, memory, wall time', async () => {
    const dir = await copy();
    expect(await renderCluster(dir, 'clusters/dev', { budgets: { maxObjects: 2 } })).toMatchObject({
      ok: false,
      problem: { code: 'render.budget-objects', file: 'clusters/dev/kustomization.yaml' },
    });
    expect(await renderCluster(dir, 'clusters/dev', { budgets: { maxOutputBytes: 200 } })).toMatchObject({
      ok: false,
      problem: { code: 'render.budget-output' },
    });
    expect(
      await renderCluster(dir, 'clusters/dev', { budgets: { maxMemoryBytes: 4 * 1024 * 1024 } }),
    ).toMatchObject({
      ok: false,
      problem: { code: 'render.budget-memory' },
    });
    expect(await renderCluster(dir, 'clusters/dev', { budgets: { timeoutMs: 30 } })).toMatchObject({
      ok: false,
      problem: { code: 'render.budget-time' },
    });
  });
});

describe('the sandbox holds even when a pre-check misses something', () => {
  // These run kubectl and flotilla-kustomize directly in the sandbox on a kustomization the walker would refuse, to show
  // that the refusal is not the only line: the renderer itself cannot fetch or run anything.
  it('a git remote with a committed .gitconfig runs nothing; an HTTP resource on 127.0.0.1 is never fetched', async () => {
    const dir = await copy();
    const marker = join(dir, 'pwned');
    await writeFile(
      join(dir, '.gitconfig'),
      `[core]\n\tsshCommand = touch ${marker}\n\tfsmonitor = touch ${marker}\n`,
    );
    await mkdir(join(dir, '.kube'), { recursive: true });
    await writeFile(
      join(dir, '.kube/kuberc'),
      'apiVersion: kubectl.config.k8s.io/v1beta1\nkind: Preference\n',
    );
    for (const resource of [
      'git::ssh://git@github.com/org/repo',
      'git@github.com:org/repo',
      `git::file://${dir}`,
      `${bait.url}/cm.yaml`,
      'https://github.com/org/repo//base?ref=v1',
    ]) {
      await writeFile(join(dir, 'clusters/dev/kustomization.yaml'), `resources:\n  - ${resource}\n`);
      for (const renderer of [
        await resolveKustomizeRenderer('kubectl'),
        await resolveKustomizeRenderer('auto'),
      ]) {
        const r = await runSandboxed(renderer.path, kustomizeArgs(renderer, dir, join(dir, 'clusters/dev')), {
          timeoutMs: 60_000,
          maxMemoryBytes: 512 * 1024 * 1024,
          maxOutputBytes: 1024 * 1024,
        });
        expect(r.code, `${renderer.kind}: ${resource}`).not.toBe(0);
        expect(r.stdout).toBe('');
      }
    }
    expect(existsSync(marker)).toBe(false);
    expect(bait.requests).toBe(0);
  });
});
