/**
 * Benchmark of the test control plane (deploy/testcluster): warm build, start time, RSS,
 * and server-side-apply throughput on 4,000 ConfigMaps two ways:
 *   - baseline: `kubectl apply --server-side -f <dir>` (sequential, the push-model baseline)
 *   - ceiling:  N parallel raw SSA PATCH requests (application/apply-patch+yaml)
 * Both sides hit the same apiserver with the same flags. Median of RUNS runs, interleaved.
 *
 * Run: npx tsx bench/apiserver/bench.ts [--objects=4000 --runs=3 --parallel=32 --cold-build='<observed>']
 * Writes bench/results/apiserver.md.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { buildTestCluster, startTestClusters, type TestCluster } from '@flotilla/test-support';
import { median } from '../stats.ts';

const execFileP = promisify(execFile);
const { values: args } = parseArgs({
  options: {
    objects: { type: 'string', default: '4000' },
    runs: { type: 'string', default: '3' },
    parallel: { type: 'string', default: '32' },
    'cold-build': { type: 'string' },
    // kubectl's default (client-checked strict validation) costs tens of ms of CPU per object
    // before the first request; it is measured on a sample of this many objects.
    'strict-sample': { type: 'string', default: '200' },
  },
});
const OBJECTS = Number(args.objects);
const RUNS = Number(args.runs);
const PARALLEL = Number(args.parallel);
const STRICT_SAMPLE = Number(args['strict-sample']);
const root = fileURLToPath(new URL('../..', import.meta.url));

const fmt = (n: number, d = 1) => n.toFixed(d);

/** RSS in MiB of a process plus its descendants (testcluster + its kwok child). */
function rssMiB(pid: number): number {
  const pids = [pid];
  for (let i = 0; i < pids.length; i++) {
    try {
      const kids = readFileSync(`/proc/${pids[i]}/task/${pids[i]}/children`, 'utf8').trim();
      if (kids) pids.push(...kids.split(/\s+/).map(Number));
    } catch {}
  }
  let kb = 0;
  for (const p of pids) {
    try {
      const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
      kb += Number(m?.[1] ?? 0);
    } catch {}
  }
  return kb / 1024;
}

function configMapYaml(ns: string, i: number): string {
  return `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-${i}\n  namespace: ${ns}\n  labels:\n    bench: ssa\ndata:\n  index: "${i}"\n  payload: "${'x'.repeat(64)}"\n`;
}

async function createNamespace(c: TestCluster, ns: string): Promise<void> {
  await execFileP('kubectl', ['--kubeconfig', c.kubeconfigPath, 'create', 'namespace', ns]);
}

async function kubectlRun(c: TestCluster, ns: string, count: number, extra: string[]): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-ssa-'));
  const file = join(dir, 'configmaps.yaml');
  writeFileSync(file, Array.from({ length: count }, (_, i) => configMapYaml(ns, i)).join('---\n'));
  await createNamespace(c, ns);
  const t0 = performance.now();
  await execFileP(
    'kubectl',
    [
      '--kubeconfig',
      c.kubeconfigPath,
      'apply',
      '--server-side',
      '--field-manager=bench',
      ...extra,
      '-f',
      file,
    ],
    {
      maxBuffer: 64 * 1024 * 1024,
    },
  );
  const s = (performance.now() - t0) / 1000;
  rmSync(dir, { recursive: true, force: true });
  return s;
}

