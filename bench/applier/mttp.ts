/**
 * MTTP-style benchmark of the cluster-applier: 1000 apps × (Deployment with replicas 0,
 * ServiceAccount, Service, Ingress) = 4000 objects on one local apiserver (testcluster, KWOK off).
 *
 * Per run, on fresh namespaces so both sides do an initial apply:
 *   - applier: a real applier process (`tsx services/cluster-applier/src/main.ts`) gets a signed
 *     plan over NATS; timed from publish to ApplySucceeded (fetch, verify, decode, discovery,
 *     dry-run of all 4000, staged apply, inventory). Then a no-op: the same objects as a new plan.
 *     Peak RSS is the process's VmHWM.
 *   - baseline: `kubectl apply --server-side -f <file>` of the same objects.
 * Median of RUNS runs, sides alternating first.
 *
 * Run: npx tsx bench/applier/mttp.ts [--apps=1000 --runs=3 --parallel=16]
 * Writes bench/results/applier.md.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { Bus } from '@flotilla/bus';
import {
  ApplySucceeded,
  decodeEvent,
  type FlotillaEvent,
  HealthChanged,
  PlanCreated,
} from '@flotilla/events';
import { createBundle, encodeBundle, type KubeObject } from '@flotilla/manifests';
import { freePort, killGroup, spawnTracked, startNats, startTestClusters } from '@flotilla/test-support';
import { generateSigningKey, signPlan } from '@flotilla/trust';
import { stringify } from 'yaml';

const execFileP = promisify(execFile);
const { values: args } = parseArgs({
  options: {
    apps: { type: 'string', default: '1000' },
    runs: { type: 'string', default: '3' },
    parallel: { type: 'string', default: '16' },
    namespaces: { type: 'string', default: '10' },
    /** `--kubectl=false` skips the baseline (quick applier-only measurement; results file not written). */
    kubectl: { type: 'string', default: 'true' },
  },
});
const APPS = Number(args.apps);
const RUNS = Number(args.runs);
const PARALLEL = Number(args.parallel);
const NAMESPACES = Number(args.namespaces);
const root = fileURLToPath(new URL('../..', import.meta.url));
const BUCKET = 'flotilla-bundles';

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

function appObjects(prefix: string): KubeObject[] {
  const out: KubeObject[] = [];
  for (let i = 0; i < APPS; i++) {
    const namespace = `${prefix}-${i % NAMESPACES}`;
    const name = `app-${i}`;
    const labels = { app: name };
    out.push(
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name, namespace, labels },
        spec: {
          replicas: 0,
          selector: { matchLabels: labels },
          template: {
            metadata: { labels },
            spec: {
              serviceAccountName: name,
              containers: [
                { name: 'app', image: `registry.local/${name}:1.0.0`, ports: [{ containerPort: 8080 }] },
              ],
            },
          },
        },
      },
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace, labels } },
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name, namespace, labels },
        // Headless: the test cluster's service CIDR is a /24, too small for 1000 ClusterIPs per side and run.
        spec: { clusterIP: 'None', selector: labels, ports: [{ port: 80, targetPort: 8080 }] },
      },
      {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'Ingress',
        metadata: { name, namespace, labels },
        spec: {
          rules: [
            {
              host: `${name}.example.com`,
              http: {
                paths: [
                  { path: '/', pathType: 'Prefix', backend: { service: { name, port: { number: 80 } } } },
                ],
              },
            },
          ],
        },
      },
    );
  }
  return out;
}

function peakRssMiB(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
    return kb / 1024;
  } catch {
    return Number.NaN;
  }
}

const [nats, [cluster]] = await Promise.all([
  startNats(),
  startTestClusters([`bench-applier`], { kwok: false }),
]);
if (!cluster) throw new Error('no cluster');
const tmp = mkdtempSync(join(tmpdir(), 'bench-applier-'));
const kubectl = async (...a: string[]) =>
  (await execFileP('kubectl', ['--kubeconfig', cluster.kubeconfigPath, ...a], { maxBuffer: 256 << 20 }))
    .stdout;
