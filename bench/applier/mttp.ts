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
 *   - ceiling: the same objects as raw parallel SSA PATCH requests (keep-alive, client cert, no
 *     dry-run) at each of CEILING concurrencies; the best is the apiserver's SSA ceiling in this
 *     run. The applier sends every object twice (whole-bundle dry-run, then apply), so its time is
 *     judged against 2× the ceiling.
 * Median of RUNS runs, sides rotating first. Applier and apiserver CPU seconds (utime + stime from
 * /proc) are recorded per run; `--profile=true` adds one untimed applier run under `node
 * --cpu-prof` and reports the top self-time functions and where the CPU went.
 *
 * Run: npx tsx bench/applier/mttp.ts [--apps=1000 --runs=3 --parallel=16 --ceiling=16,32,64 --profile=true]
 * Writes bench/results/applier.md (or --out).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { connect as connectH2 } from 'node:http2';
import { Agent, request } from 'node:https';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ApplySucceeded, HealthChanged } from '@flotilla/events';
import { killGroup } from '@flotilla/test-support';
import { stringify } from 'yaml';
import { median } from '../stats.ts';
import { startApplierBench } from './applier-bench.ts';
import { mttpObjects } from './mttp-objects.ts';

const { values: args } = parseArgs({
  options: {
    apps: { type: 'string', default: '1000' },
    runs: { type: 'string', default: '3' },
    parallel: { type: 'string', default: '16' },
    namespaces: { type: 'string', default: '10' },
    /** `--kubectl=false` skips the baseline (quick applier-only measurement; results file not written). */
    kubectl: { type: 'string', default: 'true' },
    /** Concurrencies tried for the raw parallel-SSA ceiling, comma-separated. */
    ceiling: { type: 'string', default: '16,32,h2:16,h2:32' },
    /** One extra, untimed applier run under `node --cpu-prof`. */
    profile: { type: 'string', default: 'false' },
    out: { type: 'string', default: 'bench/results/applier.md' },
    /** Also run the applier at this parallelism each run (same process, `FLOTILLA_KUBE_PARALLELISM`). */
    'parallel-alt': { type: 'string' },
  },
});
const APPS = Number(args.apps);
const RUNS = Number(args.runs);
const PARALLEL = Number(args.parallel);
const NAMESPACES = Number(args.namespaces);
/** `16` = 16 HTTP/1.1 connections; `h2:16` = 16 streams in flight on one HTTP/2 connection. */
const CEILING = args.ceiling.split(',');
const ALT = args['parallel-alt'] ? Number(args['parallel-alt']) : undefined;
const loadStart = loadavg();
const root = fileURLToPath(new URL('../..', import.meta.url));
const BUCKET = 'flotilla-bundles';

const appObjects = (prefix: string) => mttpObjects(prefix, APPS, NAMESPACES);

function peakRssMiB(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
    return kb / 1024;
  } catch {
    return Number.NaN;
  }
}

/** utime + stime of a process in seconds (clock ticks are 100 Hz on Linux). */
function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return Number.NaN;
  }
}
/** CLOCK_MONOTONIC in µs, the clock V8's CPU profiles use for their sample timestamps. */
const monoUs = () => Number(process.hrtime.bigint() / 1000n);

const bench = await startApplierBench('bench-applier', { kubectlMaxBuffer: 256 << 20, bucket: BUCKET });
const { cluster, tmp, kubectl } = bench;
const { waitEvent, publish } = bench.feed;

async function createNamespaces(prefix: string) {
  await bench.createNamespaces(prefix, NAMESPACES);
  // The ServiceAccount controller creates `default` in each; wait so it does not compete with the timing.
  await new Promise((r) => setTimeout(r, 1500));
}

interface ApplierRun {
  initial: number;
  noop: number;
  rss: number;
  /** CPU seconds of the applier process and of the apiserver during the initial apply. */
  applierCpu: number;
  apiserverCpu: number;
  /** The initial apply's window on CLOCK_MONOTONIC (µs), to cut a CPU profile to it. */
  window: [number, number];
}