async function parallelRun(c: TestCluster, ns: string): Promise<number> {
  const user = c.kubeConfig.getCurrentUser();
  const cluster = c.kubeConfig.getCurrentCluster();
  const b64 = (s?: string) => (s ? Buffer.from(s, 'base64') : undefined);
  const agent = new Agent({
    keepAlive: true,
    maxSockets: PARALLEL,
    ca: b64(cluster?.caData),
    cert: b64(user?.certData),
    key: b64(user?.keyData),
  });
  await createNamespace(c, ns);
  const url = new URL(c.server);
  const apply = (i: number) =>
    new Promise<void>((resolve, reject) => {
      const body = configMapYaml(ns, i);
      const req = request(
        {
          agent,
          host: url.hostname,
          port: url.port,
          method: 'PATCH',
          path: `/api/v1/namespaces/${ns}/configmaps/cm-${i}?fieldManager=bench&force=true`,
          headers: {
            'content-type': 'application/apply-patch+yaml',
            'content-length': Buffer.byteLength(body),
          },
        },
        (res) => {
          res.resume();
          res.on('end', () =>
            res.statusCode && res.statusCode < 300
              ? resolve()
              : reject(new Error(`HTTP ${res.statusCode} for cm-${i}`)),
          );
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: PARALLEL }, async () => {
      while (next < OBJECTS) await apply(next++);
    }),
  );
  const s = (performance.now() - t0) / 1000;
  agent.destroy();
  return s;
}

async function main() {
  const loadBefore = loadavg()[0] ?? 0;
  const t0 = performance.now();
  await buildTestCluster();
  const warmBuildS = (performance.now() - t0) / 1000;

  // Start time: one cluster at a time (with KWOK, as tests use it), then four at once.
  const single: number[] = [];
  const idleRss: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const [c] = await startTestClusters([`bench-start-${i}`], { kwok: true });
    if (!c) throw new Error('no cluster');
    single.push(c.startupMs / 1000);
    await new Promise((r) => setTimeout(r, 5000));
    idleRss.push(rssMiB(c.pid));
    await c.stop();
  }
  const f0 = performance.now();
  const four = await startTestClusters(['dev', 'test', 'uat', 'prod'], { kwok: true });
  const fourS = (performance.now() - f0) / 1000;
  await new Promise((r) => setTimeout(r, 5000));
  const fourRss = four.map((c) => rssMiB(c.pid));
  await Promise.all(four.map((c) => c.stop()));

  // SSA throughput: one plain cluster (no KWOK needed), runs interleaved.
  const [c] = await startTestClusters(['bench-ssa'], { kwok: false });
  if (!c) throw new Error('no cluster');
  const kubectlS: number[] = [];
  const parallelS: number[] = [];
  let loadedRss = 0;
  let strictS = 0;
  try {
    for (let r = 0; r < RUNS; r++) {
      kubectlS.push(await kubectlRun(c, `kubectl-${r}`, OBJECTS, ['--validate=false']));
      parallelS.push(await parallelRun(c, `parallel-${r}`));
      console.error(
        `run ${r}: kubectl ${fmt(kubectlS[r] as number)} s, parallel ${fmt(parallelS[r] as number)} s`,
      );
    }
    strictS = await kubectlRun(c, 'kubectl-strict', STRICT_SAMPLE, []);
    loadedRss = rssMiB(c.pid);
  } finally {
    await c.stop();
  }

  const kubectlTput = OBJECTS / median(kubectlS);
  const parallelTput = OBJECTS / median(parallelS);
  const kubectlVersion = execFileSync('kubectl', ['version', '--client', '-o', 'json'], { encoding: 'utf8' });
  const kv = (JSON.parse(kubectlVersion) as { clientVersion: { gitVersion: string } }).clientVersion
    .gitVersion;

  const md = `# Test control plane (deploy/testcluster) benchmark

Kubernetes v1.34.3 (etcd 3.6.4 embedded, kube-apiserver + kube-controller-manager in one process, KWOK v0.7.0 child).
Machine: ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), Node ${process.version}, kubectl ${kv}.
Generated by \`npx tsx bench/apiserver/bench.ts\` on ${new Date().toISOString()}; median of ${RUNS} runs.
Load average (1 min) at start / end: ${fmt(loadBefore)} / ${fmt(loadavg()[0] ?? 0)}: other processes on the machine skew
every figure here (a load far above the core count means the numbers are pessimistic and noisy).

## Build

| what | time |
| --- | --- |
| cold build (empty Go module + build cache; module download via the proxy) | ${args['cold-build'] ?? 'see deploy/testcluster/README.md'} |
| warm build (sources unchanged: hash check only) | ${fmt(warmBuildS, 2)} s |

## Start and memory

| what | value |
| --- | --- |
| warm start, one cluster with KWOK (spawn → /readyz ok + default namespace + SA) | median ${fmt(median(single))} s (runs: ${single.map((s) => fmt(s)).join(', ')}) |
| four clusters started at once (dev, test, uat, prod, with KWOK) | ${fmt(fourS)} s until all ready |
| RSS per cluster, idle 5 s after ready (testcluster + kwok) | median ${fmt(median(idleRss), 0)} MiB |
| RSS per cluster, four at once | ${fourRss.map((r) => `${fmt(r, 0)}`).join(' / ')} MiB |
| RSS after the SSA runs (${RUNS * 2 * OBJECTS} ConfigMaps stored, no KWOK) | ${fmt(loadedRss, 0)} MiB |

## Server-side apply throughput, ${OBJECTS} ConfigMaps (creates into a fresh namespace per run)

| way | median time | objects/s | runs |
| --- | --- | --- | --- |
| \`kubectl apply --server-side --validate=false -f configmaps.yaml\` (${OBJECTS} documents, sequential baseline) | ${fmt(median(kubectlS), 2)} s | ${fmt(kubectlTput, 0)} | ${kubectlS.map((s) => fmt(s, 2)).join(', ')} |
| \`kubectl apply --server-side -f\` with kubectl's default validation (${STRICT_SAMPLE}-object sample, 1 run) | ${fmt((strictS * OBJECTS) / STRICT_SAMPLE, 1)} s extrapolated | ${fmt(STRICT_SAMPLE / strictS, 0)} | ${fmt(strictS, 2)} s for ${STRICT_SAMPLE} |
| ${PARALLEL} parallel raw SSA PATCH (application/apply-patch+yaml, keep-alive, client cert) | ${fmt(median(parallelS), 2)} s | ${fmt(parallelTput, 0)} | ${parallelS.map((s) => fmt(s, 2)).join(', ')} |

**Ratio: parallel raw SSA is ${fmt(parallelTput / kubectlTput, 1)}× the kubectl baseline.** This is the ceiling the
applier's benchmark is judged against. The baseline row uses \`--validate=false\`: with its default
(\`--validate=strict\`) kubectl 1.32 spends tens of ms of CPU per object on the client before it sends
anything (observed: one OpenAPI v3 fetch, then no request for ~0.5 s per object under load), see the
sample row. Both kubectl rows read one multi-document file. Same apiserver, same flags (priority-and-fairness and in-flight
limits off, etcd without fsync) for both sides; client and server share the same ${cpus().length} cores.
`;
  mkdirSync(join(root, 'bench/results'), { recursive: true });
  writeFileSync(join(root, 'bench/results/apiserver.md'), md);
  console.log(md);
}

await main();
