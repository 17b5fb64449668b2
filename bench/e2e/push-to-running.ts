/**
 * Push-to-running latency on the real stack (NATS, git daemon, docker-registry, four kube
 * apiservers with KWOK, every service a separate process): releases pushed one by one, each
 * followed dev → test → uat → (approval) → prod before the next is pushed.
 *
 * Two runs, side by side on the same machine:
 *   - flotilla: the stack as shipped in tests and the demo (registry webhook, the planner renders
 *     its own pushes at once, plans pushed to appliers over NATS);
 *   - poll-based: configured like Flux's and Argo CD's defaults: no webhooks, the registry polled
 *     every --poll (default 60 s: Flux's ImageRepository interval in its guides; Argo CD Image
 *     Updater polls every 2 m), the config repo polled every --poll (Flux's GitRepository 1 m;
 *     Argo CD 3 m), and the planner does not render its own pushes but waits for the git poll, as
 *     an image-automation controller's commit reaches Flux/Argo only through the source poll.
 *     Promotion rules, soak, rendering, signing and applying are the same code.
 *
 * Measured per release from the event stream (timestamps where the bench receives each event):
 * push → dev applied (ApplySucceeded) and healthy (HealthChanged Current), each automatic
 * promotion step (previous stage healthy → next stage applied) minus its soak, approval → prod
 * applied. The flotilla run exports OpenTelemetry spans (OTLP http/json) to a receiver in this
 * process: per span name, count, p50 and p99, i.e. where the time goes.
 *
 * Run: node scripts/build.ts && npx tsx bench/e2e/push-to-running.ts [--releases=30 --baseline-releases=3 --poll=60s]
 * Writes bench/results/push-to-running.md (or --out).
 */

import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  ApplySucceeded,
  decodeEvent,
  type FlotillaEvent,
  HealthChanged,
  ImageTagDetected,
  ImageUpdateCommitted,
  PlanCreated,
  PromotionAwaitingApproval,
  PromotionCommitted,
} from '@flotilla/events';
import { type FlotillaStack, pushImage, startFlotillaStack } from '@flotilla/test-support';
import { connect } from '@nats-io/transport-node';
import { median, percentile } from '../stats.ts';

const { values: args } = parseArgs({
  options: {
    releases: { type: 'string', default: '30' },
    'baseline-releases': { type: 'string', default: '3' },
    poll: { type: 'string', default: '60s' },
    /** Where the results go (a before/after comparison keeps both). */
    out: { type: 'string', default: 'bench/results/push-to-running.md' },
  },
});
const RELEASES = Number(args.releases);
const BASELINE_RELEASES = Number(args['baseline-releases']);
const POLL_MS = parseSeconds(args.poll as string) * 1000;
const SOAK_MS = 1000; // examples/shop-config: test and uat soak 1 s
const root = fileURLToPath(new URL('../..', import.meta.url));

function parseSeconds(s: string): number {
  const m = /^(\d+)(s|m)?$/.exec(s);
  if (!m) throw new Error(`--poll: "${s}" is not like 60s or 1m`);
  return Number(m[1]) * (m[2] === 'm' ? 60 : 1);
}