async function applierRun(
  run: number | string,
  profileDir?: string,
  parallel = PARALLEL,
): Promise<ApplierRun> {
  const prefix = `fl${run}`;
  await createNamespaces(prefix);
  const objects = appObjects(prefix);
  const name = `bench-${run}`;
  const { proc, pid } = await bench.startApplier(
    name,
    [
      ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, '--cpu-prof-interval=500'] : []),
      '--import',
      'tsx',
      join(root, 'services/cluster-applier/src/main.ts'),
    ],
    {
      FLOTILLA_KUBE_PARALLELISM: String(parallel),
      FLOTILLA_DRIFT_INTERVAL_MS: '0',
      FLOTILLA_HEALTH_POLL_MS: '500',
    },
  );
  const readyRss = peakRssMiB(pid);
  const cpu0 = [cpuSeconds(pid), cpuSeconds(cluster.pid)];
  const m0 = monoUs();
  const first = await publish(name, objects, 1);
  const done = await waitEvent(
    'the apply',
    (e) => e.type === ApplySucceeded.type && (e.data as { planId: string }).planId === first.plan.planId,
  );
  const initial = (performance.now() - first.t0) / 1000;
  const window: [number, number] = [m0, monoUs()];
  const applierCpu = cpuSeconds(pid) - (cpu0[0] as number);
  const apiserverCpu = cpuSeconds(cluster.pid) - (cpu0[1] as number);
  const counts = (done.data as { counts: { applied: number } }).counts;
  if (counts.applied !== objects.length) throw new Error(`applied ${counts.applied} of ${objects.length}`);
  await waitEvent(
    'health',
    (e) =>
      e.type === HealthChanged.type &&
      (e.data as { planId: string; status: string }).planId === first.plan.planId &&
      ['Current', 'Failed'].includes((e.data as { status: string }).status),
  );
  const second = await publish(name, objects, 2);
  const noopEvent = await waitEvent(
    'the no-op',
    (e) => e.type === ApplySucceeded.type && (e.data as { planId: string }).planId === second.plan.planId,
  );
  const noop = (performance.now() - second.t0) / 1000;
  if (!(noopEvent.data as { noop: boolean }).noop) throw new Error('second apply was not a no-op');
  const rss = peakRssMiB(pid);
  readyPeaks.push(readyRss);
  killGroup(proc.child, 'SIGTERM');
  await proc.exited;
  return { initial, noop, rss, applierCpu, apiserverCpu, window };
}

/** Kind → collection path, for the raw ceiling requests (no discovery needed for four built-ins). */
const COLLECTIONS: Record<string, string> = {
  Deployment: '/apis/apps/v1/namespaces/NS/deployments',
  ServiceAccount: '/api/v1/namespaces/NS/serviceaccounts',
  Service: '/api/v1/namespaces/NS/services',
  Ingress: '/apis/networking.k8s.io/v1/namespaces/NS/ingresses',
};

/**
 * The apiserver's ceiling for these objects: raw SSA PATCH requests, `concurrency` in flight on
 * keep-alive TLS connections, bodies serialised before the clock starts. No dry-run, no
 * bookkeeping: the least any client can do to get the same objects applied.
 */
