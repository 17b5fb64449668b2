/**
 * How each service starts under each way of running TypeScript, side by side in one run:
 *   - tsx:      `node --import tsx services/<name>/src/main.ts` (how services ran until #17)
 *   - bundle:   `node --enable-source-maps services/<name>/dist/main.js` (production: scripts/build.ts)
 *   - strip:    `node --experimental-transform-types services/<name>/src/main.ts`, Node 24's own
 *               TypeScript loader. The code is not erasable-only (parameter properties), so this is
 *               the transform mode: an upper bound for plain type stripping, shown for the decision.
 * Per start: spawn → first 200 from /readyz (polled every 10 ms), then RSS (VmRSS), peak RSS
 * (VmHWM) and CPU time (utime + stime: robust on a loaded machine where wall time is not).
 * Every service runs against the same real NATS, git daemon, registry and one test cluster
 * (startFlotillaStack), with the config file the stack wrote for it. Modes rotate per run.
 *
 * Run: node bench/runtime/start.ts [--runs 3]   → bench/results/runtime.md
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { programPath, spawnTracked, startFlotillaStack, stopProcess } from '@flotilla/test-support';
import { median } from '../stats.ts';

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    /** `--applier=false`: no test cluster, so no applier row (when the cluster is not built yet). */
    applier: { type: 'string', default: 'true' },
    /** Only these services (comma-separated). */
    services: { type: 'string' },
  },
});
const RUNS = Number(args.runs);
const root = resolve(import.meta.dirname, '../..');

type Mode = 'tsx' | 'bundle' | 'strip';
const MODES: Mode[] = ['tsx', 'bundle', 'strip'];
const ALL = ['audit-writer', 'planner', 'git-watcher', 'registry-watcher', 'cluster-applier'] as const;
type Service = (typeof ALL)[number];
const only = args.services?.split(',');
const SERVICES = ALL.filter(
  (s) => (args.applier !== 'false' || s !== 'cluster-applier') && (!only || only.includes(s)),
);

function argv(mode: Mode, service: Service): string[] {
  const src = join(root, 'services', service, 'src/main.ts');
  if (mode === 'tsx') return ['--import', 'tsx', src];
  if (mode === 'strip')
    return ['--experimental-transform-types', '--disable-warning=ExperimentalWarning', src];
  return ['--enable-source-maps', programPath(service)];
}

interface Sample {
  readyMs: number;
  rssMiB: number;
  peakMiB: number;
  cpuMs: number;
}

const CLK_TCK = 100; // Linux USER_HZ
function procStats(pid: number): Omit<Sample, 'readyMs'> {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  // Fields after the command name "(...)": state is 3rd, utime 14th, stime 15th.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return { rssMiB: kb('VmRSS') / 1024, peakMiB: kb('VmHWM') / 1024, cpuMs: (ticks * 1000) / CLK_TCK };
}