const planner = await Bus.connect({
  servers: nats.url,
  service: 'planner',
  instance: 'bench',
  ensureStream: true,
});
const blobs = await planner.blobs(BUCKET);
const key = generateSigningKey('bench');
const keyFile = join(tmp, 'planner.pem');
writeFileSync(keyFile, key.publicPem);
const events: FlotillaEvent[] = [];
const sub = planner.nc.subscribe('flotilla.v1.>');
void (async () => {
  for await (const m of sub) {
    try {
      events.push(decodeEvent(m.data, { subject: m.subject }));
    } catch {}
  }
})();
async function waitEvent(pred: (e: FlotillaEvent) => boolean, timeoutMs = 600_000): Promise<FlotillaEvent> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const e = events.find(pred);
    if (e) return e;
    const failed = events.find((x) => x.type === 'io.flotilla.apply.failed.v1');
    if (failed) throw new Error(`apply failed: ${JSON.stringify(failed.data).slice(0, 2000)}`);
    if (Date.now() > deadline) throw new Error('timed out waiting for an event');
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function createNamespaces(prefix: string) {
  const file = join(tmp, `${prefix}-ns.yaml`);
  writeFileSync(
    file,
    Array.from({ length: NAMESPACES }, (_, i) =>
      stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: `${prefix}-${i}` } }),
    ).join('---\n'),
  );
  await kubectl('apply', '--server-side', '-f', file);
  // The ServiceAccount controller creates `default` in each; wait so it does not compete with the timing.
  await new Promise((r) => setTimeout(r, 1500));
}

async function publish(clusterName: string, objects: KubeObject[], sequence: number) {
  const revision = sequence.toString(16).padStart(40, '0');
  const bytes = encodeBundle(
    createBundle({ cluster: clusterName, revision, source: { repo: 'bench', path: 'apps' }, objects }),
  );
  const digest = await blobs.put(bytes);
  const plan = signPlan(
    {
      planId: `${clusterName}-${sequence}`,
      cluster: clusterName,
      stage: 'bench',
      repo: 'bench',
      revision,
      path: 'apps',
      sequence,
      bundle: { digest, size: bytes.byteLength, objects: objects.length, bucket: BUCKET },
      createdAt: new Date().toISOString(),
    },
    key.signing,
  );
  const t0 = performance.now();
  await planner.publish(PlanCreated, plan, { id: plan.planId });
  return { plan, t0 };
}

