import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { DECISION_RETRY, decisionRetryDelayMs } from '@flotilla/api';
import { Bus, EVENT_STREAM } from '@flotilla/bus';
import {
  ApplySucceeded,
  decodeEvent,
  type FlotillaEvent,
  GitCommitDetected,
  HealthChanged,
  ImageTagDetected,
  type PlanCreated,
} from '@flotilla/events';
import { createLogger } from '@flotilla/runtime';
import {
  EventCollector,
  execGit,
  type GitServer,
  type NatsServer,
  rawNats,
  startGitServer,
  startNats,
  waitUntil,
} from '@flotilla/test-support';
import { generateSigningKey, type TrustedKey } from '@flotilla/trust';
import { Value } from '@sinclair/typebox/value';
import { Config } from '../src/config.ts';
import type { PlannerFaults } from '../src/promotions.ts';
import { type PlannerHandle, startPlanner } from '../src/service.ts';

/** What `Harness.api` answers: the HTTP status and the JSON body (`{ error, message }` on a refusal). */
export interface ApiResponse {
  status: number;
  body: Record<string, unknown>;
}

export const FIXTURE = join(import.meta.dirname, 'fixtures/shop-config');

/** A test's changes to the planner's config; a `consumer` given in part keeps the other defaults. */
export type ConfigOverrides = Omit<Partial<Config>, 'consumer'> & { consumer?: Partial<Config['consumer']> };
export const WEB = 'localhost:5000/shop/web';
export const digestOf = (s: string) => `sha256:${createHash('sha256').update(s).digest('hex')}`;

export const TOKENS = {
  alice: 'alice-token-0123456789abcdef',
  bob: 'bob-token-0123456789abcdef',
  carol: 'carol-token-0123456789abcdef',
  /** Reads everything, may change nothing. */
  dave: 'dave-token-0123456789abcdef',
  /** A valid token with no role at all. */
  eve: 'eve-token-0123456789abcdef',
};

export async function fixtureFiles(): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (dir: string) => {
    for (const name of await readdir(dir)) {
      const full = join(dir, name);
      if ((await stat(full)).isDirectory()) await walk(full);
      else out[relative(FIXTURE, full)] = await readFile(full, 'utf8');
    }
  };
  await walk(FIXTURE);
  return out;
}

export type HealthFn = (plan: {
  cluster: string;
  revision: string;
  bundleDigest: string;
}) => 'Current' | 'Failed' | null;

export interface Harness {
  nats: NatsServer;
  git: GitServer;
  repoName: string;
  repoUrl: string;
  trusted: TrustedKey;
  keyFile: string;
  events: EventCollector;
  /** Test-side buses, playing the other services. */
  watcher: Bus;
  registry: Bus;
  applier: Bus;
  config(overrides?: ConfigOverrides): Config;
  /** Starts a planner in this process; `faults` are crash-test injection points (promotions.ts). */
  start(overrides?: ConfigOverrides, faults?: PlannerFaults): Promise<PlannerHandle>;
  /** Plays the cluster-applier: every plan is applied and reported with `health(plan)`. */
  simulateAppliers(health?: HealthFn): void;
  /** Plays the git-watcher; `paths` are the files the commit changed. */
  commitDetected(sha: string, paths?: string[]): Promise<void>;
  tag(tag: string, digest: string, image?: string): Promise<FlotillaEvent>;
  /**
   * Resolves once the planner's durable consumer has handled (acked) everything published so far
   * and every planner started here has rendered what it was handed (renders run after the ack).
   */
  drained(timeoutMs?: number): Promise<void>;
  /** `git` in the bare repo on the server. */
  gitRepo(...args: string[]): Promise<string>;
  fileAtHead(path: string): Promise<string>;
  /**
   * Calls the planner API. A POST with an Idempotency-Key in `headers` is retried with it on a
   * 503, as the CLI's decisions are.
   */
  api(
    h: PlannerHandle,
    method: 'GET' | 'POST',
    path: string,
    token?: string,
    body?: unknown,
    /** Extra request headers (`idempotency-key`). */
    headers?: Record<string, string>,
  ): Promise<ApiResponse>;
  stop(): Promise<void>;
}