async function ceilingRun(
  run: number,
  spec: string,
): Promise<{ dry: number; s: number; apiserverCpu: number }> {
  const h2 = spec.startsWith('h2:');
  const concurrency = Number(spec.replace('h2:', ''));
  const prefix = `ce${run}${h2 ? 'h' : 'c'}${concurrency}`;
  await createNamespaces(prefix);
  const reqs = appObjects(prefix).map((o) => ({
    path: `${(COLLECTIONS[o.kind] as string).replace('NS', o.metadata.namespace as string)}/${o.metadata.name}?fieldManager=bench-ceiling&force=true`,
    body: JSON.stringify(o),
  }));
  const kc = cluster.kubeConfig;
  const b64 = (v?: string) => (v ? Buffer.from(v, 'base64') : undefined);
  const agent = new Agent({
    keepAlive: true,
    maxSockets: concurrency,
    ca: b64(kc.getCurrentCluster()?.caData),
    cert: b64(kc.getCurrentUser()?.certData),
    key: b64(kc.getCurrentUser()?.keyData),
  });
  const url = new URL(cluster.server);
  const session = h2
    ? connectH2(url.origin, {
        ca: b64(kc.getCurrentCluster()?.caData),
        cert: b64(kc.getCurrentUser()?.certData),
        key: b64(kc.getCurrentUser()?.keyData),
      })
    : undefined;
  const patchH2 = (r: { path: string; body: string }, dryRun: boolean) =>
    new Promise<void>((resolve, reject) => {
      const stream = (session as NonNullable<typeof session>).request({
        ':method': 'PATCH',
        ':path': dryRun ? `${r.path}&dryRun=All` : r.path,
        'content-type': 'application/apply-patch+yaml',
      });
      let status = 0;
      stream.on('response', (h) => {
        status = Number(h[':status']);
      });
      stream.on('error', reject);
      stream.resume();
      stream.on('end', () =>
        status > 0 && status < 300 ? resolve() : reject(new Error(`HTTP ${status} for ${r.path}`)),
      );
      stream.end(r.body);
    });
  const patch = (r: { path: string; body: string }, dryRun: boolean) =>
    h2 ? patchH2(r, dryRun) : patchH1(r, dryRun);
  const patchH1 = (r: { path: string; body: string }, dryRun: boolean) =>
    new Promise<void>((resolve, reject) => {
      const req = request(
        {
          agent,
          host: url.hostname,
          port: url.port,
          method: 'PATCH',
          path: dryRun ? `${r.path}&dryRun=All` : r.path,
          headers: {
            'content-type': 'application/apply-patch+yaml',
            'content-length': Buffer.byteLength(r.body),
          },
        },
        (res) => {
          res.resume();
          res.on('end', () =>
            res.statusCode && res.statusCode < 300
              ? resolve()
              : reject(new Error(`HTTP ${res.statusCode} for ${r.path}`)),
          );
        },
      );
      req.on('error', reject);
      req.end(r.body);
    });
  const pass = async (dryRun: boolean) => {
    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < reqs.length) await patch(reqs[next++] as { path: string; body: string }, dryRun);
      }),
    );
    return (performance.now() - t0) / 1000;
  };
  // The applier's own sequence, raw: a dry-run pass of every object, then the write pass.
  const dry = await pass(true);
  const cpu0 = cpuSeconds(cluster.pid);
  const s = await pass(false);
  const apiserverCpu = cpuSeconds(cluster.pid) - cpu0;
  agent.destroy();
  session?.close();
  return { dry, s, apiserverCpu };
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Where a profile frame's self time goes, by what it is part of. */
function category(f: ProfileNode['callFrame']): string {
  const u = f.url;
  if (f.functionName === '(idle)') return 'idle (waiting on the apiserver / network)';
  if (f.functionName === '(garbage collector)') return 'garbage collection';
  if (f.functionName === '(program)') return 'native, outside JS (V8/libuv/OpenSSL)';
  if (u === '' && /^(parse|stringify|JSONParse|JSONStringify)$/.test(f.functionName))
    return 'JSON parse/stringify';
  if (/undici/.test(u)) return 'HTTP client (undici)';
  if (/node:(_tls|tls|net|internal\/(tls|net|http2|stream|streams|crypto))/.test(u))
    return 'HTTP/2, TLS, sockets (node core)';
  if (/nats/.test(u)) return 'NATS client';
  if (/\/yaml\//.test(u)) return 'YAML';
  if (/tsx|esbuild|node:internal\/modules/.test(u)) return 'module loading (tsx)';
  if (/\/(libs|services)\//.test(u) && !/node_modules/.test(u)) return 'Flotilla code';
  if (/node_modules/.test(u)) return `other packages`;
  return u.startsWith('node:') ? 'other node core' : 'other (builtins)';
}

function analyseProfile(file: string, window: [number, number]) {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  let t = p.startTime;
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i] as number;
    if (t < window[0] || t > window[1]) continue;
    const next = p.timeDeltas[i + 1] ?? 0;
    self.set(p.samples[i] as number, (self.get(p.samples[i] as number) ?? 0) + next);
  }
  const fns = new Map<string, number>();
  const cats = new Map<string, number>();
  let total = 0;
  for (const [id, us] of self) {
    const f = (byId.get(id) as ProfileNode).callFrame;
    const where = f.url
      ? `${f.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*?\/(libs|services)\//, '$1/')}:${f.lineNumber + 1}`
      : '';
    const k = `${f.functionName || '(anonymous)'}${where ? ` ${where}` : ''}`;
    fns.set(k, (fns.get(k) ?? 0) + us);
    const c = category(f);
    cats.set(c, (cats.get(c) ?? 0) + us);
    total += us;
  }
  const top = [...fns].sort((a, b) => b[1] - a[1]).slice(0, 15);
  return { total, top, cats: [...cats].sort((a, b) => b[1] - a[1]) };
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
interface Row {
  run: number;
  applier: number;
  kubectl: number;
  noop: number;
  rss: number;
  applierCpu: number;
  apiserverCpu: number;
  ceiling: Record<string, number>;
  ceilingDry: Record<string, number>;
  ceilingCpu: Record<string, number>;
  alt: number;
}
const rows: Row[] = [];
let profile: ReturnType<typeof analyseProfile> | undefined;
let profileWall = 0;
try {
  for (let run = 1; run <= RUNS; run++) {
    let a: ApplierRun | undefined;
    let k = Number.NaN;
    let alt = Number.NaN;
    const ceiling: Record<string, number> = {};
    const ceilingDry: Record<string, number> = {};
    const ceilingCpu: Record<string, number> = {};
    const sides = [
      async () => {
        a = await applierRun(run);
        if (ALT) alt = (await applierRun(`${run}alt`, undefined, ALT)).initial;
      },
      async () => {
        k = await kubectlRun(run);
      },
      async () => {
        for (const c of CEILING) {
          const r = await ceilingRun(run, c);
          ceiling[c] = r.s;
          ceilingDry[c] = r.dry;
          ceilingCpu[c] = r.apiserverCpu;
        }
      },
    ];
    // Rotate which side goes first, so none always meets a fresher (or more loaded) apiserver.
    for (let i = 0; i < sides.length; i++)
      await (sides[(i + run - 1) % sides.length] as () => Promise<void>)();
    if (!a) throw new Error('applier side did not run');
    const best = Math.min(...Object.values(ceiling));
    rows.push({
      run,
      applier: a.initial,
      kubectl: k,
      noop: a.noop,
      rss: a.rss,
      applierCpu: a.applierCpu,
      apiserverCpu: a.apiserverCpu,
      ceiling,
      ceilingDry,
      ceilingCpu,
      alt,
    });
    console.log(
      `run ${run}: applier ${a.initial.toFixed(2)} s (cpu applier ${a.applierCpu.toFixed(1)} s, apiserver ${a.apiserverCpu.toFixed(1)} s), kubectl ${k.toFixed(2)} s, ceiling ${CEILING.map((c) => `${c}:${(ceilingDry[c] as number).toFixed(2)}+${(ceiling[c] as number).toFixed(2)}`).join(' ')} s, ${ALT ? `applier×${ALT} ${alt.toFixed(2)} s, ` : ''}applier/(2×ceiling) ${(a.initial / (2 * best)).toFixed(2)}, no-op ${a.noop.toFixed(3)} s, load ${loadavg()[0]?.toFixed(1)}`,
    );
  }
  if (args.profile === 'true') {
    const dir = join(tmp, 'prof');
    const r = await applierRun('p', dir);
    const { readdirSync } = await import('node:fs');
    const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
    if (!file) throw new Error('the profiled applier wrote no .cpuprofile');
    profile = analyseProfile(join(dir, file), r.window);
    profileWall = r.initial;
    console.log(`profiled run: ${r.initial.toFixed(2)} s`, profile.cats);
  }
} catch (err) {
  for (const f of ['applier-bench-1.log']) {
    try {
      console.error(readFileSync(join(tmp, f), 'utf8').split('\n').slice(-30).join('\n'));
    } catch {}
  }
  throw err;
} finally {
  await bench.close();
}

const loadEnd = loadavg();
const OBJECTS = APPS * 4;
const med = (f: (r: Row) => number) => median(rows.map(f));
const mA = med((r) => r.applier);
const mK = med((r) => r.kubectl);
const mN = med((r) => r.noop);
const bestC = (r: Row) => Math.min(...Object.values(r.ceiling));
const mC = med(bestC);
const ratio = med((r) => r.applier / (2 * bestC(r)));
/** The applier's own sequence done raw: best dry-run pass + best write pass of the run. */
const bestSeq = (r: Row) => Math.min(...Object.values(r.ceilingDry)) + bestC(r);
const ratioSeq = med((r) => r.applier / bestSeq(r));
const peak = Math.max(...rows.map((r) => r.rss));
const verdict = (ok: boolean) => (ok ? 'met' : '**missed**');
const pct = (us: number) => (profile ? `${((100 * us) / profile.total).toFixed(1)} %` : '');
const cmd = `npx tsx bench/applier/mttp.ts --apps=${APPS} --runs=${RUNS} --parallel=${PARALLEL}${ALT ? ` --parallel-alt=${ALT}` : ''} --ceiling=${CEILING.join(',')}${args.profile === 'true' ? ' --profile=true' : ''}${args.out === 'bench/results/applier.md' ? '' : ` --out=${args.out}`}`;
const md = `# cluster-applier: MTTP apply benchmark, side by side with kubectl and the apiserver's SSA ceiling

\`${cmd}\`
on ${cpus().length} cores (${new Date().toISOString().slice(0, 16)}Z), Node ${process.version}, one local kube-apiserver 1.34
(deploy/testcluster, KWOK off). **Load average (1/5/15 min) at start ${loadStart.map((l) => l.toFixed(1)).join(' / ')}, at end
${loadEnd.map((l) => l.toFixed(1)).join(' / ')}** on ${cpus().length} cores: other engineers' tests and benchmarks share the
machine, so absolute times are pessimistic and noisy; the ratios within one run are what count.

${APPS} apps × (Deployment replicas 0, ServiceAccount, Service, Ingress) = ${OBJECTS} objects in
${NAMESPACES} namespaces, fresh namespaces per run and side, so every side does an initial apply (creates).
Services are headless (\`clusterIP: None\`): the test cluster's service CIDR is a /24.

- **applier**: a real applier process receives a signed plan over NATS; timed from publish to
  \`ApplySucceeded\`: bundle fetch + sha256, signature, decode, discovery, server-side dry-run of every
  object, staged server-side apply (${PARALLEL} requests in flight), in-cluster inventory write.
- **kubectl**: \`kubectl apply --server-side -f <file>\` of the same objects (default validation, sequential requests).
- **ceiling**: the same objects as raw SSA PATCH requests (\`application/apply-patch+yaml\`, keep-alive TLS,
  client cert, bodies serialised before the clock starts) at ${CEILING.join(', ')} in flight (\`h2:N\`: N streams on one
  HTTP/2 connection, as the applier's undici client does; plain N: N HTTP/1.1 connections); the best
  of each run is that run's ceiling. The applier sends every object twice (whole-bundle dry-run, then apply),
  so it is judged against **2× the ceiling**. Each ceiling also times a raw \`dryRun=All\` pass of the same
  objects first (the applier's own sequence, raw): **dry-run + write ceiling**.${
    ALT
      ? `
- **applier ×${ALT}**: the same applier with \`FLOTILLA_KUBE_PARALLELISM=${ALT}\`, right after the main applier run.`
      : ''
  }
