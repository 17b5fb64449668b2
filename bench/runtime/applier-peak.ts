/**
 * The cluster-applier's peak memory on the 4000-object MTTP bundle, side by side in one run for
 * each way of running it (issue #17: target ≤ 150 MiB on the production path):
 *   - tsx:     `node --import tsx services/cluster-applier/src/main.ts` (how it ran until #17)
 *   - image:   exactly the image's ENTRYPOINT (test-support's programArgs, which the Dockerfile
 *              test holds the Dockerfile to): the production path
 *   - untuned: `node --enable-source-maps services/cluster-applier/dist/main.js`, the ENTRYPOINT
 *              before the applier's young generation was capped
 *   - bundle:  `node services/cluster-applier/dist/main.js` (no source maps, no flags)
 *   - before:  another build (`--before=<dist/main.js>`) run like `untuned`
 * Per run and mode: a fresh applier process and fresh namespaces, then the applier's whole life
 * with a big bundle: ready → plan of 4000 objects (fetch, verify, decode, discovery, whole-bundle
 * dry-run, staged apply, inventory) → health until Current → the same objects as a new plan
 * (no-op: one metadata LIST per kind) → a hand edit of one object, caught by a drift check over
 * all 4000 and corrected. Peak RSS is the process's VmHWM at the end; RSS at ready is VmRSS
 * before the first plan. Modes rotate per run; median of the runs.
 *
 * Run: npx tsx bench/runtime/applier-peak.ts [--runs=3 --apps=1000 --modes=tsx,image,bundle]
 * Writes bench/results/applier-peak.md (or --out).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ApplySucceeded, DriftCorrected, type FlotillaEvent, HealthChanged } from '@flotilla/events';
import type { KubeObject } from '@flotilla/manifests';
import { killGroup, programArgs, programPath } from '@flotilla/test-support';
import { startApplierBench } from '../applier/applier-bench.ts';
import { mttpObjects } from '../applier/mttp-objects.ts';
import { median } from '../stats.ts';

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    apps: { type: 'string', default: '1000' },
    namespaces: { type: 'string', default: '10' },
    modes: { type: 'string', default: 'tsx,image' },
    out: { type: 'string', default: 'bench/results/applier-peak.md' },
    /**
     * Another build of the applier (a dist/main.js built from an earlier commit, e.g. with
     * `git archive <commit>` + `node scripts/build.ts`), run like the image as mode `before`.
     */
    before: { type: 'string' },
    'before-label': { type: 'string', default: 'before' },
  },
});
const RUNS = Number(args.runs);
const APPS = Number(args.apps);
const NAMESPACES = Number(args.namespaces);
const root = resolve(import.meta.dirname, '../..');
const BUCKET = 'flotilla-bundles';
const TARGET_MIB = 150;

const MODES = {
  tsx: ['--import', 'tsx', join(root, 'services/cluster-applier/src/main.ts')],
  // Exactly the image's ENTRYPOINT (the Dockerfile test holds it to programNodeArgs).
  image: programArgs('cluster-applier'),
  // The image's ENTRYPOINT before #17 capped the young generation.
  untuned: ['--enable-source-maps', programPath('cluster-applier')],
  bundle: [programPath('cluster-applier')],
  before: ['--enable-source-maps', args.before ?? ''],
} satisfies Record<string, string[]>;
type Mode = keyof typeof MODES;
const modes = args.modes.split(',') as Mode[];
for (const m of modes) if (!(m in MODES)) throw new Error(`unknown mode ${m}`);
if (modes.includes('before') !== (args.before !== undefined))
  throw new Error('mode before needs --before=<dist/main.js> and back');

function status(pid: number): { rss: number; hwm: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (f: string) => Number(new RegExp(`${f}:\\s+(\\d+)`).exec(s)?.[1] ?? 0);
  return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
}

const loadStart = loadavg();
const bench = await startApplierBench('bench-peak', { kubectlMaxBuffer: 64 << 20, bucket: BUCKET });
const { kubectl } = bench;
const { waitEvent, publish: publishPlan } = bench.feed;
const publish = async (cluster: string, objects: KubeObject[], sequence: number) =>
  (await publishPlan(cluster, objects, sequence)).plan;

interface Sample {
  readyRss: number;
  peak: number;
  applySeconds: number;
}

const planIdIs = (id: string) => (e: FlotillaEvent) => (e.data as { planId?: string }).planId === id;

