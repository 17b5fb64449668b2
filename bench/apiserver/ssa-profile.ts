/**
 * Where the control plane's CPU goes while it takes a bulk server-side apply (#20: MTTP-1000 on
 * 2 cores is bounded by the apiserver, not the applier), and what the applier's request options
 * save it.
 *
 * Per variant, in fresh namespaces: a raw `dryRun=All` pass and then a write pass of the MTTP
 * objects (`application/apply-patch+yaml`, HTTP/2 with `--concurrency` streams, bodies serialised
 * before the clock starts), with the wall time of each and the CPU of the cluster process
 * (apiserver, etcd and controllers in one). Variants rotate (AB AB …), so each meets the same
 * machine state; the cluster grows by 4,000 objects a run, so compare within a round.
 *
 *   default   no `fieldValidation`: the apiserver's default, Warn
 *   ignore    `fieldValidation=Ignore`, as the applier sends it
 *   strict    `fieldValidation=Strict`, as kubectl sends it
 *
 * `--perf=true` samples the cluster process with Linux perf (`apt-get install linux-perf`) over
 * each variant's two passes and reports what the samples' stacks were doing. That needs symbols:
 * the bench builds an unstripped testcluster next to the usual one (warm Go cache: ~30 s) and runs
 * it through FLOTILLA_TESTCLUSTER_BINARY.
 *
 * Run: npx tsx bench/apiserver/ssa-profile.ts [--apps=1000 --rounds=3 --variants=default,ignore --perf=true --out=…]
 */
