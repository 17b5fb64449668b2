/**
 * Push-to-running latency on the real stack (NATS, git daemon, docker-registry, four kube
 * apiservers with KWOK, every service a separate process): releases pushed one by one, each
 * followed dev → test → uat → (approval) → prod before the next is pushed; then config commits
 * pushed one by one by a user (a ConfigMap value under dev's path), each followed to dev applied.
 *
 * Two runs, side by side on the same machine:
 *   - flotilla: the stack as shipped in tests and the demo (registry webhook, the planner renders
 *     its own pushes at once, plans pushed to appliers over NATS);
 *     The git forge's push webhook (GitHub's payload, signed) is delivered for each user commit
 *     (github-push-webhook.ts; the git daemon has no webhooks of its own);
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
 * applied; per config commit: pushed → GitCommitDetected → PlanCreated → ApplySucceeded (dev). The
 * flotilla run exports OpenTelemetry spans (OTLP http/json) to a receiver in this
 * process: per service and span name, count, p50 and p99, i.e. where the time goes, per phase.
 *
 * Run: node scripts/build.ts && npx tsx bench/e2e/push-to-running.ts [--releases=30 --baseline-releases=3
 *   --commits=30 --baseline-commits=3 --poll=60s]
 * Writes bench/results/push-to-running.md (or --out).
 */

import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  ApplySucceeded,
  decodeEvent,
  type FlotillaEvent,
  GitCommitDetected,
  HealthChanged,
  ImageTagDetected,
  ImageUpdateCommitted,
  PlanCreated,
  PromotionAwaitingApproval,
  PromotionCommitted,
} from '@flotilla/events';
import {
  cloneConfigRepo,
  type FlotillaStack,
  type GitWorkdir,
  pushImage,
  startFlotillaStack,
} from '@flotilla/test-support';
import { CoreV1Api } from '@kubernetes/client-node';
import { connect } from '@nats-io/transport-node';
import { median, percentile } from '../stats.ts';
import { type GithubPushHook, githubPushHook } from './github-push-webhook.ts';

const { values: args } = parseArgs({
  options: {
    releases: { type: 'string', default: '30' },
    'baseline-releases': { type: 'string', default: '3' },
    /** Config commits pushed by a user after the releases (flotilla run / poll-based run). */
    commits: { type: 'string', default: '30' },
    'baseline-commits': { type: 'string', default: '3' },
    poll: { type: 'string', default: '60s' },
    /** Where the results go (a before/after comparison keeps both). */
    out: { type: 'string', default: 'bench/results/push-to-running.md' },
  },
});
const RELEASES = Number(args.releases);
const BASELINE_RELEASES = Number(args['baseline-releases']);
const COMMITS = Number(args.commits);
const BASELINE_COMMITS = Number(args['baseline-commits']);
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

interface ConfigCommit {
  /** Commit pushed (the user's `git push` returned) → dev applied (ApplySucceeded at the commit). */
  applied: number;
  /** What made the git-watcher check: `webhook` or `poll` (GitCommitDetected.trigger). */
  trigger: string;
  hops: Record<string, number>;
  sha: string;
  /** When the bench received GitCommitDetected and dev's PlanCreated (epoch ms). */
  detectedAt: number;
  plannedAt: number;
}