async function applierRun(
  run: number,
): Promise<{ initial: number; noop: number; rss: number; requests: number }> {
  const prefix = `fl${run}`;
  await createNamespaces(prefix);
  const objects = appObjects(prefix);
  const name = `bench-${run}`;
  const port = await freePort();
  const proc = spawnTracked(
    process.execPath,
    ['--import', 'tsx', join(root, 'services/cluster-applier/src/main.ts')],
    {
      env: {
        ...process.env,
        FLOTILLA_CLUSTER: name,
        FLOTILLA_NATS_SERVERS: nats.url,
        FLOTILLA_HTTP_PORT: String(port),
        FLOTILLA_KUBE_KUBECONFIG: cluster!.kubeconfigPath,
        FLOTILLA_KUBE_PARALLELISM: String(PARALLEL),
        FLOTILLA_TRUSTED_KEYS: `bench=${keyFile}`,
        FLOTILLA_DRIFT_INTERVAL_MS: '0',
        FLOTILLA_HEALTH_POLL_MS: '500',
        FLOTILLA_ACK_WAIT_MS: '120000',
        LOG_LEVEL: 'warn',
      },
      logFile: join(tmp, `applier-${run}.log`),
    },
  );
  const pid = proc.child.pid as number;
  // Ready = NATS connected and the plan consumer bound (it holds the Lease).
  for (;;) {
    const ok = await fetch(`http://127.0.0.1:${port}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const readyRss = peakRssMiB(pid);
  const first = await publish(name, objects, 1);
  const done = await waitEvent(
    (e) => e.type === ApplySucceeded.type && (e.data as { planId: string }).planId === first.plan.planId,
  );
  const initial = (performance.now() - first.t0) / 1000;
  const counts = (done.data as { counts: { applied: number } }).counts;
  if (counts.applied !== objects.length) throw new Error(`applied ${counts.applied} of ${objects.length}`);
  await waitEvent(
    (e) =>
      e.type === HealthChanged.type &&
      (e.data as { planId: string; status: string }).planId === first.plan.planId &&
      ['Current', 'Failed'].includes((e.data as { status: string }).status),
  );
  const second = await publish(name, objects, 2);
  const noopEvent = await waitEvent(
    (e) => e.type === ApplySucceeded.type && (e.data as { planId: string }).planId === second.plan.planId,
  );
  const noop = (performance.now() - second.t0) / 1000;
  if (!(noopEvent.data as { noop: boolean }).noop) throw new Error('second apply was not a no-op');
  const rss = peakRssMiB(pid);
  readyPeaks.push(readyRss);
  killGroup(proc.child, 'SIGTERM');
  await proc.exited;
  return { initial, noop, rss, requests: 0 };
}

async function kubectlRun(run: number): Promise<number> {
  if (args.kubectl === 'false') return Number.NaN;
  const prefix = `kc${run}`;
  await createNamespaces(prefix);
  const file = join(tmp, `${prefix}.yaml`);
  writeFileSync(
    file,
    appObjects(prefix)
      .map((o) => stringify(o))
      .join('---\n'),
  );
  const t0 = performance.now();
  await kubectl('apply', '--server-side', '--field-manager=bench-kubectl', '-f', file);
  return (performance.now() - t0) / 1000;
}

const readyPeaks: number[] = [];
const rows: { run: number; applier: number; kubectl: number; noop: number; rss: number }[] = [];
try {
  for (let run = 1; run <= RUNS; run++) {
    let a: Awaited<ReturnType<typeof applierRun>>;
    let k: number;
    if (run % 2 === 1) {
      a = await applierRun(run);
      k = await kubectlRun(run);
    } else {
      k = await kubectlRun(run);
      a = await applierRun(run);
    }
    rows.push({ run, applier: a.initial, kubectl: k, noop: a.noop, rss: a.rss });
    console.log(
      `run ${run}: applier ${a.initial.toFixed(2)} s, kubectl ${k.toFixed(2)} s, ratio ${(k / a.initial).toFixed(2)}x, no-op ${a.noop.toFixed(3)} s, peak RSS ${a.rss.toFixed(0)} MiB`,
    );
  }
} catch (err) {
  for (const f of ['applier-1.log']) {
    try {
      console.error(readFileSync(join(tmp, f), 'utf8').split('\n').slice(-30).join('\n'));
    } catch {}
  }
  throw err;
} finally {
  await planner.close().catch(() => {});
  await Promise.allSettled([nats.dispose(), cluster.stop()]);
  rmSync(tmp, { recursive: true, force: true });
}

const mA = median(rows.map((r) => r.applier));
const mK = median(rows.map((r) => r.kubectl));
const mN = median(rows.map((r) => r.noop));
const peak = Math.max(...rows.map((r) => r.rss));
const verdict = (ok: boolean) => (ok ? 'met' : '**missed**');
const md = `# cluster-applier: MTTP-style apply benchmark

\`npx tsx bench/applier/mttp.ts --apps=${APPS} --runs=${RUNS} --parallel=${PARALLEL}\` on ${cpus().length} cores
(${new Date().toISOString().slice(0, 10)}), one local kube-apiserver 1.34 (deploy/testcluster, KWOK off).

${APPS} apps × (Deployment replicas 0, ServiceAccount, Service, Ingress) = ${APPS * 4} objects in
${NAMESPACES} namespaces, fresh namespaces per run and side, so both sides do an initial apply. Services are
headless (\`clusterIP: None\`): the test cluster's service CIDR is a /24.

- **applier**: a real applier process receives a signed plan over NATS; timed from publish to
  \`ApplySucceeded\`: bundle fetch + sha256, signature, decode, discovery, server-side dry-run of every
  object, staged server-side apply (${PARALLEL} requests in flight), in-cluster inventory write.
- **kubectl**: \`kubectl apply --server-side -f <file>\` of the same objects (sequential requests).
- **no-op**: the same objects again as a new plan (sequence + 1): inventory hashes plus one
  metadata-only LIST per kind and namespace; nothing is sent.
- **peak RSS**: the applier process's VmHWM over the run (initial apply, health, no-op).

| run | applier initial (s) | kubectl initial (s) | ratio | applier no-op (s) | applier peak RSS (MiB) |
| --- | --- | --- | --- | --- | --- |
${rows.map((r) => `| ${r.run} | ${r.applier.toFixed(2)} | ${r.kubectl.toFixed(2)} | ${(r.kubectl / r.applier).toFixed(2)}× | ${r.noop.toFixed(3)} | ${r.rss.toFixed(0)} |`).join('\n')}
| **median** | **${mA.toFixed(2)}** | **${mK.toFixed(2)}** | **${(mK / mA).toFixed(2)}×** | **${mN.toFixed(3)}** | max **${peak.toFixed(0)}** |

Targets: ≥ 1.5× faster than kubectl initial — ${verdict(mK / mA >= 1.5)}; no-op ≤ 1 s — ${verdict(mN <= 1)};
RSS ≤ 150 MiB — ${verdict(peak <= 150)}. Peak RSS of the same process when ready, before any plan (start-up alone):
${readyPeaks.map((r) => r.toFixed(0)).join(', ')} MiB.

For scale: Flux's published MTTP benchmark needs 4 m 16 s for the same 1000-app shape on 16 cores.
`;
if (args.kubectl !== 'false') writeFileSync(join(root, 'bench/results/applier.md'), md);
console.log(md);
process.exit(0);
