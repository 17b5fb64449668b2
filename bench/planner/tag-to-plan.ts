/**
 * The planner's share of push → running (issue 20), side by side in one run: a new image tag →
 * the dev commit → dev's signed plan, then each automatic promotion (soak 1 s) → the next
 * stage's plan, with real NATS, a real git daemon and kubectl in the render sandbox; appliers
 * are played by the test harness (apply and health reported at once), so kube is not part of it.
 *
 *   ahead: the planner as shipped: the clusters a commit of its own changed render while the
 *          push, the fetch and the extract run (`renderAhead`, the default);
 *   after: the same planner rendering them only after the push (`renderAhead: false`);
 *   base:  with `--base=<checkout>`, the planner of another checkout (e.g. a worktree at main's
 *          commit before a change) as shipped (render ahead), through that checkout's own test
 *          harness: a before/after of the change in the same run. The checkout needs `npm ci`.
 *
 * Both use libs/git as it is now (bench/git/commit-path.ts compares its git processes with
 * before). Each has its own NATS, git daemon and repository; releases alternate between them so
 * load swings hit both alike, and each release settles before the next.
 *
 * Run: node scripts/build.ts && npx tsx bench/planner/tag-to-plan.ts [--releases=10] [--base=<checkout>]
 * Writes bench/results/planner-tag-to-plan.md.
 */
import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ImageUpdateCommitted, PlanCreated } from '@flotilla/events';
import { createHarness, digestOf, type Harness } from '../../services/planner/test/harness.ts';
import { percentile } from '../stats.ts';

const { values: args } = parseArgs({
  options: { releases: { type: 'string', default: '10' }, base: { type: 'string' } },
});
const RELEASES = Number(args.releases);
const BASE = args.base;
const baseCommit = BASE
  ? execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: BASE }).toString().trim()
  : undefined;
const SOAK_MS = 1000;
const root = fileURLToPath(new URL('../..', import.meta.url));
const log = (msg: string) => process.stderr.write(`${msg}\n`);

type Leg = 'tag → dev committed' | 'tag → dev plan' | 'test step beyond soak' | 'uat step beyond soak';
const LEGS: Leg[] = [
  'tag → dev committed',
  'tag → dev plan',
  'test step beyond soak',
  'uat step beyond soak',
];

async function setup(renderAhead: boolean, harness = createHarness): Promise<Harness> {
  const h = await harness();
  h.simulateAppliers();
  await h.start({ renderAhead });
  for (const c of ['dev', 'test', 'uat', 'prod']) await h.events.wait(PlanCreated, (d) => d.cluster === c);
  await h.drained(120_000);
  return h;
}

async function release(h: Harness, n: number): Promise<Record<Leg, number>> {
  const tag = `1.4.${100 + n}`;
  const seq = (c: string) => h.events.of(PlanCreated, (d) => d.cluster === c).length;
  const before = { dev: seq('dev'), test: seq('test'), uat: seq('uat') };
  const next = (c: 'dev' | 'test' | 'uat') =>
    h.events.wait(PlanCreated, (d) => d.cluster === c && (d.sequence as number) > before[c], 120_000);
  const t0 = Date.now();
  await h.tag(tag, digestOf(`web-${tag}`));
  await h.events.wait(ImageUpdateCommitted, (d) => d.tag === tag, 120_000);
  const committed = Date.now();
  await next('dev');
  const dev = Date.now();
  await next('test');
  const test = Date.now();
  await next('uat');
  const uat = Date.now();
  await h.drained(120_000);
  return {
    'tag → dev committed': committed - t0,
    'tag → dev plan': dev - t0,
    'test step beyond soak': test - dev - SOAK_MS,
    'uat step beyond soak': uat - test - SOAK_MS,
  };
}

type Lane = 'ahead' | 'after' | 'base';
const lanes: Lane[] = ['ahead', 'after', ...(BASE ? (['base'] as const) : [])];
const harnesses = new Map<Lane, Harness>();
const results: Record<Lane, Array<Record<Leg, number>>> = { ahead: [], after: [], base: [] };
try {
  harnesses.set('ahead', await setup(true));
  harnesses.set('after', await setup(false));
  if (BASE) {
    const baseHarness = (await import(join(BASE, 'services/planner/test/harness.ts')))
      .createHarness as typeof createHarness;
    harnesses.set('base', await setup(true, baseHarness));
  }
  for (let i = 0; i < RELEASES; i++) {
    // Rotating the order, so no lane always runs right after the same other one.
    for (const which of lanes.map((_, j) => lanes[(i + j) % lanes.length] as Lane))
      results[which].push(await release(harnesses.get(which) as Harness, i));
    log(`${i + 1}/${RELEASES}`);
  }
} finally {
  for (const h of harnesses.values()) await h.stop();
}

const cell = (which: Lane, leg: Leg) => {
  const xs = results[which].map((r) => r[leg]);
  return `${Math.round(percentile(xs, 50))} ms / ${Math.round(percentile(xs, 90))} ms`;
};
const ratio = (over: Lane, leg: Leg) =>
  (
    percentile(
      results[over].map((r) => r[leg]),
      50,
    ) /
    percentile(
      results.ahead.map((r) => r[leg]),
      50,
    )
  ).toFixed(2);
const md = `# Planner: image tag → signed plans, render ahead of the push vs after it

\`node scripts/build.ts && npx tsx bench/planner/tag-to-plan.ts --releases=${RELEASES}${BASE ? ` --base=<checkout at ${baseCommit}>` : ''}\` (${new Date().toISOString()},
${cpus().length} cores, load average at the end ${loadavg()
  .map((l) => l.toFixed(1))
  .join(' ')}).

Real NATS, git daemon and sandboxed \`kubectl kustomize\` (services/planner/test/fixtures/shop-config:
dev → test → uat automatically with a 1 s soak); appliers played by the test harness (apply and
health reported at once). Per release: the ImageTagDetected is published, then times where
the bench receives each event. **ahead** is the planner as shipped (the clusters a commit of its
own changed render while its push, fetch and extract run); **after** renders them only after the
push (\`renderAhead: false\`). Both use libs/git as it is now.${BASE ? ` **base** is the planner of the checkout at ${baseCommit} as shipped (render ahead), through that checkout's own harness.` : ''} ${RELEASES} releases each,
alternating (order rotating).

| leg | ahead p50 / p90 | after p50 / p90 | after / ahead (p50) |${BASE ? ' base p50 / p90 | base / ahead (p50) |' : ''}
|---|---|---|---|${BASE ? '---|---|' : ''}
${LEGS.map((leg) => `| ${leg} | ${cell('ahead', leg)} | ${cell('after', leg)} | ${ratio('after', leg)}× |${BASE ? ` ${cell('base', leg)} | ${ratio('base', leg)}× |` : ''}`).join('\n')}
`;
await writeFile(join(root, 'bench/results/planner-tag-to-plan.md'), md);
process.stdout.write(md);
