// flotilla-kustomize vs `kubectl kustomize`, per render, on the same trees, side by side in one run.
//   npx tsx bench/planner/kustomize-renderer.ts [--runs 15] [--apps 100]
//
// Both run as the planner runs them: in the render sandbox (network namespace, scrubbed env,
// empty HOME, budgets), with the same restrictions (kubectl's as flags, flotilla-kustomize's
// compiled in). Each render is wrapped in /usr/bin/time inside the sandbox, so the CPU figure is
// the renderer's own user+system time; wall time is the sandboxed call as the planner waits for
// it. A second table times the whole renderCluster (walk, digest, renderer, safe parse) with each
// renderer. Trees:
//   shop   examples/shop-config clusters/dev: the typical per-commit render (a base, a patch, 3 objects);
//   mttp   bench/planner/mttp-repo.ts with --apps apps, one overlay listing them all.
// Order alternates every run; medians, and the ratio kubectl / flotilla-kustomize.
import { cp, mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  DEFAULT_BUDGETS,
  detectIsolation,
  type KustomizeRenderer,
  kustomizeArgs,
  renderCluster,
  resolveKustomizeRenderer,
  runSandboxed,
} from '@flotilla/render';
import { median } from '../stats.ts';
import { writeMttpRepo } from './mttp-repo.ts';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const RUNS = arg('runs', 15);
const APPS = arg('apps', 100);
const fmt = (ms: number) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`);

const fk = await resolveKustomizeRenderer('auto');
if (fk.kind !== 'flotilla-kustomize')
  throw new Error('flotilla-kustomize not built: bash deploy/flotilla-kustomize/build.sh');
const kubectl = await resolveKustomizeRenderer('kubectl');
const renderers: KustomizeRenderer[] = [kubectl, fk];

/** One sandboxed render under /usr/bin/time: wall as the planner sees it, the child's CPU. */
async function timed(
  r: KustomizeRenderer,
  root: string,
  dir: string,
): Promise<{ wall: number; cpu: number; out: string }> {
  const t = performance.now();
  const x = await runSandboxed(
    '/usr/bin/time',
    ['-f', 'FLOTILLA_CPU %U %S', r.path, ...kustomizeArgs(r, root, dir)],
    {
      ...DEFAULT_BUDGETS,
      timeoutMs: 600_000,
    },
  );
  const wall = performance.now() - t;
  const m = /FLOTILLA_CPU ([\d.]+) ([\d.]+)/.exec(x.stderr);
  if (x.code !== 0 || !m) throw new Error(`${r.kind}: ${x.stderr}`);
  return { wall, cpu: (Number(m[1]) + Number(m[2])) * 1000, out: x.stdout };
}

const work = await mkdtemp(join(tmpdir(), 'bench-kustomize-'));
const rows: string[] = [];
const e2eRows: string[] = [];
try {
  const shop = join(work, 'shop');
  await cp(resolve(import.meta.dirname, '../../examples/shop-config'), shop, { recursive: true });
  const mttp = join(work, 'mttp');
  await writeMttpRepo(mttp, APPS);
  const trees = [
    {
      name: 'shop `clusters/dev` (3 objects)',
      root: await realpath(shop),
      cluster: 'clusters/dev',
      runs: RUNS,
    },
    {
      name: `mttp \`clusters/prod\` (${APPS} apps, ${APPS * 2} objects)`,
      root: await realpath(mttp),
      cluster: 'clusters/prod',
      runs: Math.max(3, Math.ceil(RUNS / 3)),
    },
  ];
  for (const tree of trees) {
    const wall: Record<string, number[]> = { kubectl: [], 'flotilla-kustomize': [] };
    const cpu: Record<string, number[]> = { kubectl: [], 'flotilla-kustomize': [] };
    const e2e: Record<string, number[]> = { kubectl: [], 'flotilla-kustomize': [] };
    const outputs = new Map<string, string>();
    for (let i = 0; i < tree.runs; i++) {
      for (const r of i % 2 === 0 ? renderers : [...renderers].reverse()) {
        const x = await timed(r, tree.root, join(tree.root, tree.cluster));
        wall[r.kind]?.push(x.wall);
        cpu[r.kind]?.push(x.cpu);
        outputs.set(r.kind, x.out);
        const t = performance.now();
        const res = await renderCluster(tree.root, tree.cluster, {
          kustomize: r.kind === 'kubectl' ? 'kubectl' : r.path,
          budgets: { timeoutMs: 600_000 },
        });
        if (!res.ok) throw new Error(JSON.stringify(res.problem));
        e2e[r.kind]?.push(performance.now() - t);
      }
    }
    if (outputs.get('kubectl') !== outputs.get('flotilla-kustomize'))
      throw new Error(`${tree.name}: outputs differ`);
    const k = (xs: Record<string, number[]>) => median(xs.kubectl ?? []);
    const f = (xs: Record<string, number[]>) => median(xs['flotilla-kustomize'] ?? []);
    rows.push(
      `| ${tree.name} | ${tree.runs} | ${fmt(k(wall))} | ${fmt(f(wall))} | **${(k(wall) / f(wall)).toFixed(1)}×** | ${fmt(k(cpu))} | ${fmt(f(cpu))} | **${(k(cpu) / f(cpu)).toFixed(1)}×** | identical |`,
    );
    e2eRows.push(`| ${tree.name} | ${fmt(k(e2e))} | ${fmt(f(e2e))} | **${(k(e2e) / f(e2e)).toFixed(1)}×** |`);
    console.log(rows.at(-1));
  }
  const { isolation } = await detectIsolation();
  const load = (await import('node:os'))
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(', ');
  const report = `# Kustomize renderer: flotilla-kustomize vs kubectl kustomize

\`npx tsx bench/planner/kustomize-renderer.ts --runs ${RUNS} --apps ${APPS}\` — ${new Date().toISOString()}, ${process.platform}, node ${process.version}, isolation \`${isolation}\`, load average at the end ${load} on 2 cores (shared with other engineers' work: read the ratios, not absolute figures). kubectl: \`${kubectl.path}\`; flotilla-kustomize: \`${fk.path}\` (sigs.k8s.io/kustomize/api v0.21.2).

Per render, both in the render sandbox with the same restrictions, each wrapped in \`/usr/bin/time\` inside it (CPU = the renderer's user + system time); medians, order alternated every run. The outputs were compared byte for byte on every tree.

| tree | runs | wall, kubectl | wall, flotilla-kustomize | ratio | CPU, kubectl | CPU, flotilla-kustomize | ratio | output |
|---|---|---|---|---|---|---|---|---|
${rows.join('\n')}

The whole \`renderCluster\` (walk over every kustomization, input digest, renderer in the sandbox, safe parse; no cache), same runs:

| tree | kubectl | flotilla-kustomize | ratio |
|---|---|---|---|
${e2eRows.join('\n')}
`;
  console.log(report);
  const out = resolve(import.meta.dirname, '../results/kustomize-renderer.md');
  await writeFile(out, report);
  console.log(`written to ${out}`);
} finally {
  await rm(work, { recursive: true, force: true });
}
process.exit(0);
