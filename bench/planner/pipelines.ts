// Many pipelines in one repo: a commit touching one pipeline.
//   npx tsx bench/planner/pipelines.ts [--pipelines 200] [--runs 5]
//
// A repo of N pipelines (pipelines/pNNN.yaml), each with four stages on the same four clusters
// (dev, test, uat, prod: every pipeline shares them) and five objects per cluster in plain YAML.
// Each run commits a change to one pipeline's four clusters and times GitCommitDetected →
// that pipeline's four PlanCreated, checks that no other pipeline got a plan, and reports the
// planner's render phase (every pipeline of the revision is rendered; unchanged ones publish
// nothing) and the rest ("beyond rendering"). Target (issue 16): ≤ 100 ms beyond rendering.
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { PlanCreated } from '@flotilla/events';
import { GitWorkdir } from '@flotilla/test-support';
import { createHarness } from '../../services/planner/test/harness.ts';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const PIPELINES = arg('pipelines', 200);
const RUNS = arg('runs', 5);
const CLUSTERS = ['dev', 'test', 'uat', 'prod'];
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const fmt = (ms: number) => `${ms.toFixed(0)} ms`;
const name = (i: number) => `p${String(i).padStart(3, '0')}`;

const objects = (p: string, cluster: string, run: string) =>
  Array.from(
    { length: 5 },
    (_, k) =>
      `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: ${p}-${k}, namespace: ${p} }\ndata: { cluster: ${cluster}, run: "${run}" }\n`,
  ).join('---\n');

function repo(): Record<string, string> {
  const files: Record<string, string> = {};
  for (let i = 0; i < PIPELINES; i++) {
    const p = name(i);
    files[`pipelines/${p}.yaml`] = `apiVersion: flotilla.io/v1
kind: Pipeline
metadata: { name: ${p} }
spec:
  owner: team-${i % 20}
  stages:
${CLUSTERS.map((c, k) => `    - name: ${c}\n      clusters: [{ name: ${c}, path: apps/${p}/${c} }]${k > 0 ? '\n      promotion: { rule: auto }' : ''}`).join('\n')}
`;
    for (const c of CLUSTERS) files[`apps/${p}/${c}/objects.yaml`] = objects(p, c, 'initial');
  }
  return files;
}

const h = await createHarness({ files: repo() });
const t0 = performance.now();
const planner = await h.start({ evaluateIntervalMs: 60_000 });
const initialPlans = PIPELINES * CLUSTERS.length;
while (h.events.of(PlanCreated).length < initialPlans) await new Promise((r) => setTimeout(r, 50));
const initial = performance.now() - t0;
const work = await GitWorkdir.clone(h.git.fileUrl(h.repoName));
const e2e: number[] = [];
const render: number[] = [];
const beyond: number[] = [];
try {
  for (let r = 0; r < RUNS; r++) {
    const p = name((r * 37) % PIPELINES);
    await work.pull();
    for (const c of CLUSTERS) await work.writeFile(`apps/${p}/${c}/objects.yaml`, objects(p, c, `run-${r}`));
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
    while (planner.planner.lastRender?.revision !== sha) await new Promise((r) => setTimeout(r, 10));
    const last = planner.planner.lastRender;
    const others = h.events
      .of(PlanCreated)
      .slice(before)
      .filter((e) => (e.data as { pipeline?: string }).pipeline !== p);
    if (last.plans !== 4 || others.length > 0)
      throw new Error(
        `commit to ${p} planned ${last.plans} clusters and ${others.length} of other pipelines`,
      );
    e2e.push(total);
    render.push(last.renderMs);
    beyond.push(total - last.renderMs);
  }
} finally {
  await work.remove();
  await h.stop();
}

const report = `# Planner: many pipelines in one repo

\`npx tsx bench/planner/pipelines.ts --pipelines ${PIPELINES} --runs ${RUNS}\` — ${new Date().toISOString()}, ${process.platform}, node ${process.version}; medians of ${RUNS} runs. Shared 2-core machine under load from other work: read orders of magnitude.

${PIPELINES} pipelines × ${CLUSTERS.length} shared clusters × 5 objects (plain YAML), one repo, one planner.

| measure | median |
|---|---|
| start → all ${initialPlans} initial plans | ${fmt(initial)} (once) |
| commit to one pipeline: GitCommitDetected → its 4 PlanCreated | ${fmt(median(e2e))} |
| planner render phase for that revision (all ${PIPELINES} pipelines are rendered; unchanged ones publish nothing) | ${fmt(median(render))} |
| beyond rendering (fetch, extract, parse ${PIPELINES} pipeline files, bundle, sign, publish, KV) | ${fmt(median(beyond))} |

Every run: plans for the changed pipeline's 4 clusters only, none for the other ${PIPELINES - 1} pipelines.
Target (issue 16): ≤ 100 ms beyond rendering that pipeline. Not measured: 3 planner instances vs 1
(pipelines are not sharded across planners yet).
`;
console.log(report);
const out = resolve(import.meta.dirname, '../results/planner-pipelines.md');
await writeFile(out, report);
console.log(`written to ${out}`);
process.exit(0);
