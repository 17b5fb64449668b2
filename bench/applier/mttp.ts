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
 * The ratio to the ceiling is taken pair by pair: RUNS pairs, each the ceiling and then the applier
 * right after it (ABAB), so both sides of a ratio meet the same load (on 2 shared cores it swings
 * 10× within minutes); the median of the per-pair ratios is the figure, with the load average at
 * each side. kubectl (minutes per run) runs after the pairs, KUBECTL_RUNS times. Applier and
 * apiserver CPU seconds (utime + stime from /proc) are recorded per run, and the applier's own
 * phase timestamps (its `plan applied` log line) break each apply down: delivery, bundle,
 * find-changes, ownership + dry-run, the gap before the first write, each stage, the inventory.
 * `--profile=true` adds one untimed applier run under `node --cpu-prof` and reports the top
 * self-time functions and where the CPU went.
 *
 * Run: npx tsx bench/applier/mttp.ts [--apps=1000 --runs=3 --parallel=16 --ceiling=16,32,h2:16 --kubectl-runs=1 --profile=true]
 * Writes bench/results/applier.md (or --out).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ApplySucceeded, HealthChanged } from '@flotilla/events';
import { killGroup } from '@flotilla/test-support';
import { stringify } from 'yaml';
import { cpuSeconds, settleCluster } from '../cluster-cpu.ts';
import { median } from '../stats.ts';
import { startApplierBench } from './applier-bench.ts';
import { mttpObjectPath, mttpObjects } from './mttp-objects.ts';
import { rawSsaClient } from './raw-ssa.ts';