const p50 = (xs: number[]) => percentile(xs, 50);
const p99 = (xs: number[]) => percentile(xs, 99);
const fmt = (ms: number) =>
  Number.isNaN(ms) ? '–' : ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`;

/** Events as they arrive, with the bench's receive time; waiters resolve on a match. */
class Arrivals {
  private readonly seen: Array<{ at: number; e: FlotillaEvent }> = [];
  private waiters: Array<() => void> = [];
  push(e: FlotillaEvent) {
    this.seen.push({ at: Date.now(), e });
    for (const w of this.waiters.splice(0)) w();
  }
  async wait(what: string, pred: (e: FlotillaEvent) => boolean, since: number, timeoutMs: number) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.seen.find((s) => s.at >= since && pred(s.e));
      if (hit) return hit;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 1000);
      });
    }
  }
}

interface Release {
  devApplied: number;
  devHealthy: number;
  steps: number[];
  approvalToProd: number;
  hops: Record<string, number>;
}

type D = Record<string, unknown>;
const hasDigest = (e: FlotillaEvent, digest: string) =>
  ((e.data as D).images as Array<{ digest: string }> | undefined)?.some((i) => i.digest === digest) === true;

async function release(
  stack: FlotillaStack,
  arrivals: Arrivals,
  n: number,
  timeoutMs: number,
): Promise<Release> {
  const tag = `1.4.${100 + n}`;
  const { digest } = await pushImage(stack.registry, {
    repo: 'shop/web',
    tag,
    content: `web ${tag} ${Date.now()}`,
  });
  const t0 = Date.now();
  const applied = (cluster: string, commit: string) =>
    arrivals.wait(
      `${cluster} applied ${commit.slice(0, 12)}`,
      (e) =>
        e.type === ApplySucceeded.type &&
        (e.data as D).cluster === cluster &&
        (e.data as D).revision === commit,
      t0,
      timeoutMs,
    );
  // The plan the applier got: splits "committed → applied" into the planner's part and the applier's.
  const planned = (cluster: string, commit: string) =>
    arrivals.wait(
      `${cluster} plan at ${commit.slice(0, 12)}`,
      (e) =>
        e.type === PlanCreated.type && (e.data as D).cluster === cluster && (e.data as D).revision === commit,
      t0,
      timeoutMs,
    );
  const healthy = (cluster: string, commit: string) =>
    arrivals.wait(
      `${cluster} healthy at ${commit.slice(0, 12)}`,
      (e) =>
        e.type === HealthChanged.type &&
        (e.data as D).cluster === cluster &&
        (e.data as D).revision === commit &&
        (e.data as D).status === 'Current',
      t0,
      timeoutMs,
    );
  const update = await arrivals.wait(
    `dev update to ${tag}`,
    (e) => e.type === ImageUpdateCommitted.type && (e.data as D).digest === digest,
    t0,
    timeoutMs,
  );
  // From any time: the registry's webhook can make the watcher report the tag before pushImage
  // returns (t0); the digest is this release's alone.
  const detected = await arrivals.wait(
    `tag ${tag} detected`,
    (e) => e.type === ImageTagDetected.type && (e.data as D).digest === digest,
    0,
    timeoutMs,
  );
  const devCommit = (update.e.data as D).commit as string;
  const devApplied = await applied('dev', devCommit);
  const devPlanned = await planned('dev', devCommit);
  const devHealthy = await healthy('dev', devCommit);
  let prevHealthy = devHealthy;
  const hops: Record<string, number> = {
    'push → tag detected (registry-watcher)': Math.max(0, detected.at - t0),
    'tag detected → update committed (planner)': update.at - detected.at,
    'update committed → dev plan created': devPlanned.at - update.at,
    'dev plan created → dev applied': devApplied.at - devPlanned.at,
    'dev applied → dev healthy': devHealthy.at - devApplied.at,
  };
  const steps: number[] = [];
  for (const stage of ['test', 'uat']) {
    const promoted = await arrivals.wait(
      `promotion to ${stage}`,
      (e) => e.type === PromotionCommitted.type && (e.data as D).toStage === stage && hasDigest(e, digest),
      t0,
      timeoutMs,
    );
    const commit = (promoted.e.data as D).commit as string;
    const stageApplied = await applied(stage, commit);
    const stagePlanned = await planned(stage, commit);
    steps.push(stageApplied.at - prevHealthy.at - SOAK_MS);
    hops[`${stage}: healthy before → promotion committed (incl. soak)`] = promoted.at - prevHealthy.at;
    hops[`${stage}: promotion committed → plan created`] = stagePlanned.at - promoted.at;
    hops[`${stage}: plan created → applied`] = stageApplied.at - stagePlanned.at;
    prevHealthy = await healthy(stage, commit);
  }
  const awaiting = await arrivals.wait(
    'prod awaiting approval',
    (e) => e.type === PromotionAwaitingApproval.type && hasDigest(e, digest),
    t0,
    timeoutMs,
  );
  const id = (awaiting.e.data as D).promotionId as string;
  const tApprove = Date.now();
  const res = await fetch(`${stack.plannerUrl}/api/v1/promotions/${encodeURIComponent(id)}/approve`, {
    method: 'POST',
    headers: { authorization: `Bearer ${stack.tokens.approver}`, 'content-type': 'application/json' },
    body: JSON.stringify({ comment: 'bench' }),
  });
  if (!res.ok) throw new Error(`approve ${id}: ${res.status} ${await res.text()}`);
  const committed = await arrivals.wait(
    'prod promotion committed',
    (e) => e.type === PromotionCommitted.type && (e.data as D).toStage === 'prod' && hasDigest(e, digest),
    tApprove,
    timeoutMs,
  );
  const prodApplied = await applied('prod', (committed.e.data as D).commit as string);
  const prodPlanned = await planned('prod', (committed.e.data as D).commit as string);
  hops['approval → prod promotion committed'] = committed.at - tApprove;
  hops['prod promotion committed → plan created'] = prodPlanned.at - committed.at;
  hops['prod plan created → applied'] = prodApplied.at - prodPlanned.at;
  return {
    devApplied: devApplied.at - t0,
    devHealthy: devHealthy.at - t0,
    steps,
    approvalToProd: prodApplied.at - tApprove,
    hops,
  };
}

/** OTLP http/json receiver: spans by name (durations in ms). */
async function spanReceiver() {
  const byName = new Map<string, number[]>();
  let on = true;
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      try {
        const parsed = JSON.parse(body) as {
          resourceSpans?: Array<{
            scopeSpans?: Array<{
              spans?: Array<{ name: string; startTimeUnixNano: string; endTimeUnixNano: string }>;
            }>;
          }>;
        };
        if (on)
          for (const rs of parsed.resourceSpans ?? [])
            for (const ss of rs.scopeSpans ?? [])
              for (const s of ss.spans ?? []) {
                const ms = Number((BigInt(s.endTimeUnixNano) - BigInt(s.startTimeUnixNano)) / 1000n) / 1000;
                const name = s.name.startsWith('handle ')
                  ? s.name.replace(/^handle io\.flotilla\.(.*)\.v1$/, 'handle $1')
                  : s.name;
                byName.set(name, [...(byName.get(name) ?? []), ms]);
              }
      } catch {}
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    byName,
    reset: () => byName.clear(),
    stop: () => {
      on = false;
      server.close();
    },
  };
}

async function run(
  label: string,
  releases: number,
  opts: Parameters<typeof startFlotillaStack>[0],
  timeoutMs: number,
  onStarted?: () => void,
) {
  console.log(`[${label}] starting the stack`);
  const stack = await startFlotillaStack({ ...opts, onProgress: (l) => console.log(`[${label}] ${l}`) });
  const arrivals = new Arrivals();
  const nc = await connect({ servers: stack.nats.url });
  const sub = nc.subscribe('flotilla.v1.>');
  void (async () => {
    for await (const m of sub) {
      try {
        arrivals.push(decodeEvent(m.data, { subject: m.subject }));
      } catch {}
    }
  })();
  try {
    // The fixture's own first render reaches every cluster before the first release.
    for (const c of ['dev', 'test', 'uat', 'prod'])
      await arrivals.wait(
        `${c} first apply`,
        (e) => e.type === ApplySucceeded.type && (e.data as D).cluster === c,
        0,
        300_000,
      );
    onStarted?.();
    const out: Release[] = [];
    for (let i = 1; i <= releases; i++) {
      const r = await release(stack, arrivals, i, timeoutMs);
      out.push(r);
      console.log(
        `[${label}] release ${i}/${releases}: dev applied ${fmt(r.devApplied)}, steps ${r.steps.map(fmt).join(' / ')}, approval → prod ${fmt(r.approvalToProd)}`,
      );
    }
    return out;
  } finally {
    await nc.close();
    await stack.stop();
  }
}

/** The 1-minute load average every 5 s, per run: the machine is shared, so the figures say how busy it was. */
function loadSampler() {
  const samples: number[] = [];
  const take = () => samples.push(loadavg()[0] as number);
  take();
  const timer = setInterval(take, 5000);
  return {
    stop: () => {
      clearInterval(timer);
      take();
      return samples;
    },
  };
}
const loadRange = (xs: number[]) =>
  xs.length === 0
    ? '–'
    : `${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)} (median ${median(xs).toFixed(1)})`;

const receiver = await spanReceiver();
const started = new Date();
let sampler = loadSampler();
const flotilla = await run(
  'flotilla',
  RELEASES,
  {
    env: {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_BSP_SCHEDULE_DELAY: '500',
    },
  },
  300_000,
  () => receiver.reset(),
);
receiver.stop();
const flotillaLoad = sampler.stop();
sampler = loadSampler();
const baseline =
  BASELINE_RELEASES > 0
    ? await run(
        'poll-based',
        BASELINE_RELEASES,
        {
          overrides: {
            planner: { renderOwnPush: false },
            'git-watcher': { poll: { intervalMs: POLL_MS, jitter: 0.1 } },
            'registry-watcher': { poll: { intervalMs: POLL_MS } },
          },
          registryWebhooks: false,
        },
        10 * POLL_MS + 300_000,
      )
    : [];
const baselineLoad = sampler.stop();

const rows = (rs: Release[]) => ({
  devApplied: rs.map((r) => r.devApplied),
  devHealthy: rs.map((r) => r.devHealthy),
  steps: rs.flatMap((r) => r.steps),
  approval: rs.map((r) => r.approvalToProd),
});
const a = rows(flotilla);
const b = rows(baseline);
const ratio = (x: number[], y: number[]) => (y.length && x.length ? `${(p50(y) / p50(x)).toFixed(0)}×` : '–');
const line = (name: string, x: number[], y: number[]) =>
  `| ${name} | ${fmt(p50(x))} | ${fmt(p99(x))} | ${fmt(p50(y))} | ${fmt(p99(y))} | ${ratio(x, y)} |`;

const hopNames = Object.keys(flotilla[0]?.hops ?? {});
const spans = [...receiver.byName.entries()]
  .map(([name, ms]) => ({
    name,
    n: ms.length,
    p50: p50(ms),
    p99: p99(ms),
    total: ms.reduce((s, x) => s + x, 0),
  }))
  .sort((x, y) => y.total - x.total);

const loads = [
  `load average at the end ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}`,
  `1-minute load average sampled every 5 s: flotilla run ${loadRange(flotillaLoad)}`,
  `poll-based run ${loadRange(baselineLoad)}`,
].join('; ');
const md = `# Push to running: latency from image push to each stage applied