async function run(mode: Mode, tag: string): Promise<Sample> {
  const prefix = `pk${tag}`;
  await bench.createNamespaces(prefix, NAMESPACES);
  const objects = mttpObjects(prefix, APPS, NAMESPACES);
  const name = `peak-${tag}`;
  const { proc, pid } = await bench.startApplier(name, MODES[mode], {
    // Checks every few seconds (default a minute) so one runs within the bench; the hand edit
    // below is how the bench knows one ran over all objects after the apply.
    FLOTILLA_DRIFT_INTERVAL_MS: '3000',
  });
  try {
    const readyRss = status(pid).rss;
    const t0 = performance.now();
    const first = await publish(name, objects, 1);
    const done = await waitEvent(
      'the apply',
      (e) => e.type === ApplySucceeded.type && planIdIs(first.planId)(e),
    );
    const applySeconds = (performance.now() - t0) / 1000;
    const counts = (done.data as { counts: { applied: number } }).counts;
    if (counts.applied !== objects.length) throw new Error(`applied ${counts.applied} of ${objects.length}`);
    await waitEvent(
      'health',
      (e) =>
        e.type === HealthChanged.type &&
        planIdIs(first.planId)(e) &&
        ['Current', 'Failed'].includes((e.data as { status: string }).status),
    );
    const second = await publish(name, objects, 2);
    const noop = await waitEvent(
      'the no-op',
      (e) => e.type === ApplySucceeded.type && planIdIs(second.planId)(e),
    );
    if (!(noop.data as { noop: boolean }).noop) throw new Error('second apply was not a no-op');
    // A hand edit of a field Git sets: a drift check over every object finds and corrects it.
    const ns = `${prefix}-0`;
    await kubectl('label', '--overwrite', '-n', ns, 'serviceaccount', 'app-0', 'app=edited');
    await waitEvent(
      'the drift correction',
      (e) =>
        e.type === DriftCorrected.type &&
        (e.data as { cluster: string; object: string }).cluster === name &&
        (e.data as { object: string }).object === `ServiceAccount ${ns}/app-0`,
    );
    return { readyRss, peak: status(pid).hwm, applySeconds };
  } finally {
    killGroup(proc.child, 'SIGTERM');
    await proc.exited;
  }
}

const samples = new Map<Mode, Sample[]>();
try {
  for (let r = 0; r < RUNS; r++) {
    // Rotate which mode goes first so drift in the machine's load does not favour one.
    const order = modes.map((_, i) => modes[(i + r) % modes.length] as Mode);
    for (const mode of order) {
      const s = await run(mode, `${r}${mode[0]}`);
      samples.set(mode, [...(samples.get(mode) ?? []), s]);
      console.log(
        `run ${r + 1} ${mode}: peak ${s.peak.toFixed(1)} MiB, ready ${s.readyRss.toFixed(1)} MiB, apply ${s.applySeconds.toFixed(1)} s, load ${loadavg()[0]?.toFixed(1)}`,
      );
    }
  }
} finally {
  await bench.close();
}

/** What each mode runs, for the results (only the modes run are listed). */
const DESCRIBE: Record<Mode, string> = {
  tsx: '`node --import tsx services/cluster-applier/src/main.ts` (how it ran before #17)',
  image: `\`node ${MODES.image.slice(0, -1).join(' ')} services/cluster-applier/dist/main.js\`, the image's ENTRYPOINT (production)`,
  untuned:
    '`node --enable-source-maps services/cluster-applier/dist/main.js` (the ENTRYPOINT before the young generation was capped)',
  bundle: '`node services/cluster-applier/dist/main.js` (no source maps, no flags)',
  before: `${args['before-label']}, run as \`untuned\``,
};
const med = (m: Mode, f: keyof Sample) => median((samples.get(m) ?? []).map((s) => s[f]));
const base: Mode = modes.includes('tsx') ? 'tsx' : (modes[0] as Mode);
const cmd = `npx tsx bench/runtime/applier-peak.ts --runs=${RUNS} --apps=${APPS} --modes=${modes.join(',')}${args.before ? ` --before=${args.before} --before-label='${args['before-label']}'` : ''}${args.out === 'bench/results/applier-peak.md' ? '' : ` --out=${args.out}`}`;
const loadEnd = loadavg();
const md = `# cluster-applier peak memory on the ${APPS * 4}-object MTTP bundle: tsx vs the production bundle

\`${cmd}\` — ${new Date().toISOString().slice(0, 16)}Z, ${cpus().length} cores, node ${process.version}, one local
kube-apiserver (deploy/testcluster). Load average (1/5/15 min) at start ${loadStart.map((l) => l.toFixed(1)).join(' / ')}, at end ${loadEnd.map((l) => l.toFixed(1)).join(' / ')}.
Median of ${RUNS} runs per mode, modes rotated per run, a fresh applier process per run.

Each run: ready → a signed plan of ${APPS} apps × (Deployment replicas 0, ServiceAccount, Service, Ingress) =
${APPS * 4} objects in ${NAMESPACES} fresh namespaces (fetch, verify, decode, discovery, whole-bundle dry-run, staged
server-side apply, inventory) → health until Current → the same objects as a new plan (no-op) → one hand
edit, found by a drift check over all ${APPS * 4} objects and corrected. **Peak RSS** is the process's VmHWM at
the end; **RSS at ready** is VmRSS before the first plan. *ratio* is ÷ ${base}.
${modes.map((m) => `- **${m}**: ${DESCRIBE[m]}`).join('\n')}

| mode | peak RSS (MiB) | ratio | RSS at ready (MiB) | apply (s) | runs (peak MiB) |
| --- | --- | --- | --- | --- | --- |
${modes
  .map(
    (m) =>
      `| ${m} | **${med(m, 'peak').toFixed(0)}** | ${(med(m, 'peak') / med(base, 'peak')).toFixed(2)} | ${med(m, 'readyRss').toFixed(0)} | ${med(m, 'applySeconds').toFixed(1)} | ${(samples.get(m) ?? []).map((s) => s.peak.toFixed(0)).join(', ')} |`,
  )
  .join('\n')}

Target ≤ ${TARGET_MIB} MiB peak on the production path (image): ${
  modes.includes('image') ? (med('image', 'peak') <= TARGET_MIB ? 'met' : '**missed**') : 'not measured'
}.
`;
writeFileSync(resolve(root, args.out), md);
console.log(md);
process.exit(0);
