// Sandboxed render vs the direct `kubectl kustomize` call it replaced, side by side in one run.
//   npx tsx bench/planner/render.ts [--runs 3] [--apps 1000]
//
// On the same generated MTTP-style repo (bench/planner/mttp-repo.ts: N apps, one cluster overlay
// listing them all), each run times, in alternating order:
//   direct    `kubectl kustomize clusters/prod`, spawned as the planner used to (inherited
//             environment, no walk, no budgets), with its peak RSS sampled from /proc;
//   sandboxed `renderCluster` from @flotilla/render: the full walk over every kustomization,
//             input digest, kubectl in the sandbox (network namespace, scrubbed env, empty HOME,
//             budgets watched), safe parse of the output. No cache.
//   sandbox-only kubectl in the sandbox without the walk or the parse (the isolation's own cost);
// and, once per run, the walk alone. Target (issue 13): sandboxed / direct ≤ 1.10×.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  BudgetMeter,
  DEFAULT_BUDGETS,
  detectIsolation,
  renderCluster,
  resolveBudgets,
  runSandboxed,
  walkKustomization,
} from '@flotilla/render';
import { median } from '../stats.ts';
import { writeMttpRepo } from './mttp-repo.ts';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const RUNS = arg('runs', 3);
const APPS = arg('apps', 1000);
const MiB = 1024 * 1024;

/** The pre-sandbox call: kubectl with the caller's environment; peak RSS sampled like the sandbox does. */
function direct(dir: string): Promise<{ ms: number; peak: number; bytes: number }> {
  return new Promise((done, fail) => {
    const t = performance.now();
    const child = spawn('kubectl', ['kustomize', dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    let bytes = 0;
    let peak = 0;
    child.stdout.on('data', (c: Buffer) => {
      bytes += c.length;
    });
    const watch = setInterval(() => {
      void readFile(`/proc/${child.pid}/status`, 'utf8')
        .then((s) => {
          const kb = /^VmHWM:\s+(\d+) kB/m.exec(s)?.[1];
          if (kb) peak = Math.max(peak, Number(kb) * 1024);
        })
        .catch(() => undefined);
    }, 20);
    child.on('error', fail);
    child.on('close', (code) => {
      clearInterval(watch);
      if (code !== 0) fail(new Error(`kubectl exited ${code}`));
      else done({ ms: performance.now() - t, peak, bytes });
    });
  });
}

const root = await mkdtemp(join(tmpdir(), 'bench-render-'));
try {
  await writeMttpRepo(root, APPS);
  const { isolation } = await detectIsolation();
  const d: number[] = [];
  const s: number[] = [];
  const k: number[] = [];
  const walks: number[] = [];
  const directPeak: number[] = [];
  const childPeak: number[] = [];
  const parentGrowth: number[] = [];
  let objects = 0;
  let outBytes = 0;
  let files = 0;
  for (let r = 0; r < RUNS; r++) {
    const order =
      r % 2 === 0 ? ['sandboxed', 'sandbox-only', 'direct'] : ['direct', 'sandbox-only', 'sandboxed'];
    for (const which of order) {
      if (which === 'sandbox-only') {
        const t = performance.now();
        const x = await runSandboxed('kubectl', ['kustomize', join(root, 'clusters/prod')], {
          ...DEFAULT_BUDGETS,
          timeoutMs: 1_800_000,
        });
        if (x.code !== 0) throw new Error(x.stderr);
        k.push(performance.now() - t);
      } else if (which === 'direct') {
        const x = await direct(join(root, 'clusters/prod'));
        d.push(x.ms);
        directPeak.push(x.peak);
        outBytes = x.bytes;
      } else {
        const before = process.memoryUsage().rss;
        const t = performance.now();
        // A generous wall-time budget: this measures cost, not the default budget on a loaded machine.
        // kubectl, like the direct baseline: this measures the sandbox (kustomize-renderer.ts compares renderers).
        const res = await renderCluster(root, 'clusters/prod', {
          kustomize: 'kubectl',
          budgets: { timeoutMs: 1_800_000 },
        });
        s.push(performance.now() - t);
        if (!res.ok) throw new Error(JSON.stringify(res.problem));
        parentGrowth.push(Math.max(0, process.memoryUsage().rss - before));
        childPeak.push(res.stats.rendererPeakRssBytes ?? 0);
        objects = res.objects.length;
        files = res.stats.files;
      }
    }
    const rootReal = await realpath(root);
    const t = performance.now();
    await walkKustomization(
      { rootReal, meter: new BudgetMeter(resolveBudgets({})) },
      join(rootReal, 'clusters/prod'),
    );
    walks.push(performance.now() - t);
  }
  const ratio = median(s) / median(d);
  const report = `# Render sandbox benchmark

\`npx tsx bench/planner/render.ts --runs ${RUNS} --apps ${APPS}\` — ${new Date().toISOString()}, ${process.platform}, node ${process.version}, isolation \`${isolation}\`; medians of ${RUNS} runs, order alternated. These machines are shared and noisy (2 cores, load from other work): read the ratio, not absolute figures.

Repo: ${APPS} apps (apps/team-NN/app-NNNN, a Deployment and a Service each), one overlay listing them all: ${objects} objects, ${(outBytes / MiB).toFixed(1)} MiB of output, ${files} files walked.

| renderer | median wall time | peak RSS of kubectl |
|---|---|---|
| direct \`kubectl kustomize\` (as before: inherited env, no checks) | ${median(d).toFixed(0)} ms | ${(median(directPeak) / MiB).toFixed(0)} MiB |
| sandboxed \`renderCluster\` (walk, digest, kubectl in the sandbox, safe parse) | ${median(s).toFixed(0)} ms | ${(median(childPeak) / MiB).toFixed(0)} MiB |
| kubectl in the sandbox alone (no walk, no parse) | ${median(k).toFixed(0)} ms (${(median(k) / median(d)).toFixed(2)}×) | — |
| the walk over every kustomization alone (runs beside kubectl in \`renderCluster\`) | ${median(walks).toFixed(0)} ms | — |
| **ratio sandboxed / direct** | **${ratio.toFixed(2)}×** (target ≤ 1.10×) | |

Memory ceiling per render: the renderer child is killed above \`maxMemoryBytes\` = ${(DEFAULT_BUDGETS.maxMemoryBytes / MiB).toFixed(0)} MiB (default budget); here it peaked at ${(Math.max(...childPeak) / MiB).toFixed(0)} MiB. The planner process itself grew by at most ${(Math.max(...parentGrowth) / MiB).toFixed(0)} MiB RSS per render (parsing ${objects} objects of output, bounded by \`maxOutputBytes\` = ${(DEFAULT_BUDGETS.maxOutputBytes / MiB).toFixed(0)} MiB and \`maxObjects\` = ${DEFAULT_BUDGETS.maxObjects}).
`;
  console.log(report);
  const out = resolve(import.meta.dirname, '../results/render-sandbox.md');
  await writeFile(out, report);
  console.log(`written to ${out}`);
} finally {
  await rm(root, { recursive: true, force: true });
}
process.exit(0);