\`node scripts/build.ts && npx tsx bench/e2e/push-to-running.ts --releases=${RELEASES} --baseline-releases=${BASELINE_RELEASES} --poll=${args.poll}${args.out === 'bench/results/push-to-running.md' ? '' : ` --out=${args.out}`}\`
(${started.toISOString()}, ${cpus().length} cores, ${loads}).

Real stack: nats-server, git daemon, docker-registry, four kube-apiservers with KWOK (dev, test,
uat, prod), every service a separate process. Releases are pushed one by one; each goes dev →
test → uat automatically (soak 1 s) and to prod after an approval, before the next is pushed.
Times are where this bench receives the events (ApplySucceeded = applied, HealthChanged Current =
healthy). A step is "previous stage healthy → next stage applied" minus the 1 s soak.

**flotilla**: as shipped (registry webhook, the planner renders its own pushes at once), with
OpenTelemetry on (OTLP http/json to a receiver in the bench), ${flotilla.length} releases.
**poll-based**: configured like Flux's and Argo CD's defaults, ${baseline.length} releases: no
webhooks, registry and config repo polled every ${args.poll} (Flux GitRepository and ImageRepository
intervals as in its guides; Argo CD polls Git every 3 m, so it would be slower still), and the
planner waits for the git poll to see its own commits, as Flux/Argo see an automation commit only
through the source poll. Same promotion, render, sign and apply code; fewer releases because each
takes minutes.

| | flotilla p50 | flotilla p99 | poll-based p50 | poll-based p99 | ratio (p50) |
|---|---|---|---|---|---|
${line('push → dev applied', a.devApplied, b.devApplied)}
${line('push → dev healthy (Available)', a.devHealthy, b.devHealthy)}
${line('promotion step minus soak (test, uat)', a.steps, b.steps)}
${line('approval → prod applied', a.approval, b.approval)}

## Where the time goes (flotilla run)

Per hop, from the event stream (p50 / p99 over ${flotilla.length} releases):

| hop | p50 | p99 |
|---|---|---|
${hopNames.map((h) => `| ${h} | ${fmt(p50(flotilla.map((r) => r.hops[h] as number)))} | ${fmt(p99(flotilla.map((r) => r.hops[h] as number)))} |`).join('\n')}

Per span (OpenTelemetry, every service; sorted by total time; a handler span contains the spans
it caused in the same process):

| span | count | p50 | p99 | total |
|---|---|---|---|---|
${spans.map((s) => `| ${s.name} | ${s.n} | ${fmt(s.p50)} | ${fmt(s.p99)} | ${fmt(s.total)} |`).join('\n')}
`;
writeFileSync(`${root}/${args.out}`, md);
console.log(md);
process.exit(0);
