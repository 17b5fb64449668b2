/**
 * Many pipelines on one shared cluster (issue 16): N pipelines × (Namespace + 5 ConfigMaps) on one
 * local apiserver (testcluster, KWOK off), side by side:
 *   - applier: one cluster-applier (in process, as in its tests) gets N signed plans, one per
 *     pipeline, each with its own inventory; timed from the first publish to the N-th
 *     ApplySucceeded (verify, decode, ownership check, dry-run, apply, inventory). Then a no-op
 *     resync: the same objects again as N new plans, timed the same way.
 *   - baseline: N separate `kubectl apply --server-side` runs of the same objects (other
 *     namespaces, so both do an initial apply), as many at once as the applier's
 *     pipelineConcurrency (4).
 *
 * Run: npx tsx bench/applier/shared-cluster.ts [--pipelines 200]
 * Writes bench/results/applier-shared-cluster.md.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { ApplySucceeded } from '@flotilla/events';
import type { KubeObject } from '@flotilla/manifests';
import { stringify } from 'yaml';
import { createHarness } from '../../services/cluster-applier/test/harness.ts';

const execFileP = promisify(execFile);
const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const PIPELINES = arg('pipelines', 200);
const CONCURRENCY = 4;
const CLUSTER = 'shared';
const fmt = (ms: number) => (ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${ms.toFixed(0)} ms`);
const name = (i: number) => `p${String(i).padStart(3, '0')}`;

function objects(ns: string, run: string): KubeObject[] {
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } },
    ...Array.from({ length: 5 }, (_, k) => ({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: `settings-${k}`, namespace: ns },
      data: { run, index: String(k) },
    })),
  ];
}

/** Publishes one plan per pipeline and waits for every ApplySucceeded; returns the wall time. */
async function applyAll(h: Awaited<ReturnType<typeof createHarness>>, sequence: number): Promise<number> {
  const t = performance.now();
  const ids = new Set<string>();
  for (let i = 0; i < PIPELINES; i++) {
    const plan = await h.publishPlan(CLUSTER, objects(`a-${name(i)}`, 'bench'), {
      sequence,
      pipeline: name(i),
    });
    ids.add(plan.planId);
  }
  const deadline = Date.now() + 900_000;
  while (h.events.of<{ planId: string }>(ApplySucceeded, (d) => ids.has(d.planId)).length < ids.size) {
    if (Date.now() > deadline) throw new Error(`not every plan of sequence ${sequence} was applied`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return performance.now() - t;
}

const h = await createHarness({ kwok: false });
const dir = mkdtempSync(join(tmpdir(), 'shared-cluster-'));
let initial: number;
let noop: number;
let baseline: number;
try {
  await h.start(CLUSTER);
  initial = await applyAll(h, 1);
  noop = await applyAll(h, 2);

  const files = Array.from({ length: PIPELINES }, (_, i) => {
    const f = join(dir, `${name(i)}.yaml`);
    writeFileSync(
      f,
      objects(`k-${name(i)}`, 'bench')
        .map((o) => stringify(o))
        .join('---\n'),
    );
    return f;
  });
  const t = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < files.length) {
        const f = files[next++] as string;
        await execFileP('kubectl', [
          '--kubeconfig',
          h.cluster.kubeconfigPath,
          'apply',
          '--server-side',
          '--field-manager=bench',
          '-f',
          f,
        ]);
      }
    }),
  );
  baseline = performance.now() - t;
} finally {
  rmSync(dir, { recursive: true, force: true });
  await h.stop();
}

const report = `# Cluster-applier: many pipelines on one shared cluster

\`npx tsx bench/applier/shared-cluster.ts --pipelines ${PIPELINES}\` — ${new Date().toISOString()}, ${process.platform}, node ${process.version}; one run. Shared 2-core machine under load from other work: read orders of magnitude.

${PIPELINES} pipelines × (Namespace + 5 ConfigMaps) = ${PIPELINES * 6} objects on one local kube-apiserver (testcluster, KWOK off). The applier applies ${CONCURRENCY} pipelines at once (\`pipelineConcurrency\` default), each with its own inventory and ownership check; the baseline runs ${CONCURRENCY} \`kubectl apply --server-side\` at once.

| measure | Flotilla applier | ${PIPELINES} × \`kubectl apply --server-side\` | ratio |
|---|---|---|---|
| initial apply of all ${PIPELINES} pipelines (first plan published → last ApplySucceeded) | ${fmt(initial)} | ${fmt(baseline)} | ${(baseline / initial).toFixed(2)}× |
| no-op resync of all ${PIPELINES} (same objects, new plans) | ${fmt(noop)} | – | target ≤ 1 s ${noop <= 1000 ? '✔' : '✘'} |
`;
console.log(report);
const out = resolve(import.meta.dirname, '../results/applier-shared-cluster.md');
writeFileSync(out, report);
console.log(`written to ${out}`);
process.exit(0);
