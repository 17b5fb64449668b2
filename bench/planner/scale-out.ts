// Sharded planners (issue 16): the same N pipelines served by 3 planner instances vs 1.
//   node scripts/build.ts && npx tsx bench/planner/scale-out.ts [--pipelines 200] [--runs 3] [--instances 3]
//
// The repo of bench/planner/pipelines.ts (N pipelines × 4 shared clusters × 5 objects). Each
// column starts real planner processes (the built bundle, `lease.mode: sharded`) on its own NATS
// and git server, waits until every pipeline is held (and, with several instances, spread over
// all of them), then each run commits a change to every pipeline's four clusters and times
// GitCommitDetected → all N × 4 PlanCreated at that revision: the throughput of a commit that
// touches everything (a base image bump, a repo-wide refactor). Side by side: 1 instance and
// `--instances` instances. Records bench/results/planner-scale-out.md.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { preferredOwner } from '@flotilla/bus';
import { PlanCreated } from '@flotilla/events';
import { GitWorkdir, waitFor } from '@flotilla/test-support';
import { PLANNER_SLOTS } from '../../services/planner/src/nats-resources.ts';
import { createHarness } from '../../services/planner/test/harness.ts';
import {
  type PlannerProcess,
  signingKeyFile,
  startPlannerProcess,
} from '../../test/faults/planner-process.ts';
import { median } from '../stats.ts';
import { CLUSTERS, manyPipelinesRepo, objects, pipelineName } from './many-pipelines-repo.ts';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const PIPELINES = arg('pipelines', 200);
const RUNS = arg('runs', 3);
const INSTANCES = arg('instances', 3);
const TTL_MS = 6000;
const fmt = (ms: number) => (ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${ms.toFixed(0)} ms`);
const names = Array.from({ length: PIPELINES }, (_, i) => pipelineName(i));

interface Figures {
  /** Start → every pipeline held and its initial plans out. */
  ready: number;
  /** Commit touching every pipeline → all its plans, per run. */
  commit: number[];
  /** Pipelines per instance once spread. */
  spread: number[];
}

async function measure(instances: number): Promise<Figures> {
  const h = await createHarness({ files: manyPipelinesRepo(PIPELINES) });
  const dir = await mkdtemp(join(tmpdir(), 'planner-scale-out-'));
  const procs: PlannerProcess[] = [];
  const work = await GitWorkdir.clone(h.git.fileUrl(h.repoName));
  try {
    const keyFile = signingKeyFile(dir);
    const setup = {
      natsUrl: h.nats.url,
      repoUrl: h.repoUrl,
      repoName: h.repoName,
      dir,
      ttlMs: TTL_MS,
      mode: 'sharded' as const,
    };
    const t0 = performance.now();
    for (let i = 0; i < instances; i++) procs.push(startPlannerProcess(setup, keyFile, `planner-${i}`));
    const kv = await h.watcher.kv<{ owner: string }>('planner-leader');
    /** pipeline → holder, and member slot → holder (running instances only). */
    const running = new Set(procs.map((p) => p.instance));
    const owners = async () => {
      const out = new Map<string, string>();
      for (const p of names) {
        const o = (await kv.get(`pipeline.${p}`))?.value.owner;
        if (o) out.set(p, o);
      }
      return out;
    };
    const slots = async () => {
      const out = new Map<string, string>();
      for (let i = 0; i < PLANNER_SLOTS; i++) {
        const o = (await kv.get(`slot.${i}`))?.value.owner;
        if (o && running.has(o)) out.set(`slot.${i}`, o);
      }
      return out;
    };
    // Settled: every pipeline held by the instance whose slot rendezvous hashing picks.
    const spread = await waitFor(
      `${PIPELINES} pipelines spread over ${instances} instance(s)`,
      async () => {
        const [o, s] = [await owners(), await slots()];
        const live = [...s.keys()];
        if (live.length !== instances) return undefined;
        if (!names.every((p) => o.get(p) === s.get(preferredOwner(p, live) ?? ''))) return undefined;
        const counts = new Map<string, number>();
        for (const holder of o.values()) counts.set(holder, (counts.get(holder) ?? 0) + 1);
        return counts;
      },
      { timeoutMs: 900_000, intervalMs: 1000 },
    );
    await waitFor(
      `${PIPELINES * CLUSTERS.length} initial plans`,
      async () => {
        const seen = new Set(
          h.events
            .of<{ pipeline?: string; cluster: string }>(PlanCreated)
            .map((e) => `${e.data.pipeline}/${e.data.cluster}`),
        );
        return seen.size >= PIPELINES * CLUSTERS.length ? true : undefined;
      },
      { timeoutMs: 900_000, intervalMs: 500 },
    );
    const f: Figures = {
      ready: performance.now() - t0,
      commit: [],
      spread: [...spread.values()].sort((a, b) => a - b),
    };
    for (let r = 0; r < RUNS; r++) {
      await work.pull();
      for (const p of names)
        for (const c of CLUSTERS)
          await work.writeFile(`apps/${p}/${c}/objects.yaml`, objects(p, c, `run-${r}`));
      const sha = await work.commit(`bench: change every pipeline (${r})`);
      await work.push();
      const t = performance.now();
      await h.commitDetected(
        sha,
        names.flatMap((p) => CLUSTERS.map((c) => `apps/${p}/${c}/objects.yaml`)),
      );
      await waitFor(
        `all plans at ${sha}`,
        async () =>
          h.events.of<{ revision: string }>(PlanCreated, (d) => d.revision === sha).length >=
          PIPELINES * CLUSTERS.length
            ? true
            : undefined,
        { timeoutMs: 900_000, intervalMs: 20 },
      );
      f.commit.push(performance.now() - t);
    }
    return f;
  } finally {
    for (const p of procs) await p.stop().catch(() => undefined);
    await work.remove();
    await h.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

const loadStart = loadavg()[0] ?? 0;
const one = await measure(1);
const many = await measure(INSTANCES);
const ratio = median(one.commit) / Math.max(1, median(many.commit));
const plans = PIPELINES * CLUSTERS.length;
const report = `# Planner: pipelines sharded over planner instances

\`node scripts/build.ts && npx tsx bench/planner/scale-out.ts --pipelines ${PIPELINES} --runs ${RUNS} --instances ${INSTANCES}\` — ${new Date().toISOString()}, ${process.platform}, node ${process.version}; medians of ${RUNS} runs. Shared 2-core machine under load from other work (1-minute load average ${loadStart.toFixed(1)} at the start, ${loadavg()[0]?.toFixed(1)} at the end): read orders of magnitude (${INSTANCES} processes compete for the same 2 cores, so this is a floor of what separate machines give).

${PIPELINES} pipelines × ${CLUSTERS.length} shared clusters × 5 objects (plain YAML), one repo. Real planner processes (\`lease.mode: sharded\`, renderConcurrency 2 each), one NATS, one git server per column. Each run commits a change to every pipeline and times GitCommitDetected → all ${plans} PlanCreated at that revision.

| measure | 1 instance | ${INSTANCES} instances | ratio |
|---|---|---|---|
| commit touching all ${PIPELINES} pipelines → ${plans} signed plans | ${fmt(median(one.commit))} | ${fmt(median(many.commit))} | **${ratio.toFixed(2)}×** throughput |
| plans per second | ${((plans * 1000) / median(one.commit)).toFixed(0)} | ${((plans * 1000) / median(many.commit)).toFixed(0)} | |
| start → every pipeline held and planned (once) | ${fmt(one.ready)} | ${fmt(many.ready)} | |
| pipelines per instance | ${one.spread.join(', ')} | ${many.spread.join(', ')} | |

Runs: 1 instance ${one.commit.map(fmt).join(', ')}; ${INSTANCES} instances ${many.commit.map(fmt).join(', ')}.
`;
console.log(report);
const out = resolve(import.meta.dirname, '../results/planner-scale-out.md');
await writeFile(out, report);
console.log(`written to ${out}`);
process.exit(0);