async function startOnce(mode: Mode, service: Service, url: string, configFile: string, logFile: string) {
  const started = performance.now();
  const proc = spawnTracked(process.execPath, argv(mode, service), {
    cwd: root,
    logFile,
    env: { ...process.env, FLOTILLA_CONFIG: configFile, LOG_LEVEL: 'warn' },
  });
  try {
    for (;;) {
      if (proc.child.exitCode !== null) throw new Error(`${service} (${mode}) exited; see ${logFile}`);
      const ok = await fetch(`${url}/readyz`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      if (performance.now() - started > 120_000) throw new Error(`${service} (${mode}) not ready in 120 s`);
      await new Promise((r) => setTimeout(r, 10));
    }
    const readyMs = performance.now() - started;
    return { readyMs, ...procStats(proc.child.pid as number) };
  } finally {
    await stopProcess(proc, 20_000);
  }
}

const stack = await startFlotillaStack({
  clusters: args.applier === 'false' ? [] : ['dev'],
  kwok: false,
  onProgress: (l) => console.log(l),
});
const results = new Map<string, Sample[]>();
try {
  for (const service of SERVICES) {
    const name = service === 'cluster-applier' ? 'applier-dev' : service;
    const svc = stack.services.get(name);
    if (!svc) throw new Error(`no ${name} in the stack`);
    await svc.stop();
    for (let run = 0; run < RUNS; run++) {
      // Rotate which mode goes first so slow drift in machine load does not favour one.
      const order = MODES.map((_, i) => MODES[(i + run) % MODES.length] as Mode);
      for (const mode of order) {
        const s = await startOnce(
          mode,
          service,
          svc.url,
          svc.configFile,
          join(stack.logDir, `${service}-${mode}.log`),
        );
        const key = `${service}/${mode}`;
        results.set(key, [...(results.get(key) ?? []), s]);
        console.log(
          `${key} run ${run + 1}: ready ${Math.round(s.readyMs)} ms, cpu ${Math.round(s.cpuMs)} ms, rss ${s.rssMiB.toFixed(0)} MiB (peak ${s.peakMiB.toFixed(0)})`,
        );
      }
    }
  }
} finally {
  await stack.stop();
}

const med = (service: Service, mode: Mode, f: keyof Sample) =>
  median((results.get(`${service}/${mode}`) ?? []).map((s) => s[f]));
const fmt = (n: number, d = 0) => n.toFixed(d);
const rows = SERVICES.map((s) => {
  const r = (f: keyof Sample) => med(s, 'bundle', f) / med(s, 'tsx', f);
  return `| ${s} | ${fmt(med(s, 'tsx', 'readyMs'))} / ${fmt(med(s, 'bundle', 'readyMs'))} / ${fmt(med(s, 'strip', 'readyMs'))} | ${fmt(r('readyMs'), 2)} | ${fmt(med(s, 'tsx', 'cpuMs'))} / ${fmt(med(s, 'bundle', 'cpuMs'))} / ${fmt(med(s, 'strip', 'cpuMs'))} | ${fmt(r('cpuMs'), 2)} | ${fmt(med(s, 'tsx', 'rssMiB'))} / ${fmt(med(s, 'bundle', 'rssMiB'))} / ${fmt(med(s, 'strip', 'rssMiB'))} | ${fmt(r('rssMiB'), 2)} | ${fmt(med(s, 'tsx', 'peakMiB'))} / ${fmt(med(s, 'bundle', 'peakMiB'))} / ${fmt(med(s, 'strip', 'peakMiB'))} |`;
});
const md = `# Service start-up: tsx vs the production bundle (vs Node's own TypeScript loader)

\`node bench/runtime/start.ts --runs ${RUNS}${args.applier === 'false' ? ' --applier=false' : ''}${only ? ` --services ${only.join(',')}` : ''}\` — ${new Date().toISOString().slice(0, 10)}, ${cpus().length} cores, node ${process.version}; medians of ${RUNS} starts per service and mode, modes rotated per run.

Each start: spawn → first \`200\` from \`/readyz\` (polled every 10 ms) against real NATS, git, registry
and a test cluster; then RSS, peak RSS (VmHWM) and CPU time (user + system) of the process.
Columns are **tsx / bundle / strip**; *ratio* is bundle ÷ tsx (lower is better).
- **tsx**: \`node --import tsx services/<name>/src/main.ts\` (how services ran before)
- **bundle**: \`node --enable-source-maps services/<name>/dist/main.js\` (production; \`scripts/build.ts\`)
- **strip**: \`node --experimental-transform-types services/<name>/src/main.ts\`: Node 24's built-in
  loader in transform mode (the code has parameter properties, so plain stripping cannot run it);
  an upper bound for what type stripping would cost.

| service | ready (ms) | ratio | CPU to ready (ms) | ratio | RSS at ready (MiB) | ratio | peak RSS (MiB) |
| --- | --- | --- | --- | --- | --- | --- | --- |
${rows.join('\n')}

This machine is shared (2 cores, other engineers' builds and tests): wall-clock start times swing with
load; CPU time and RSS are the steadier figures.

The applier's peak under load (the 4000-object MTTP bundle, tsx vs the image's entrypoint):
\`npx tsx bench/runtime/applier-peak.ts\` → [applier-peak.md](applier-peak.md).
`;
// bench/runtime/images.ts keeps its own section of runtime.md (between its markers): kept as is.
const out = join(root, `bench/results/runtime${only ? `-${only.join('-')}` : ''}.md`);
const previous = existsSync(out) ? readFileSync(out, 'utf8') : '';
const images = previous.indexOf('<!-- bench/runtime/images.ts: begin -->');
writeFileSync(out, images >= 0 ? `${md}\n${previous.slice(images)}` : md);
console.log(md);