const { values: args } = parseArgs({
  options: {
    apps: { type: 'string', default: '1000' },
    runs: { type: 'string', default: '3' },
    parallel: { type: 'string', default: '16' },
    namespaces: { type: 'string', default: '10' },
    /** `--kubectl=false` skips the baseline (quick applier-only measurement; results file not written). */
    kubectl: { type: 'string', default: 'true' },
    /** kubectl runs (after the pairs); default: as many as --runs. */
    'kubectl-runs': { type: 'string' },
    /** Concurrencies tried for the raw parallel-SSA ceiling, comma-separated. */
    ceiling: { type: 'string', default: '16,32,h2:16,h2:32' },
    /** One extra, untimed applier run under `node --cpu-prof`. */
    profile: { type: 'string', default: 'false' },
    out: { type: 'string', default: 'bench/results/applier.md' },
    /**
     * Another checkout (a worktree of main, with its node_modules) whose applier also runs in
     * each pair, right before or after this one (alternating): before/after in one run.
     */
    baseline: { type: 'string' },
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
const BASELINE = args.baseline ? resolve(args.baseline) : undefined;
const KUBECTL_RUNS = args.kubectl === 'false' ? 0 : Number(args['kubectl-runs'] ?? RUNS);
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

/** CLOCK_MONOTONIC in µs, the clock V8's CPU profiles use for their sample timestamps. */
const monoUs = () => Number(process.hrtime.bigint() / 1000n);

const bench = await startApplierBench('bench-applier', { kubectlMaxBuffer: 256 << 20, bucket: BUCKET });
const { cluster, tmp, kubectl } = bench;
const { waitEvent, publish } = bench.feed;

const settle = () => settleCluster(cluster.pid);
const settled: number[] = [];

async function createNamespaces(prefix: string) {
  await bench.createNamespaces(prefix, NAMESPACES);
  // The ServiceAccount controller creates `default` in each; wait so it does not compete with the timing.
  await new Promise((r) => setTimeout(r, 1500));
}

interface ApplierRun {
  initial: number;
  /** ms from the publish: the applier took the plan up (`startedAt`), each phase ended, the bench saw ApplySucceeded. */
  timeline: Record<string, number>;
  load: number;
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
  checkout = root,
): Promise<ApplierRun> {
  const prefix = `fl${run}`;
  await createNamespaces(prefix);
  const objects = appObjects(prefix);
  const name = `bench-${run}`;
  const { proc, pid, logFile } = await bench.startApplier(
    name,
    [
      ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, '--cpu-prof-interval=500'] : []),
      '--import',
      'tsx',
      join(checkout, 'services/cluster-applier/src/main.ts'),
    ],
    {
      FLOTILLA_KUBE_PARALLELISM: String(parallel),
      FLOTILLA_DRIFT_INTERVAL_MS: '0',
      FLOTILLA_HEALTH_POLL_MS: '500',
      // `plan applied` (info) carries the phase timestamps.
      LOG_LEVEL: 'info',
    },
  );
  const load = loadavg()[0] as number;
  settled.push(await settle());
  const readyRss = peakRssMiB(pid);
  const cpu0 = [cpuSeconds(pid), cpuSeconds(cluster.pid)];
  const m0 = monoUs();
  const first = await publish(name, objects, 1);
  const done = await waitEvent(
    'the apply',
    (e) => e.type === ApplySucceeded.type && (e.data as { planId: string }).planId === first.plan.planId,
  );
  const seenAt = performance.now();
  const initial = (seenAt - first.t0) / 1000;
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
  const timeline = applyTimeline(
    logFile,
    first.plan.planId,
    first.t0,
    seenAt,
    done.data as { startedAt: string },
  );
  return { initial, timeline, load, noop, rss, applierCpu, apiserverCpu, window };
}

/**
 * The initial apply as a timeline from the publish (ms): `taken` (the applier's `startedAt`),
 * then each phase end of its `plan applied` log line, then `seen` (ApplySucceeded arrived here).
 * Both clocks are this machine's; `startedAt` has ms resolution.
 */
function applyTimeline(
  logFile: string,
  planId: string,
  t0: number,
  seenAt: number,
  succeeded: { startedAt: string },
): Record<string, number> {
  const taken = Date.parse(succeeded.startedAt) - (performance.timeOrigin + t0);
  const line = readFileSync(logFile, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { msg?: string; planId?: string; phases?: Record<string, number> })
    .find((l) => l.msg === 'plan applied' && l.planId === planId);
  const out: Record<string, number> = { taken };
  // An applier from before the phase marks (--baseline) has none.
  for (const [phase, ms] of Object.entries(line?.phases ?? {})) out[phase] = taken + ms;
  out.seen = seenAt - t0;
  return out;
}

/**
 * The apiserver's ceiling for these objects: raw SSA PATCH requests, `concurrency` in flight on
 * keep-alive TLS connections, bodies serialised before the clock starts. No dry-run, no
 * bookkeeping: the least any client can do to get the same objects applied.
 */
async function ceilingRun(
  run: number,
  spec: string,
): Promise<{ dry: number; s: number; apiserverCpu: number; load: number }> {
  const h2 = spec.startsWith('h2:');
  const concurrency = Number(spec.replace('h2:', ''));
  const prefix = `ce${run}${h2 ? 'h' : 'c'}${concurrency}`;
  await createNamespaces(prefix);
  const reqs = appObjects(prefix).map((o) => ({
    // The applier's own query (fieldValidation=Ignore spares the apiserver a second YAML parse), so
    // the ceiling is the least any client can ask of the apiserver for the same objects.
    path: `${mttpObjectPath(o)}?fieldManager=bench-ceiling&force=true&fieldValidation=Ignore`,
    body: JSON.stringify(o),
  }));
  const client = rawSsaClient(cluster, reqs, { h2, concurrency });
  settled.push(await settle());
  // The applier's own sequence, raw: a dry-run pass of every object, then the write pass.
  const load = loadavg()[0] as number;
  const dry = await client.pass(true);
  const write = await client.pass(false);
  client.close();
  return { dry: dry.s, s: write.s, apiserverCpu: write.cpu, load };
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
/** One ABAB pair: the ceiling passes, then the applier right after, on the same machine state. */
interface Pair {
  run: number;
  ceiling: Record<string, number>;
  ceilingDry: Record<string, number>;
  ceilingCpu: Record<string, number>;
  /** 1-min load average when the ceiling passes and the applier run started. */
  ceilingLoad: number;
  applier: ApplierRun;
  alt: ApplierRun | undefined;
  base: ApplierRun | undefined;
}
const pairs: Pair[] = [];
const kubectlRuns: { s: number; load: number }[] = [];
let profile: ReturnType<typeof analyseProfile> | undefined;
let profileWall = 0;
try {
  for (let run = 1; run <= RUNS; run++) {
    const ceiling: Record<string, number> = {};
    const ceilingDry: Record<string, number> = {};
    const ceilingCpu: Record<string, number> = {};
    const loads: number[] = [];
    for (const c of CEILING) {
      const r = await ceilingRun(run, c);
      ceiling[c] = r.s;
      ceilingDry[c] = r.dry;
      ceilingCpu[c] = r.apiserverCpu;
      loads.push(r.load);
    }
    // The main applier right after its ceiling (the pair's ratio); the baseline's before it in
    // even pairs and after it in odd ones; the ×ALT run last.
    const base = async () =>
      BASELINE ? await applierRun(`${run}base`, undefined, PARALLEL, BASELINE) : undefined;
    const early = run % 2 === 0 ? await base() : undefined;
    const applier = await applierRun(run);
    const late = run % 2 === 0 ? undefined : await base();
    const alt = ALT ? await applierRun(`${run}alt`, undefined, ALT) : undefined;
    const p: Pair = {
      run,
      ceiling,
      ceilingDry,
      ceilingCpu,
      ceilingLoad: median(loads),
      applier,
      alt,
      base: early ?? late,
    };
    pairs.push(p);
    console.log(
      `pair ${run}: ceiling ${CEILING.map((c) => `${c}:${(ceilingDry[c] as number).toFixed(2)}+${(ceiling[c] as number).toFixed(2)}`).join(' ')} s (load ${p.ceilingLoad.toFixed(1)}), applier ${applier.initial.toFixed(2)} s (load ${applier.load.toFixed(1)}; cpu applier ${applier.applierCpu.toFixed(1)} s, apiserver ${applier.apiserverCpu.toFixed(1)} s), ${alt ? `applier×${ALT} ${alt.initial.toFixed(2)} s, ` : ''}${p.base ? `baseline ${p.base.initial.toFixed(2)} s (load ${p.base.load.toFixed(1)}, cpu ${p.base.applierCpu.toFixed(1)} s), ` : ''}applier/(2×ceiling) ${(applier.initial / (2 * bestC(p))).toFixed(2)}, no-op ${applier.noop.toFixed(3)} s`,
    );
    console.log(`  timeline (ms from publish): ${JSON.stringify(applier.timeline)}`);
  }
  for (let run = 1; run <= KUBECTL_RUNS; run++) {
    const load = loadavg()[0] as number;
    kubectlRuns.push({ s: await kubectlRun(run), load });
    console.log(`kubectl ${run}: ${kubectlRuns.at(-1)?.s.toFixed(2)} s (load ${load.toFixed(1)})`);
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

function bestC(p: Pair): number {
  return Math.min(...Object.values(p.ceiling));
}

const loadEnd = loadavg();
const OBJECTS = APPS * 4;
const med = (f: (p: Pair) => number) => median(pairs.map(f));
const mA = med((p) => p.applier.initial);
const mK = kubectlRuns.length > 0 ? median(kubectlRuns.map((k) => k.s)) : Number.NaN;
const mN = med((p) => p.applier.noop);
const mC = med(bestC);
const ratio = med((p) => p.applier.initial / (2 * bestC(p)));
/** The applier's own sequence done raw: best dry-run pass + best write pass of the pair. */
const bestDry = (p: Pair) => Math.min(...Object.values(p.ceilingDry));
const bestSeq = (p: Pair) => bestDry(p) + bestC(p);
const ratioSeq = med((p) => p.applier.initial / bestSeq(p));
const peak = Math.max(...pairs.map((p) => p.applier.rss));
const verdict = (ok: boolean) => (ok ? 'met' : '**missed**');
const pct = (us: number) => (profile ? `${((100 * us) / profile.total).toFixed(1)} %` : '');
const s2 = (ms: number | undefined) => (ms === undefined ? '–' : (ms / 1000).toFixed(2));

// Phases, by the applier's own marks: what ran from publish to ApplySucceeded, in order.
const marks = [...new Set(pairs.flatMap((p) => Object.keys(p.applier.timeline)))];
const firstStage = (t: Record<string, number>) =>
  Math.min(...Object.entries(t).flatMap(([k, v]) => (/^stage-.*-start$/.test(k) ? [v] : [])));
/** Segments of one apply, in s: where its time went between publish and ApplySucceeded seen. */
function segments(t: Record<string, number>): Record<string, number> {
  const at = (k: string) => t[k] as number;
  const write0 = firstStage(t);
  return {
    'delivery (publish → plan taken up)': at('taken'),
    'start-up (verify, inventory read, bundle fetch + decode + resolve, find-changes)':
      at('find-changes') - at('taken'),
    'dry-run (ownership check beside it)': Math.max(at('dry-run'), at('ownership') ?? 0) - at('find-changes'),
    'dry-run → first write (ApplyStarted ack, applying-inventory write)':
      write0 - Math.max(at('dry-run'), at('ownership') ?? 0),
    'writes (stages)': at('applied') - write0,
    'after the writes (prune, inventory write, ApplySucceeded publish)': at('published') - at('applied'),
    'ApplySucceeded → seen by the bench': at('seen') - at('published'),
  };
}
const baselineCommit = BASELINE
  ? execFileSync('git', ['-C', BASELINE, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim()
  : '';
const segNames = Object.keys(segments(pairs[0]?.applier.timeline ?? {}));
const cmd = `npx tsx bench/applier/mttp.ts --apps=${APPS} --runs=${RUNS} --parallel=${PARALLEL}${ALT ? ` --parallel-alt=${ALT}` : ''} --ceiling=${CEILING.join(',')}${args['kubectl-runs'] !== undefined ? ` --kubectl-runs=${args['kubectl-runs']}` : ''}${args.profile === 'true' ? ' --profile=true' : ''}${args.out === 'bench/results/applier.md' ? '' : ` --out=${args.out}`}`;
const md = `# cluster-applier: MTTP apply benchmark, side by side with kubectl and the apiserver's SSA ceiling

\`${cmd}\`
on ${cpus().length} cores (${new Date().toISOString().slice(0, 16)}Z), Node ${process.version}, one local kube-apiserver 1.34
(deploy/testcluster, KWOK off). **Load average (1/5/15 min) at start ${loadStart.map((l) => l.toFixed(1)).join(' / ')}, at end
${loadEnd.map((l) => l.toFixed(1)).join(' / ')}** on ${cpus().length} cores: other engineers' tests and benchmarks share the
machine, so absolute times are pessimistic and noisy; the ratios within one pair are what count.

${APPS} apps × (Deployment replicas 0, ServiceAccount, Service, Ingress) = ${OBJECTS} objects in
${NAMESPACES} namespaces, fresh namespaces per run and side, so every side does an initial apply (creates).
Services are headless (\`clusterIP: None\`): the test cluster's service CIDR is a /24.

- **Pairs (ABAB)**: each pair is the ceiling passes and then, right after, the applier; the ratio
  is taken within each pair and its median over ${RUNS} pairs is the figure, so both sides of a
  ratio meet the same load. The 1-min load average at the start of each side is in the table.
- **applier**: a real applier process receives a signed plan over NATS; timed from publish to
  \`ApplySucceeded\`: bundle fetch + sha256, signature, decode, discovery, server-side dry-run of every
  object, staged server-side apply (${PARALLEL} requests in flight), in-cluster inventory write.
- **ceiling**: the same objects as raw SSA PATCH requests (\`application/apply-patch+yaml\`, \`fieldValidation=Ignore\` as the applier sends, keep-alive TLS,
  client cert, bodies serialised before the clock starts) at ${CEILING.join(', ')} in flight (\`h2:N\`: N streams on one
  HTTP/2 connection, as the applier's undici client negotiates; plain N: N HTTP/1.1 connections); the best
  of each pair is that pair's ceiling. The applier sends every object twice (whole-bundle dry-run, then apply),
  so it is judged against **2× the ceiling**. Each ceiling also times a raw \`dryRun=All\` pass of the same
  objects first (the applier's own sequence, raw): **dry-run + write ceiling**.${
    ALT
      ? `
- **applier ×${ALT}**: the same applier with \`FLOTILLA_KUBE_PARALLELISM=${ALT}\`, right after the main applier run.`
      : ''
  }
${
  BASELINE
    ? `- **baseline**: the applier of another checkout (\`${BASELINE}\`, commit ${baselineCommit}), same settings, right after
  the applier in odd pairs and right before it in even ones: before/after in one run${
    pairs.length > 0
      ? ` (median ${med((p) => p.base?.initial ?? Number.NaN).toFixed(2)} s vs ${mA.toFixed(2)} s, per pair baseline ÷ applier ${pairs.map((p) => ((p.base?.initial ?? Number.NaN) / p.applier.initial).toFixed(2)).join(' / ')})`
      : ''
  }.
`
    : ''
}- **kubectl**: \`kubectl apply --server-side -f <file>\` of the same objects (default validation, sequential
  requests), ${KUBECTL_RUNS} run(s) after the pairs.
- **CPU**: utime + stime from /proc of the applier process and of the apiserver process over the initial apply.
- **Settled**: before each ceiling and each applier run the bench waits until the cluster process (apiserver,
  etcd and controllers in one) is under 5 % of a core: the controllers' follow-up of the previous side's writes
  (ReplicaSets, Deployment status, EndpointSlices) is not charged to the next side. Waits: ${settled.map((x) => x.toFixed(0)).join(', ')} s.

| pair | ceiling load | ${CEILING.map((c) => `ceiling ${c.startsWith('h2:') ? `HTTP/2 ×${c.slice(3)}` : `HTTP/1.1 ×${c}`}: dry-run + write (s)`).join(' | ')} | applier load | applier (s) | applier CPU (s) | apiserver CPU during applier (s) |${ALT ? ` applier ×${ALT} (s) |` : ''}${BASELINE ? ' baseline (s) | baseline CPU (s) |' : ''} applier ÷ 2×ceiling | applier ÷ (dry-run + write) | no-op (s) | peak RSS (MiB) |
| --- | --- | ${CEILING.map(() => '---').join(' | ')} | --- | --- | --- | --- |${ALT ? ' --- |' : ''}${BASELINE ? ' --- | --- |' : ''} --- | --- | --- | --- |
${pairs
  .map(
    (p) =>
      `| ${p.run} | ${p.ceilingLoad.toFixed(1)} | ${CEILING.map((c) => `${(p.ceilingDry[c] as number).toFixed(2)} + ${(p.ceiling[c] as number).toFixed(2)}`).join(' | ')} | ${p.applier.load.toFixed(1)} | ${p.applier.initial.toFixed(2)} | ${p.applier.applierCpu.toFixed(1)} | ${p.applier.apiserverCpu.toFixed(1)} |${ALT ? ` ${p.alt?.initial.toFixed(2)} |` : ''}${BASELINE ? ` ${p.base?.initial.toFixed(2)} | ${p.base?.applierCpu.toFixed(1)} |` : ''} ${(p.applier.initial / (2 * bestC(p))).toFixed(2)}× | ${(p.applier.initial / bestSeq(p)).toFixed(2)}× | ${p.applier.noop.toFixed(3)} | ${p.applier.rss.toFixed(0)} |`,
  )
  .join('\n')}
| **median** | ${med((p) => p.ceilingLoad).toFixed(1)} | ${CEILING.map((c) => `${med((p) => p.ceilingDry[c] as number).toFixed(2)} + ${med((p) => p.ceiling[c] as number).toFixed(2)}`).join(' | ')} | ${med((p) => p.applier.load).toFixed(1)} | **${mA.toFixed(2)}** | ${med((p) => p.applier.applierCpu).toFixed(1)} | ${med((p) => p.applier.apiserverCpu).toFixed(1)} |${ALT ? ` ${med((p) => p.alt?.initial ?? Number.NaN).toFixed(2)} |` : ''}${BASELINE ? ` ${med((p) => p.base?.initial ?? Number.NaN).toFixed(2)} | ${med((p) => p.base?.applierCpu ?? Number.NaN).toFixed(1)} |` : ''} **${ratio.toFixed(2)}×** | **${ratioSeq.toFixed(2)}×** | **${mN.toFixed(3)}** | max **${peak.toFixed(0)}** |

- **Applier ÷ (2 × ceiling): ${ratio.toFixed(2)}×** (median of per-pair ratios; target ≤ 1.2× — ${verdict(ratio <= 1.2)}).
  Against the raw dry-run + write passes at their best concurrency: **${ratioSeq.toFixed(2)}×**.
- Ceiling (best concurrency per pair, median): **${mC.toFixed(2)} s = ${(OBJECTS / mC).toFixed(0)} objects/s**; apiserver CPU for it
  ${med((p) => Math.min(...Object.values(p.ceilingCpu))).toFixed(1)} s (lowest of the concurrencies).
- kubectl: ${kubectlRuns.map((k) => `${k.s.toFixed(2)} s (load ${k.load.toFixed(1)})`).join(', ') || 'not run'}${kubectlRuns.length > 0 ? `; applier vs kubectl: **${(mK / mA).toFixed(1)}× faster** (median times)` : ''}.
- No-op ≤ 1 s — ${verdict(mN <= 1)}. Peak RSS when ready, before any plan: ${readyPeaks.map((r) => r.toFixed(0)).join(', ')} MiB.

## Where the applier's time goes (its own phase marks)

From the applier's \`plan applied\` log line (each phase's end, ms since it took the plan up) and the
\`startedAt\` of its ApplySucceeded, as seconds from the publish:

| pair | ${marks.join(' | ')} |
| --- | ${marks.map(() => '---').join(' | ')} |
${pairs.map((p) => `| ${p.run} | ${marks.map((m) => s2(p.applier.timeline[m])).join(' | ')} |`).join('\n')}

Per segment (s), against the pair's best raw passes:

| segment | ${pairs.map((p) => `pair ${p.run}`).join(' | ')} | median |
| --- | ${pairs.map(() => '---').join(' | ')} | --- |
${segNames.map((n) => `| ${n} | ${pairs.map((p) => s2(segments(p.applier.timeline)[n])).join(' | ')} | ${s2(med((p) => segments(p.applier.timeline)[n] as number))} |`).join('\n')}
| raw dry-run pass, best of the pair's ceilings | ${pairs.map((p) => bestDry(p).toFixed(2)).join(' | ')} | ${med(bestDry).toFixed(2)} |
| raw write pass, best of the pair's ceilings | ${pairs.map((p) => bestC(p).toFixed(2)).join(' | ')} | ${mC.toFixed(2)} |
${
  profile
    ? `
## Where the applier's CPU goes (CPU profile)

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