/** A ConfigMap under dev's path (clusters/dev), its value changed by each commit. */
const SETTINGS_FILE = 'clusters/dev/bench-settings.yaml';
const settings = (value: string) =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bench-settings\n  namespace: shop\ndata:\n  value: "${value}"\n`;

/**
 * A user's commits to the config repo, pushed one by one; with `hook`, the forge's signed push
 * webhook is delivered to the git-watcher as soon as each push is accepted.
 */
async function configCommits(
  stack: FlotillaStack,
  arrivals: Arrivals,
  count: number,
  timeoutMs: number,
  hook: GithubPushHook | undefined,
  log: (line: string) => void,
): Promise<ConfigCommit[]> {
  const work = await cloneConfigRepo(stack);
  try {
    // Not timed: the first commit adds the ConfigMap to dev's kustomization (a warm-up of the path).
    await configCommit(stack, arrivals, work, 'add bench-settings', timeoutMs, hook, async () => {
      const kustomization = `${work.dir}/clusters/dev/kustomization.yaml`;
      const text = readFileSync(kustomization, 'utf8');
      if (!text.includes('  - ../../apps/web\n')) throw new Error(`unexpected ${kustomization}:\n${text}`);
      await work.writeFile(SETTINGS_FILE, settings('0'));
      await work.writeFile(
        'clusters/dev/kustomization.yaml',
        text.replace('  - ../../apps/web\n', '  - ../../apps/web\n  - bench-settings.yaml\n'),
      );
    });
    const out: ConfigCommit[] = [];
    for (let i = 1; i <= count; i++) {
      const c = await configCommit(stack, arrivals, work, `value ${i}`, timeoutMs, hook, () =>
        work.writeFile(SETTINGS_FILE, settings(String(i))),
      );
      out.push(c);
      log(`commit ${i}/${count}: dev applied ${fmt(c.applied)} (${c.trigger})`);
    }
    // Applied means on the apiserver: the last value is what dev's ConfigMap holds.
    const dev = stack.clusters.find((c) => c.name === 'dev');
    if (dev) {
      const cm = await dev.kubeConfig
        .makeApiClient(CoreV1Api)
        .readNamespacedConfigMap({ name: 'bench-settings', namespace: 'shop' });
      if (cm.data?.value !== String(count))
        throw new Error(`dev's ConfigMap holds ${cm.data?.value}, not the last commit's ${count}`);
    }
    return out;
  } finally {
    await work.remove();
  }
}

async function configCommit(
  stack: FlotillaStack,
  arrivals: Arrivals,
  work: GitWorkdir,
  what: string,
  timeoutMs: number,
  hook: GithubPushHook | undefined,
  change: () => Promise<void>,
): Promise<ConfigCommit> {
  // On top of whatever the planner pushed meanwhile (its image updates and promotions).
  await work.pull();
  const before = await work.head();
  await change();
  await work.commit(`dev: bench ${what}`);
  await work.push();
  const t0 = Date.now();
  const sha = await work.head();
  let answered = t0;
  if (hook) {
    const gitWatcher = stack.services.get('git-watcher');
    if (!gitWatcher) throw new Error('no git-watcher in the stack');
    const status = await hook.deliver(`${gitWatcher.url}/hooks/github`, {
      repoUrl: stack.configRepoUrl,
      fullName: 'flotilla/shop-config',
      before,
      after: sha,
      branch: 'main',
    });
    if (status !== 202) throw new Error(`the git-watcher answered the push webhook with ${status}`);
    answered = Date.now();
  }
  // From any time: the sha is this commit's alone, and the watcher's poll can see the push before
  // `git push` returns.
  const detected = await arrivals.wait(
    `commit ${sha.slice(0, 12)} detected`,
    (e) => e.type === GitCommitDetected.type && (e.data as D).sha === sha,
    0,
    timeoutMs,
  );
  const planned = await arrivals.wait(
    `dev plan at ${sha.slice(0, 12)}`,
    (e) => e.type === PlanCreated.type && (e.data as D).cluster === 'dev' && (e.data as D).revision === sha,
    0,
    timeoutMs,
  );
  const applied = await arrivals.wait(
    `dev applied ${sha.slice(0, 12)}`,
    (e) =>
      e.type === ApplySucceeded.type && (e.data as D).cluster === 'dev' && (e.data as D).revision === sha,
    0,
    timeoutMs,
  );
  return {
    sha,
    detectedAt: detected.at,
    plannedAt: planned.at,
    applied: applied.at - t0,
    trigger: String((detected.e.data as D).trigger),
    hops: {
      ...(hook ? { 'pushed → webhook answered (202)': answered - t0 } : {}),
      'pushed → commit detected (git-watcher)': Math.max(0, detected.at - t0),
      'commit detected → dev plan created (planner)': planned.at - detected.at,
      'dev plan created → dev applied (applier)': applied.at - planned.at,
    },
  };
}

/**
 * The planner's part of one commit (GitCommitDetected received → dev's PlanCreated received) cut
 * at its spans: the handler's trace holds the fetch and the revision's dispatch (both name the
 * commit), the renders name the revision. Same clock: every process runs on this machine.
 */
function plannerTimeline(c: ConfigCommit, spans: readonly RawSpan[]): Record<string, number> | undefined {
  const dispatch = spans.find((s) => s.name === 'planner: plan revision' && s.revision === c.sha);
  if (!dispatch) return undefined;
  const inTrace = spans.filter((s) => s.traceId === dispatch.traceId);
  const handler = inTrace.find((s) => s.name === 'planner: handle git.commit-detected');
  const fetch = inTrace.find((s) => s.name === 'planner: git fetch');
  const renders = spans.filter((s) => s.name === 'planner: render' && s.revision === c.sha);
  if (!handler || !fetch || renders.length === 0) return undefined;
  const rendered = Math.max(...renders.map((r) => r.end));
  // The changed cluster's render (a kustomize build) beside the others' (the render cache's answer
  // after a walk of their inputs): which one the leg waits for.
  const dev = renders.filter((r) => r.cluster === 'dev');
  const others = renders.filter((r) => r.cluster !== 'dev');
  const took = (rs: RawSpan[]) => Math.max(...rs.map((r) => r.end - r.start));
  return {
    'GitCommitDetected received → planner handler starts (delivery, consumer)': handler.start - c.detectedAt,
    'handler starts → fetch of the commit done': fetch.end - handler.start,
    'fetch done → dispatch starts (revision queue)': dispatch.start - fetch.end,
    'dispatch (check out, open, hand to the lane)': dispatch.end - dispatch.start,
    'dispatch done → renders start (lane)': Math.min(...renders.map((r) => r.start)) - dispatch.end,
    [`renders (${renders.length} clusters, first start → last end)`]:
      rendered - Math.min(...renders.map((r) => r.start)),
    ...(dev.length > 0 ? { '  of which: the dev render (its files changed)': took(dev) } : {}),
    ...(others.length > 0
      ? { [`  of which: the slowest of the other ${others.length} (inputs unchanged)`]: took(others) }
      : {}),
    'renders done → dev PlanCreated received (decision queue, store, sign, publish)': c.plannedAt - rendered,
  };
}

/** OTLP http/json receiver: spans by service and name (durations in ms). */
type Spans = Map<string, number[]>;
/** One span as received: epoch ms, and the revision it names (flotilla.revision), if any. */
interface RawSpan {
  name: string;
  traceId: string;
  start: number;
  end: number;
  revision?: string;
  cluster?: string;
}
async function spanReceiver() {
  let byName: Spans = new Map();
  let raw: RawSpan[] = [];
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
            resource?: { attributes?: Array<{ key: string; value: { stringValue?: string } }> };
            scopeSpans?: Array<{
              spans?: Array<{
                name: string;
                traceId: string;
                startTimeUnixNano: string;
                endTimeUnixNano: string;
                attributes?: Array<{ key: string; value: { stringValue?: string } }>;
              }>;
            }>;
          }>;
        };
        if (on)
          for (const rs of parsed.resourceSpans ?? []) {
            // Services share span names (git fetch, handle …): the table keeps them apart.
            const service =
              rs.resource?.attributes?.find((a) => a.key === 'service.name')?.value.stringValue ?? '?';
            for (const ss of rs.scopeSpans ?? [])
              for (const s of ss.spans ?? []) {
                const ms = Number((BigInt(s.endTimeUnixNano) - BigInt(s.startTimeUnixNano)) / 1000n) / 1000;
                const name = `${service}: ${s.name.replace(/^handle io\.flotilla\.(.*)\.v1$/, 'handle $1')}`;
                byName.set(name, [...(byName.get(name) ?? []), ms]);
                const attr = (key: string) => s.attributes?.find((a) => a.key === key)?.value.stringValue;
                const revision = attr('flotilla.revision');
                const cluster = attr('flotilla.cluster');
                raw.push({
                  name,
                  traceId: s.traceId,
                  start: Number(BigInt(s.startTimeUnixNano) / 1000n) / 1000,
                  end: Number(BigInt(s.endTimeUnixNano) / 1000n) / 1000,
                  ...(revision ? { revision } : {}),
                  ...(cluster ? { cluster } : {}),
                });
              }
          }
      } catch {}
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    /** The spans received since the last take (or start). */
    take: (): { byName: Spans; raw: RawSpan[] } => {
      const taken = { byName, raw };
      byName = new Map();
      raw = [];
      return taken;
    },
    stop: () => {
      on = false;
      server.close();
    },
  };
}
type SpanReceiver = Awaited<ReturnType<typeof spanReceiver>>;

interface RunResult {
  releases: Release[];
  commits: ConfigCommit[];
  /** Per phase, when the run has a span receiver. */
  spans: { releases: Spans; commits: Spans; commitsRaw: RawSpan[] };
}

async function run(
  label: string,
  o: {
    releases: number;
    commits: number;
    stack: Parameters<typeof startFlotillaStack>[0];
    timeoutMs: number;
    spans?: SpanReceiver;
    hook?: GithubPushHook;
  },
): Promise<RunResult> {
  console.log(`[${label}] starting the stack`);
  const stack = await startFlotillaStack({ ...o.stack, onProgress: (l) => console.log(`[${label}] ${l}`) });
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
  // Spans are exported in batches (OTEL_BSP_SCHEDULE_DELAY 500 ms): a phase's last ones arrive
  // after it ends, so each phase's are taken a little after it.
  const settleSpans = async () => {
    if (o.spans) await new Promise((r) => setTimeout(r, 1500));
    return o.spans?.take() ?? { byName: new Map(), raw: [] };
  };
  try {
    // The fixture's own first render reaches every cluster before the first release.
    for (const c of ['dev', 'test', 'uat', 'prod'])
      await arrivals.wait(
        `${c} first apply`,
        (e) => e.type === ApplySucceeded.type && (e.data as D).cluster === c,
        0,
        300_000,
      );
    await settleSpans();
    const releases: Release[] = [];
    for (let i = 1; i <= o.releases; i++) {
      const r = await release(stack, arrivals, i, o.timeoutMs);
      releases.push(r);
      console.log(
        `[${label}] release ${i}/${o.releases}: dev applied ${fmt(r.devApplied)}, steps ${r.steps.map(fmt).join(' / ')}, approval → prod ${fmt(r.approvalToProd)}`,
      );
    }
    const releaseSpans = (await settleSpans()).byName;
    const commits =
      o.commits > 0
        ? await configCommits(stack, arrivals, o.commits, o.timeoutMs, o.hook, (l) =>
            console.log(`[${label}] ${l}`),
          )
        : [];
    const commitSpans = await settleSpans();
    return {
      releases,
      commits,
      spans: { releases: releaseSpans, commits: commitSpans.byName, commitsRaw: commitSpans.raw },
    };
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
const hook = githubPushHook();
const started = new Date();
let sampler = loadSampler();
const flotilla = await run('flotilla', {
  releases: RELEASES,
  commits: COMMITS,
  stack: {
    env: {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_BSP_SCHEDULE_DELAY: '500',
    },
    // The forge's push webhooks reach the git-watcher (its 1 s poll as in the stack stays).
    overrides: { 'git-watcher': { webhooks: { githubSecret: hook.secret } } },
  },
  timeoutMs: 300_000,
  spans: receiver,
  hook,
});
receiver.stop();
const flotillaLoad = sampler.stop();
sampler = loadSampler();
const baseline =
  BASELINE_RELEASES + BASELINE_COMMITS > 0
    ? await run('poll-based', {
        releases: BASELINE_RELEASES,
        commits: BASELINE_COMMITS,
        stack: {
          overrides: {
            planner: { renderOwnPush: false },
            'git-watcher': { poll: { intervalMs: POLL_MS, jitter: 0.1 } },
            'registry-watcher': { poll: { intervalMs: POLL_MS } },
          },
          registryWebhooks: false,
        },
        timeoutMs: 10 * POLL_MS + 300_000,
      })
    : { releases: [], commits: [] };
const baselineLoad = sampler.stop();

const rows = (rs: Release[]) => ({
  devApplied: rs.map((r) => r.devApplied),
  devHealthy: rs.map((r) => r.devHealthy),
  steps: rs.flatMap((r) => r.steps),
  approval: rs.map((r) => r.approvalToProd),
});
const a = rows(flotilla.releases);
const b = rows(baseline.releases);
const ratio = (x: number[], y: number[]) => (y.length && x.length ? `${(p50(y) / p50(x)).toFixed(0)}×` : '–');
const line = (name: string, x: number[], y: number[]) =>
  `| ${name} | ${fmt(p50(x))} | ${fmt(p99(x))} | ${fmt(p50(y))} | ${fmt(p99(y))} | ${ratio(x, y)} |`;
const hopOf = (xs: Array<{ hops: Record<string, number> }>, h: string) =>
  xs.flatMap((x) => (h in x.hops ? [x.hops[h] as number] : []));
const triggers = (cs: ConfigCommit[]) => {
  if (cs.length === 0) return '–';
  const n = new Map<string, number>();
  for (const c of cs) n.set(c.trigger, (n.get(c.trigger) ?? 0) + 1);
  return [...n].map(([t, k]) => `${t} ${k}`).join(', ');
};

const spanTable = (byName: Spans) =>
  [...byName.entries()]
    .map(([name, ms]) => ({
      name,
      n: ms.length,
      p50: p50(ms),
      p99: p99(ms),
      total: ms.reduce((s, x) => s + x, 0),
    }))
    .sort((x, y) => y.total - x.total)
    .map((s) => `| ${s.name} | ${s.n} | ${fmt(s.p50)} | ${fmt(s.p99)} | ${fmt(s.total)} |`)
    .join('\n');
const SPANS_HEAD = `Per span (OpenTelemetry, every service; sorted by total time; a handler span contains the spans
it caused in the same process):

