import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { type KustomizeRenderer, renderCluster, resolveKustomizeRenderer } from '../src/index.ts';
import { baitServer, fixtureCopies } from './hostile-setup.ts';

// flotilla-kustomize (deploy/flotilla-kustomize, built by scripts/setup.sh) is what the planner
// runs in the render sandbox when it is present. These tests hold it to kubectl's output and
// then attack it *outside* the sandbox, with this process's full environment (git on PATH, the
// network reachable): its own restrictions must refuse what the sandbox would otherwise stop.

const copy = fixtureCopies('flotilla-kustomize');
const bait = baitServer();
let binary: KustomizeRenderer;
beforeAll(async () => {
  binary = await resolveKustomizeRenderer('auto');
});

/** Runs the binary directly, unsandboxed, with this process's environment. */
function unsandboxed(root: string, dir: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(binary.path, [root, dir], { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stdout, stderr });
    });
  });
}

describe('flotilla-kustomize', () => {
  it('is what `auto` picks once setup has built it, and renders each cluster exactly as kubectl kustomize does', async () => {
    expect(binary.kind).toBe('flotilla-kustomize');
    const dir = await copy();
    for (const cluster of ['dev', 'test', 'uat', 'prod']) {
      const ours = await renderCluster(dir, `clusters/${cluster}`);
      const kubectl = await renderCluster(dir, `clusters/${cluster}`, { kustomize: 'kubectl' });
      expect(ours.ok && ours.stats.renderer, cluster).toBe('flotilla-kustomize');
      expect(kubectl.ok && kubectl.stats.renderer, cluster).toBe('kubectl');
      expect(ours.ok && ours.objects, cluster).toEqual(kubectl.ok && kubectl.objects);
    }
  });

  it('a configured binary that does not exist is a configuration error, not a silent fallback', async () => {
    await expect(resolveKustomizeRenderer('/nonexistent/flotilla-kustomize')).rejects.toThrow(/not found/);
  });

  it('outside the sandbox: remote bases and HTTP resources fetch nothing and run no git, even with a committed .gitconfig', async () => {
    const dir = await copy();
    const marker = join(dir, 'pwned');
    await writeFile(
      join(dir, '.gitconfig'),
      `[core]\n\tsshCommand = touch ${marker}\n\tfsmonitor = touch ${marker}\n`,
    );
    for (const resource of [
      'git::ssh://git@github.com/org/repo',
      'git@github.com:org/repo',
      `git::file://${dir}`,
      `${bait.url}/cm.yaml`,
      'https://github.com/org/repo//base?ref=v1',
    ]) {
      await writeFile(join(dir, 'clusters/dev/kustomization.yaml'), `resources:\n  - ${resource}\n`);
      const r = await unsandboxed(dir, join(dir, 'clusters/dev'));
      expect(r.code, resource).not.toBe(0);
      expect(r.stdout, resource).toBe('');
    }
    expect(existsSync(marker)).toBe(false);
    expect(bait.requests).toBe(0);
  });

  it('outside the sandbox: exec and container functions, external plugins and Helm are refused and run nothing', async () => {
    const dir = await copy();
    const marker = join(dir, 'pwned');
    const script = join(dir, 'fn.sh');
    await writeFile(script, `#!/bin/sh\ntouch ${marker}\ncat\n`, { mode: 0o755 });
    await mkdir(join(dir, 'clusters/dev/charts/evil/templates'), { recursive: true });
    await writeFile(
      join(dir, 'clusters/dev/charts/evil/Chart.yaml'),
      'apiVersion: v2\nname: evil\nversion: 1.0.0\n',
    );
    const cases: Record<string, string> = {
      exec: `transformers:\n  - fn.yaml\n`,
      container: `transformers:\n  - container.yaml\n`,
      plugin: `generators:\n  - plugin.yaml\n`,
      helm: `helmCharts:\n  - name: evil\n    releaseName: evil\n  - name: remote\n    repo: ${bait.url}\nhelmGlobals:\n  chartHome: charts\n`,
    };
    await writeFile(
      join(dir, 'clusters/dev/fn.yaml'),
      `apiVersion: someteam.example.com/v1\nkind: Fn\nmetadata:\n  name: fn\n  annotations:\n    config.kubernetes.io/function: |\n      exec:\n        path: ${script}\n`,
    );
    await writeFile(
      join(dir, 'clusters/dev/container.yaml'),
      'apiVersion: someteam.example.com/v1\nkind: Fn\nmetadata:\n  name: fn\n  annotations:\n    config.kubernetes.io/function: |\n      container:\n        image: example.com/evil:1\n',
    );
    await writeFile(
      join(dir, 'clusters/dev/plugin.yaml'),
      'apiVersion: someteam.example.com/v1\nkind: ChartInflator\nmetadata:\n  name: evil\n',
    );
    for (const [what, kustomization] of Object.entries(cases)) {
      await writeFile(
        join(dir, 'clusters/dev/kustomization.yaml'),
        `resources:\n  - ../../apps/web\n${kustomization}`,
      );
      const r = await unsandboxed(dir, join(dir, 'clusters/dev'));
      expect(r.code, `${what}: ${r.stderr}`).not.toBe(0);
      expect(r.stdout, what).toBe('');
    }
    expect(existsSync(marker)).toBe(false);
    expect(bait.requests).toBe(0);
  });

  it('outside the sandbox: nothing outside the repo is read, through .., a symlink, or a symlinked kustomization', async () => {
    const outside = await copy.scratch('flotilla-kustomize-outside');
    await writeFile(
      join(outside, 'secret.yaml'),
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: stolen\n',
    );
    await writeFile(join(outside, 'kustomization.yaml'), 'resources:\n  - secret.yaml\n');
    const dir = await copy();
    await symlink(join(outside, 'secret.yaml'), join(dir, 'clusters/dev/link.yaml'));
    await symlink(outside, join(dir, 'clusters/evil'));
    const attempts: Array<[string, string]> = [
      [
        'clusters/dev',
        'configMapGenerator:\n  - name: x\n    files:\n      - ../../../../../../etc/hostname\n',
      ],
      ['clusters/dev', 'resources:\n  - link.yaml\n'],
      ['clusters/dev', 'configMapGenerator:\n  - name: x\n    files:\n      - link.yaml\n'],
      ['clusters/dev', `resources:\n  - ${outside}\n`],
      ['clusters/evil', ''],
    ];
    for (const [cluster, kustomization] of attempts) {
      if (kustomization) await writeFile(join(dir, cluster, 'kustomization.yaml'), kustomization);
      const r = await unsandboxed(dir, join(dir, cluster));
      expect(r.code, `${cluster}: ${kustomization}`).not.toBe(0);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/^error: /);
    }
  });
});