export async function createHarness(opts: { files?: Record<string, string> } = {}): Promise<Harness> {
  const nats = await startNats();
  const git = await startGitServer();
  const repoName = `shop-${randomUUID().slice(0, 8)}`;
  const { url: repoUrl } = await git.createRepo(repoName, { files: opts.files ?? (await fixtureFiles()) });
  const tmp = await mkdtemp(join(tmpdir(), 'planner-test-'));
  const key = generateSigningKey('planner-test');
  const keyFile = join(tmp, 'signing.pem');
  await writeFile(keyFile, key.privatePem, { mode: 0o600 });
  const connect = (service: 'git-watcher' | 'registry-watcher' | 'cluster-applier') =>
    Bus.connect({ servers: nats.url, service, instance: 'test', ensureStream: true });
  const watcher = await connect('git-watcher');
  const registry = await connect('registry-watcher');
  const applier = await connect('cluster-applier');
  const events = new EventCollector();
  const sub = rawNats(watcher).nc.subscribe('flotilla.v1.>');
  /** Messages the collector has taken in (pushed or rejected). */
  let collected = 0;
  void (async () => {
    for await (const m of sub) {
      // Only events travel under flotilla.v1.> (KV and object store use their own subjects).
      try {
        events.push(decodeEvent(m.data, { subject: m.subject }));
      } catch (err) {
        events.reject(m.subject, err);
      }
      collected++;
    }
  })();
  const handles: PlannerHandle[] = [];
  let appliers = false;

  const config = ({ consumer, ...overrides }: ConfigOverrides = {}): Config => ({
    instance: `planner-${randomBytes(3).toString('hex')}`,
    nats: { servers: [nats.url] },
    http: { port: 0, host: '127.0.0.1', requestTimeoutMs: 30_000 },
    git: {
      url: repoUrl,
      branch: 'main',
      repo: repoName,
      authorName: 'Flotilla',
      authorEmail: 'flotilla@flotilla.invalid',
      signature: { policy: 'off' },
      maxObjectBytes: 64 * 1024 * 1024,
      maxFetchBytes: 1024 * 1024 * 1024,
    },
    workDir: join(tmp, `work-${randomBytes(3).toString('hex')}`),
    pipelineFile: 'flotilla.yaml',
    signing: { keyId: 'planner-test', keyFile },
    api: {
      tokens: [
        { token: TOKENS.alice, name: 'alice', roles: ['read', 'operate', 'approve'] },
        {
          token: TOKENS.bob,
          name: 'bob',
          groups: ['developers'],
          roles: ['read', 'operate:*/dev', 'approve:payments'],
        },
        {
          token: TOKENS.carol,
          name: 'carol',
          groups: ['release-managers'],
          roles: ['read', 'operate', 'approve'],
        },
        { token: TOKENS.dave, name: 'dave', groups: ['release-managers'], roles: ['read'] },
        { token: TOKENS.eve, name: 'eve' },
      ],
    },
    lease: { ttlMs: 2000, mode: 'single' },
    bundles: { bucket: 'flotilla-bundles', recipients: '' },
    stateBucket: 'planner-state',
    evaluateIntervalMs: 500,
    kubectl: 'kubectl',
    kustomize: 'auto',
    renderConcurrency: 4,
    renderScope: 'touched',
    render: {},
    diff: {},
    // The schema's defaults for whatever a test leaves out, as loadConfig gives them.
    consumer: Value.Default(Config.properties.consumer, { ...consumer }) as Config['consumer'],
    ...overrides,
  });

  const h: Harness = {
    nats,
    git,
    repoName,
    repoUrl,
    trusted: key.trusted,
    keyFile,
    events,
    watcher,
    registry,
    applier,
    config,
    async start(overrides = {}, faults?: PlannerFaults) {
      const handle = await startPlanner(
        config(overrides),
        createLogger({ service: 'planner', level: (process.env.PLANNER_TEST_LOG as 'info') ?? 'silent' }),
        faults ? { faults } : {},
      );
      handles.push(handle);
      return handle;
    },
    simulateAppliers(health = () => 'Current') {
      if (appliers) return;
      appliers = true;
      const plans = rawNats(applier).nc.subscribe('flotilla.v1.plan.created.*');
      void (async () => {
        for await (const m of plans) {
          const e = decodeEvent(m.data, { subject: m.subject }) as FlotillaEvent<
            typeof PlanCreated.data.static
          >;
          const p = e.data;
          const status = health({ cluster: p.cluster, revision: p.revision, bundleDigest: p.bundle.digest });
          if (status === null) continue;
          const base = {
            ...(p.pipeline ? { pipeline: p.pipeline } : {}),
            cluster: p.cluster,
            planId: p.planId,
            revision: p.revision,
            bundleDigest: p.bundle.digest,
          };
          try {
            await applier.publish(
              ApplySucceeded,
              {
                ...base,
                counts: { total: p.bundle.objects, applied: p.bundle.objects, unchanged: 0, pruned: 0 },
                noop: false,
                startedAt: new Date().toISOString(),
                durationMs: 5,
              },
              { cause: e },
            );
            await applier.publish(HealthChanged, { ...base, status, objects: [] }, { cause: e });
          } catch {
            // the bus closes at the end of a test
          }
        }
      })();
    },
    async commitDetected(sha, paths = []) {
      await watcher.publish(GitCommitDetected, {
        repo: repoName,
        url: repoUrl,
        branch: 'main',
        sha,
        parents: [],
        author: { name: 'Test', email: 'test@example.test' },
        committer: { name: 'Test', email: 'test@example.test' },
        authoredAt: new Date().toISOString(),
        committedAt: new Date().toISOString(),
        message: 'test commit',
        paths,
        signature: { status: 'unchecked' },
        trigger: 'webhook',
      });
    },
    async tag(tag, digest, image = WEB) {
      return (await registry.publish(ImageTagDetected, { image, tag, digest, trigger: 'poll' })).event;
    },
    async drained(timeoutMs = 30_000) {
      await waitUntil(
        'the planner consumer to drain',
        async () => {
          const info = await rawNats(watcher)
            .jsm.consumers.info(EVENT_STREAM, 'planner')
            .catch(() => null);
          return info !== null && info.num_pending === 0 && info.num_ack_pending === 0;
        },
        { timeoutMs },
      );
      for (const p of handles) await p.planner.idle();
      // What the planner published is on its way to the collector's own connection (the server
      // queued it there before acknowledging the publish): a round trip on that connection brings
      // it in, then the collector has taken in all it received. A clean-clone CI run read the
      // events right after the planner went idle and saw none of its plans yet.
      await rawNats(watcher).nc.flush();
      await waitUntil('the collector to take in what it received', () => collected === sub.getReceived(), {
        intervalMs: 5,
      });
    },
    gitRepo: (...args) => execGit(['--git-dir', git.path(repoName), ...args]),
    fileAtHead: (path) => execGit(['--git-dir', git.path(repoName), 'show', `main:${path}`]),
    async api(handle, method, path, token, body, headers = {}) {
      const send = async (): Promise<ApiResponse> => {
        const res = await fetch(`${handle.url}${path}`, {
          method,
          headers: {
            ...headers,
            ...(token ? { authorization: `Bearer ${token}` } : {}),
            ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          },
          ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        });
        return { status: res.status, body: (await res.json()) as Record<string, unknown> };
      };
      const key = headers['idempotency-key'];
      // Without a key a retry could decide twice: sent once, as a client without a key would.
      if (method !== 'POST' || key === undefined) return await send();
      // A keyed decision is sent as the CLI sends one (cli/src/http-client.ts `decide`): again
      // with the same key on a 503 (a planner not ready: its lease, 2 s here, ran out on a loaded
      // machine; a NATS ack timed out), 3 attempts in all. The planner answers a key it has seen
      // with what it decided, so a retry never decides twice.
      for (let attempt = 1; ; attempt++) {
        const res = await send();
        if (res.status !== 503 || attempt >= DECISION_RETRY.attempts) return res;
        await new Promise((r) => setTimeout(r, decisionRetryDelayMs(attempt)));
      }
    },
    async stop() {
      for (const p of handles) await p.stop().catch(() => undefined);
      sub.unsubscribe();
      for (const b of [watcher, registry, applier]) await b.close().catch(() => undefined);
      await git.stop();
      await nats.dispose();
      await rm(tmp, { recursive: true, force: true });
    },
  };
  return h;
}

/** Values of trailer `key` on every commit of the branch, newest first, with the commit. */
export async function trailers(h: Harness, key: string): Promise<Array<{ sha: string; value: string }>> {
  const out = await h.gitRepo(
    'log',
    `--format=%H%x1f%(trailers:key=${key},valueonly,separator=%x1e)%x1d`,
    'main',
  );
  return out
    .split('\x1d')
    .map((r) => r.trim())
    .filter(Boolean)
    .flatMap((r) => {
      const [sha = '', values = ''] = r.split('\x1f');
      return values
        .split('\x1e')
        .map((v) => v.trim())
        .filter(Boolean)
        .map((value) => ({ sha, value }));
    });
}