| span | count | p50 | p99 | total |
|---|---|---|---|---|`;

const loads = [
  `load average at the end ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}`,
  `1-minute load average sampled every 5 s: flotilla run ${loadRange(flotillaLoad)}`,
  `poll-based run ${loadRange(baselineLoad)}`,
].join('; ');
const command = [
  'node scripts/build.ts && npx tsx bench/e2e/push-to-running.ts',
  `--releases=${RELEASES} --baseline-releases=${BASELINE_RELEASES}`,
  `--commits=${COMMITS} --baseline-commits=${BASELINE_COMMITS} --poll=${args.poll}`,
  ...(args.out === 'bench/results/push-to-running.md' ? [] : [`--out=${args.out}`]),
].join(' ');

const releaseHops = Object.keys(flotilla.releases[0]?.hops ?? {});
const releasesMd =
  flotilla.releases.length + baseline.releases.length === 0
    ? ''
    : `
## Image push → running

Releases are pushed one by one; each goes dev → test → uat automatically (soak 1 s) and to prod
after an approval, before the next is pushed. Times are where this bench receives the events
(ApplySucceeded = applied, HealthChanged Current = healthy). A step is "previous stage healthy →
next stage applied" minus the 1 s soak. ${flotilla.releases.length} releases (flotilla),
${baseline.releases.length} (poll-based: each takes minutes).