- **CPU**: utime + stime from /proc of the applier process and of the apiserver process over the initial apply.

| run | applier (s) | applier CPU (s) | apiserver CPU during applier (s) |${ALT ? ` applier ×${ALT} (s) |` : ''} kubectl (s) | ${CEILING.map((c) => `ceiling ${c.startsWith('h2:') ? `HTTP/2 ×${c.slice(3)}` : `HTTP/1.1 ×${c}`}: dry-run + write (s)`).join(' | ')} | applier ÷ 2×ceiling | applier ÷ (dry-run + write) | no-op (s) | peak RSS (MiB) |
| --- | --- | --- | --- |${ALT ? ' --- |' : ''} --- | ${CEILING.map(() => '---').join(' | ')} | --- | --- | --- | --- |
${rows
  .map(
    (r) =>
      `| ${r.run} | ${r.applier.toFixed(2)} | ${r.applierCpu.toFixed(1)} | ${r.apiserverCpu.toFixed(1)} |${ALT ? ` ${r.alt.toFixed(2)} |` : ''} ${r.kubectl.toFixed(2)} | ${CEILING.map((c) => `${(r.ceilingDry[c] as number).toFixed(2)} + ${(r.ceiling[c] as number).toFixed(2)}`).join(' | ')} | ${(r.applier / (2 * bestC(r))).toFixed(2)}× | ${(r.applier / bestSeq(r)).toFixed(2)}× | ${r.noop.toFixed(3)} | ${r.rss.toFixed(0)} |`,
  )
  .join('\n')}
