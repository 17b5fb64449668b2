// Many pipelines in one repo: a commit touching one pipeline.
//   npx tsx bench/planner/pipelines.ts [--pipelines 200] [--runs 5]
//
// A repo of N pipelines (pipelines/pNNN.yaml), each with four stages on the same four clusters
// (dev, test, uat, prod: every pipeline shares them) and five objects per cluster in plain YAML.
// Each run commits a change to one pipeline's four clusters and times GitCommitDetected →
// that pipeline's four PlanCreated, and checks that no other pipeline got a plan. Side by side,
// one planner each on the same repo: `renderScope: all` (every pipeline renders at every
// revision, as before issue 16) and `touched` (the default: only pipelines whose sources or
// definition the commit changed). Target (issue 16): ≤ 100 ms beyond rendering that pipeline.
import { writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { resolve } from 'node:path';
import { PlanCreated } from '@flotilla/events';
import { GitWorkdir } from '@flotilla/test-support';
import { createHarness } from '../../services/planner/test/harness.ts';
import { median } from '../stats.ts';
import { CLUSTERS, manyPipelinesRepo, objects, pipelineName } from './many-pipelines-repo.ts';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const PIPELINES = arg('pipelines', 200);
const RUNS = arg('runs', 5);
const fmt = (ms: number) => `${ms.toFixed(0)} ms`;
const name = pipelineName;
const repo = () => manyPipelinesRepo(PIPELINES);

interface Figures {
  initial: number;
  e2e: number[];
  render: number[];
  beyond: number[];
  /** Steps beyond rendering (Planner.lastRender): the fetch, dispatch → opened, the rest. */
  fetch: number[];
  open: number[];
  rest: number[];
  pipelines: number[];
  /** Runs whose revision had a pipeline render again (a transient failure, retried at the tick). */
  retried: number;
}

async function measure(scope: 'all' | 'touched'): Promise<Figures> {
  const h = await createHarness({ files: repo() });
  const t0 = performance.now();
  const planner = await h.start({ evaluateIntervalMs: 60_000, renderScope: scope });
  const initialPlans = PIPELINES * CLUSTERS.length;
  while (h.events.of(PlanCreated).length < initialPlans) await new Promise((r) => setTimeout(r, 50));
  const f: Figures = {
    initial: performance.now() - t0,
    e2e: [],
    render: [],
    beyond: [],
    fetch: [],
    open: [],
    rest: [],
    pipelines: [],
    retried: 0,
  };
  const work = await GitWorkdir.clone(h.git.fileUrl(h.repoName));
  try {
    for (let r = 0; r < RUNS; r++) {
      const p = name((r * 37) % PIPELINES);
      await work.pull();
      for (const c of CLUSTERS)
        await work.writeFile(`apps/${p}/${c}/objects.yaml`, objects(p, c, `run-${r}`));
      const sha = await work.commit(`bench: change ${p}`);
      await work.push();
      const before = h.events.of(PlanCreated).length;
      const t = performance.now();
      await h.commitDetected(
        sha,
        CLUSTERS.map((c) => `apps/${p}/${c}/objects.yaml`),
      );
      for (const c of CLUSTERS)
        await h.events.wait(
          PlanCreated,
          (d: { pipeline?: string; cluster?: string; revision?: string }) =>
            d.pipeline === p && d.cluster === c && d.revision === sha,
          120_000,
        );
      const total = performance.now() - t;
      const deadline = Date.now() + 300_000;
      while (planner.planner.lastRender?.revision !== sha) {
        if (Date.now() > deadline) throw new Error(`${sha} never finished rendering`);
        await new Promise((r) => setTimeout(r, 10));
      }
      const last = planner.planner.lastRender;
      // What was published is the fact: one plan per cluster of p at sha, none for any other
      // pipeline. lastRender.plans must agree; it spans every attempt at sha (a pipeline whose
      // render failed transiently renders again at the tick), so a retry does not hide p's plans.
      const since = h.events.of(PlanCreated).slice(before);
      const own = since.filter((e) => {
        const d = e.data as { pipeline?: string; revision?: string };
        return d.pipeline === p && d.revision === sha;
      });
      const others = since.filter((e) => (e.data as { pipeline?: string }).pipeline !== p);
      if (own.length !== CLUSTERS.length || last.plans !== CLUSTERS.length || others.length > 0)
        throw new Error(
          `commit to ${p} published ${own.length} plans for it (its record says ${last.plans}) and ${others.length} of other pipelines`,
        );
      if (last.retried) {
        f.retried++;
        console.log(
          `${scope}: run ${r} (${p}): a pipeline rendered again at ${sha} after a transient failure`,
        );
      }
      f.e2e.push(total);
      f.render.push(last.renderMs);
      f.beyond.push(total - last.renderMs);
      f.fetch.push(last.fetchMs ?? 0);
      f.open.push(last.openMs);
      f.rest.push(total - last.renderMs - (last.fetchMs ?? 0) - last.openMs);
      f.pipelines.push(last.pipelines);
    }
  } finally {
    await work.remove();
    await h.stop();
  }
  return f;
}

const loadBefore = loadavg()[0] ?? 0;
const touched = await measure('touched');
// `--only touched`: the touched column alone (profiling); the results file needs both.
if (process.argv.includes('--only')) {
  console.log(
    `touched: commit → plans ${fmt(median(touched.e2e))}, render ${fmt(median(touched.render))}, beyond ${fmt(median(touched.beyond))} (${touched.beyond.map(fmt).join(', ')}): fetch ${fmt(median(touched.fetch))}, open ${fmt(median(touched.open))}, rest ${fmt(median(touched.rest))}; load ${loadBefore.toFixed(1)} → ${(loadavg()[0] ?? 0).toFixed(1)}`,
  );
  process.exit(0);
}
const all = await measure('all');
const ratio = median(all.e2e) / Math.max(1, median(touched.e2e));
const report = `# Planner: many pipelines in one repo

\`npx tsx bench/planner/pipelines.ts --pipelines ${PIPELINES} --runs ${RUNS}\` — ${new Date().toISOString()}, ${process.platform}, node ${process.version}, ${cpus().length} cores; medians of ${RUNS} runs. Shared machine under load from other work (1-minute load average ${loadBefore.toFixed(1)} at the start, ${loadavg()[0]?.toFixed(1)} at the end): read orders of magnitude.

${PIPELINES} pipelines × ${CLUSTERS.length} shared clusters × 5 objects (plain YAML), one repo, one planner per column (same repo, same commits).

| measure | \`renderScope: all\` (every pipeline, as before) | \`touched\` (default) |
|---|---|---|
| start → all ${PIPELINES * CLUSTERS.length} initial plans (once) | ${fmt(all.initial)} | ${fmt(touched.initial)} |
| commit to one pipeline: GitCommitDetected → its 4 PlanCreated | ${fmt(median(all.e2e))} | ${fmt(median(touched.e2e))} |
| pipelines rendered for that revision | ${median(all.pipelines)} | ${median(touched.pipelines)} |
| render phase (walks, parse, bundle stored; slowest pipeline's) | ${fmt(median(all.render))} | ${fmt(median(touched.render))} |
| **beyond rendering** | ${fmt(median(all.beyond))} | **${fmt(median(touched.beyond))}** (${touched.beyond.map(fmt).join(', ')}) |
| — fetch of the reported commit | ${fmt(median(all.fetch))} | ${fmt(median(touched.fetch))} |
| — dispatch → opened (older?, checkout, what changed, pipeline set) | ${fmt(median(all.open))} | ${fmt(median(touched.open))} |
| — the rest (event delivery, decisions, object index and stage saves, sign, publish) | ${fmt(median(all.rest))} | ${fmt(median(touched.rest))} |

In the \`all\` column the ${PIPELINES} renders overlap the other steps, so its split does not add up.
Runs whose revision had a pipeline render again after a transient failure (its figures include the wait for the retry): ${all.retried} (\`all\`), ${touched.retried} (\`touched\`).

Commit → plans: **${ratio.toFixed(1)}× faster** with \`touched\`. Every run, in both columns: plans for the
changed pipeline's 4 clusters only, none for the other ${PIPELINES - 1} pipelines.
Before render lanes and selection (one queue, every pipeline rendered, 2026-11-30T01:56Z): 14624 ms
commit → plans on the same bench. Target (issue 16): ≤ 100 ms beyond rendering that pipeline.
Several planner instances vs one: \`bench/planner/scale-out.ts\` (planner-scale-out.md).
`;
console.log(report);
const out = resolve(import.meta.dirname, '../results/planner-pipelines.md');
await writeFile(out, report);
console.log(`written to ${out}`);
process.exit(0);