| | flotilla p50 | flotilla p99 | poll-based p50 | poll-based p99 | ratio (p50) |
|---|---|---|---|---|---|
${line('push → dev applied', a.devApplied, b.devApplied)}
${line('push → dev healthy (Available)', a.devHealthy, b.devHealthy)}
${line('promotion step minus soak (test, uat)', a.steps, b.steps)}
${line('approval → prod applied', a.approval, b.approval)}

### Where the time goes (flotilla run)

Per hop, from the event stream (p50 / p99 over ${flotilla.releases.length} releases):

| hop | p50 | p99 |
|---|---|---|
${releaseHops.map((h) => `| ${h} | ${fmt(p50(hopOf(flotilla.releases, h)))} | ${fmt(p99(hopOf(flotilla.releases, h)))} |`).join('\n')}

${SPANS_HEAD}
${spanTable(flotilla.spans.releases)}
`;

const commitHops = [
  ...new Set([...flotilla.commits, ...baseline.commits].flatMap((c) => Object.keys(c.hops))),
];
const plannerCuts = flotilla.commits.flatMap((c) => {
  const hops = plannerTimeline(c, flotilla.spans.commitsRaw);
  return hops ? [{ hops }] : [];
});
const plannerSteps = [...new Set(plannerCuts.flatMap((c) => Object.keys(c.hops)))];
const commitsMd =
  flotilla.commits.length + baseline.commits.length === 0
    ? ''
    : `