import { execFileSync, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus, homedir, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { startApplierBench } from '../applier/applier-bench.ts';
import { mttpObjectPath, mttpObjects } from '../applier/mttp-objects.ts';
import { rawSsaClient } from '../applier/raw-ssa.ts';
import { settleCluster } from '../cluster-cpu.ts';
import { median } from '../stats.ts';
import { type Breakdown, breakdown, CATEGORIES } from './stack-categories.ts';

const { values: args } = parseArgs({
  options: {
    apps: { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '16' },
    variants: { type: 'string', default: 'default,ignore' },
    perf: { type: 'string', default: 'false' },
    out: { type: 'string' },
  },
});
const APPS = Number(args.apps);
const ROUNDS = Number(args.rounds);
const CONCURRENCY = Number(args.concurrency);
const VARIANTS = args.variants.split(',');
const PERF = args.perf === 'true';
const FIELD_VALIDATION: Record<string, string | undefined> = {
  default: undefined,
  ignore: 'Ignore',
  strict: 'Strict',
};
for (const v of VARIANTS) if (!(v in FIELD_VALIDATION)) throw new Error(`unknown variant ${v}`);

const root = resolve(import.meta.dirname, '../..');
if (PERF && !process.env.FLOTILLA_TESTCLUSTER_BINARY) {
  // The same build as deploy/testcluster/build.sh, without `-s -w`, so perf can name functions.
  const out = join(
    process.env.FLOTILLA_CACHE ?? join(homedir(), '.cache', 'flotilla'),
    'bin',
    'testcluster-symbols',
  );
  const x = ['gitVersion=v1.34.3', 'gitMajor=1', 'gitMinor=34', 'gitTreeState=clean'].flatMap((kv) => [
    `-X k8s.io/component-base/version.${kv}`,
    `-X k8s.io/client-go/pkg/version.${kv}`,
  ]);
  execFileSync('go', ['build', '-trimpath', '-ldflags', x.join(' '), '-o', out, '.'], {
    cwd: join(root, 'deploy/testcluster'),
    env: { ...process.env, CGO_ENABLED: '0' },
    stdio: 'inherit',
  });
  process.env.FLOTILLA_TESTCLUSTER_BINARY = out;
}

const bench = await startApplierBench('bench-ssa-profile', {
  kubectlMaxBuffer: 64 << 20,
  bucket: 'bench-ssa-profile',
});
const { cluster, tmp } = bench;

const settle = () => settleCluster(cluster.pid);

/** `perf record` of the cluster process until the returned function is called; then its stacks, by category. */
function sample(name: string): () => Promise<Breakdown> {
  const data = join(tmp, `${name}.perf.data`);
  const perf = spawn('perf', ['record', '-F', '499', '-g', '-p', String(cluster.pid), '-o', data], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = new Promise<void>((r) => perf.on('exit', () => r()));
  return async () => {
    perf.kill('SIGINT');
    await exited;
    const script = execFileSync('perf', ['script', '-i', data, '-F', 'ip,sym'], {
      maxBuffer: 1024 * 1024 * 1024,
      stdio: ['ignore', 'pipe', 'ignore'],
    }).toString();
    return breakdown(script);
  };
}

interface Pass {
  s: number;
  cpu: number;
}
interface Run {
  dry: Pass;
  write: Pass;
  load: number;
  stacks?: Breakdown;
}

async function run(variant: string, round: number): Promise<Run> {
  const prefix = `sp${round}${variant}`;
  await bench.createNamespaces(prefix, 10);
  // The ServiceAccount controller creates `default` in each; let it finish first.
  await new Promise((r) => setTimeout(r, 1500));
  const fv = FIELD_VALIDATION[variant];
  const reqs = mttpObjects(prefix, APPS, 10).map((o) => ({
    path: `${mttpObjectPath(o)}?fieldManager=bench-ssa-profile&force=true${fv ? `&fieldValidation=${fv}` : ''}`,
    body: JSON.stringify(o),
  }));
  const client = rawSsaClient(cluster, reqs, { h2: true, concurrency: CONCURRENCY });
  await settle();
  const load = loadavg()[0] as number;
  const stop = PERF ? sample(`${variant}-${round}`) : undefined;
  const dry = await client.pass(true);
  const write = await client.pass(false);
  const stacks = await stop?.();
  client.close();
  return { dry, write, load, ...(stacks ? { stacks } : {}) };
}

const results: Record<string, Run[]> = Object.fromEntries(VARIANTS.map((v) => [v, []]));
try {
  for (let round = 1; round <= ROUNDS; round++)
    for (const v of VARIANTS) {
      const r = await run(v, round);
      results[v]?.push(r);
      console.log(
        `round ${round} ${v}: dry-run ${r.dry.s.toFixed(2)} s (${r.dry.cpu.toFixed(1)} cpu-s), write ${r.write.s.toFixed(2)} s (${r.write.cpu.toFixed(1)} cpu-s), load ${r.load.toFixed(1)}`,
      );
    }
} finally {
  await bench.close();
}

const m = (v: string, f: (r: Run) => number) => median((results[v] ?? []).map(f));
const share = (r: Run, c: string) => (r.stacks ? (r.stacks.counts[c] ?? 0) / r.stacks.total : Number.NaN);
const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
const cmd = `npx tsx bench/apiserver/ssa-profile.ts --apps=${APPS} --rounds=${ROUNDS} --variants=${VARIANTS.join(',')}${PERF ? ' --perf=true' : ''}${args.out ? ` --out=${args.out}` : ''}`;
const md = `# The control plane under a bulk server-side apply: where its CPU goes

\`${cmd}\`
on ${cpus().length} cores (${new Date().toISOString()}), Node ${process.version}, one local kube-apiserver 1.34
(deploy/testcluster: etcd, apiserver and kube-controller-manager in one process, KWOK off).

${APPS} MTTP apps = ${APPS * 4} objects (Deployment replicas 0, ServiceAccount, Service, Ingress) in 10 fresh
namespaces per run; a raw \`dryRun=All\` pass, then the write pass, ${CONCURRENCY} HTTP/2 streams, client certificate.
CPU is the cluster process's utime + stime over each pass. Medians of ${ROUNDS} rounds, variants alternating.

| variant | fieldValidation | dry-run pass (s) | its CPU (s) | write pass (s) | its CPU (s) |
| --- | --- | --- | --- | --- | --- |
${VARIANTS.map((v) => `| ${v} | ${FIELD_VALIDATION[v] ?? '(unset: Warn)'} | ${m(v, (r) => r.dry.s).toFixed(2)} | ${m(v, (r) => r.dry.cpu).toFixed(1)} | ${m(v, (r) => r.write.s).toFixed(2)} | ${m(v, (r) => r.write.cpu).toFixed(1)} |`).join('\n')}
${
  PERF
    ? `
## Where the cluster process's CPU goes (perf samples over both passes, share of all; median of rounds)

Each sample's stack is put in the first category, in this order, that one of its frames matches
(bench/apiserver/stack-categories.ts); so work done inside a request (its managed fields, its
admission, its YAML) is counted there and not under the transport or storage it runs in.

| category | ${VARIANTS.join(' | ')} |
| --- | ${VARIANTS.map(() => '---').join(' | ')} |
${CATEGORIES.map((c) => `| ${c.name} | ${VARIANTS.map((v) => pct(m(v, (r) => share(r, c.name)))).join(' | ')} |`).join('\n')}
| (samples per run) | ${VARIANTS.map((v) => m(v, (r) => r.stacks?.total ?? 0).toFixed(0)).join(' | ')} |
`
    : ''
}`;
console.log(md);
if (args.out) writeFileSync(args.out, md);