| **median** | **${mA.toFixed(2)}** | ${med((r) => r.applierCpu).toFixed(1)} | ${med((r) => r.apiserverCpu).toFixed(1)} |${ALT ? ` ${med((r) => r.alt).toFixed(2)} |` : ''} **${mK.toFixed(2)}** | ${CEILING.map((c) => `${med((r) => r.ceilingDry[c] as number).toFixed(2)} + ${med((r) => r.ceiling[c] as number).toFixed(2)}`).join(' | ')} | **${ratio.toFixed(2)}×** | **${ratioSeq.toFixed(2)}×** | **${mN.toFixed(3)}** | max **${peak.toFixed(0)}** |

- Applier vs kubectl: **${(mK / mA).toFixed(1)}× faster** (median times).
- Ceiling (best concurrency per run, median): **${mC.toFixed(2)} s = ${(OBJECTS / mC).toFixed(0)} objects/s**; apiserver CPU for it
  ${med((r) => Math.min(...Object.values(r.ceilingCpu))).toFixed(1)} s (lowest of the concurrencies).
- **Applier ÷ (2 × ceiling): ${ratio.toFixed(2)}×** (median of per-run ratios; target ≤ 1.2× — ${verdict(ratio <= 1.2)}).
  Against the raw dry-run + write passes at their best concurrency: **${ratioSeq.toFixed(2)}×**.
- No-op ≤ 1 s — ${verdict(mN <= 1)}. Peak RSS when ready, before any plan: ${readyPeaks.map((r) => r.toFixed(0)).join(', ')} MiB.
${
  profile
    ? `
## Where the applier's time goes (CPU profile)

One extra, untimed applier run under \`node --cpu-prof --cpu-prof-interval=500\` (${profileWall.toFixed(2)} s wall, profiling slows
it), samples cut to the initial apply (publish → \`ApplySucceeded\`). Self time of the applier's main thread:

| where | share of samples |
| --- | --- |
${profile.cats.map(([c, us]) => `| ${c} | ${pct(us)} (${(us / 1e6).toFixed(2)} s) |`).join('\n')}

Top functions by self time:

| function | self |
| --- | --- |
${profile.top.map(([f, us]) => `| \`${f.replaceAll('|', '\\|')}\` | ${pct(us)} (${(us / 1e6).toFixed(2)} s) |`).join('\n')}
`
    : ''
}
For scale: Flux's published MTTP benchmark needs 4 m 16 s for the 1000-app shape (4000 objects) on 16 cores.
`;
if (args.kubectl !== 'false') writeFileSync(resolve(root, args.out), md);
console.log(md);
process.exit(0);