## Config commit → applied

A user's commits to the config repo, pushed one by one after the releases: each changes the value of
a ConfigMap under dev's path (\`${SETTINGS_FILE}\`; a first, untimed commit adds it to dev's
kustomization), and the next is pushed once dev has applied the previous one. Timed from the
user's \`git push\` returning to ApplySucceeded for that commit on dev; at the end the bench reads
the ConfigMap from dev's apiserver and checks it holds the last value. flotilla: the forge's push
webhook (GitHub's \`push\` payload, \`X-Hub-Signature-256\`, naming \`after\`) POSTed to the
git-watcher's \`/hooks/github\` as soon as the push returns, as GitHub does on a push (the git
daemon has no webhooks; the watcher's 1 s poll of the stack stays on); poll-based: no webhook, the
git poll every ${args.poll}. ${flotilla.commits.length} commits (flotilla), ${baseline.commits.length} (poll-based).

| | flotilla p50 | flotilla p99 | poll-based p50 | poll-based p99 | ratio (p50) |
|---|---|---|---|---|---|
${line(
  'commit pushed → dev applied',
  flotilla.commits.map((c) => c.applied),
  baseline.commits.map((c) => c.applied),
)}
${commitHops.map((h) => line(h, hopOf(flotilla.commits, h), hopOf(baseline.commits, h))).join('\n')}

What made the git-watcher check (GitCommitDetected \`trigger\`): flotilla ${triggers(flotilla.commits)};
poll-based ${triggers(baseline.commits)}.

### Where the time goes (flotilla run, commits only)

The planner's leg (commit detected → dev plan created) cut at its spans, per commit (p50 / p99
over the ${plannerCuts.length} commits whose spans all arrived):

| planner step | p50 | p99 |
|---|---|---|
${plannerSteps.map((h) => `| ${h} | ${fmt(p50(hopOf(plannerCuts, h)))} | ${fmt(p99(hopOf(plannerCuts, h)))} |`).join('\n')}

${SPANS_HEAD}
${spanTable(flotilla.spans.commits)}
`;

const md = `# Push to running: latency from image push and from config commit to each stage applied

\`${command}\`
(${started.toISOString()}, ${cpus().length} cores, ${loads}).

Real stack: nats-server, git daemon, docker-registry, four kube-apiservers with KWOK (dev, test,
uat, prod), every service a separate process.

**flotilla**: as shipped (registry webhook, the planner renders its own pushes at once, the forge's
push webhook for a user's commits), with OpenTelemetry on (OTLP http/json to a receiver in the bench).
**poll-based**: configured like Flux's and Argo CD's defaults: no webhooks, registry and config repo
polled every ${args.poll} (Flux GitRepository and ImageRepository intervals as in its guides; Argo CD
polls Git every 3 m, so it would be slower still), and the planner waits for the git poll to see its
own commits, as Flux/Argo see an automation commit only through the source poll. Same promotion,
render, sign and apply code.
${releasesMd}${commitsMd}`;
writeFileSync(`${root}/${args.out}`, md);
console.log(md);
process.exit(0);
