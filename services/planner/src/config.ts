import {
  apiTokensConfig,
  fixedConsumerOptions,
  leaseTtl,
  redeliveryOptions,
  serviceConfigFields,
} from '@flotilla/runtime';
import { type Static, Type } from '@sinclair/typebox';
import { PLANNER_ACK_WAIT_MS } from './nats-resources.ts';

/**
 * Planner configuration. Every leaf can come from the environment (`FLOTILLA_GIT_URL`,
 * `FLOTILLA_SIGNING_KEY_FILE`, `FLOTILLA_API_TOKENS='[{"token":"…","name":"alice"}]'`, …) or
 * from the YAML file named by `$FLOTILLA_CONFIG`.
 */
export const Config = Type.Object({
  ...serviceConfigFields(8083),
  git: Type.Object({
    /** The config repository (https, ssh, git or file URL). */
    url: Type.String({ minLength: 1 }),
    branch: Type.String({ default: 'main' }),
    /**
     * The repository's name in `GitCommitDetected.repo` (the git-watcher's config) and in plans.
     * Defaults to the last path segment of the URL without `.git`.
     */
    repo: Type.Optional(Type.String()),
    token: Type.Optional(Type.String({ secret: true })),
    tokenFile: Type.Optional(Type.String()),
    username: Type.Optional(Type.String()),
    sshKeyFile: Type.Optional(Type.String()),
    authorName: Type.String({ default: 'Flotilla' }),
    authorEmail: Type.String({ default: 'flotilla@flotilla.invalid' }),
    /**
     * The largest git object (a file, a tree) read from the config repo: a revision holding a
     * bigger one is not rendered (RenderFailed `git.object-too-large` naming the file), so a
     * pushed blob of gigabytes cannot exhaust the planner's memory.
     */
    maxObjectBytes: Type.Integer({ default: 64 * 1024 * 1024, minimum: 1024 }),
    /**
     * The most one fetch of the config repo may bring (1 GiB): a remote that sends more is
     * stopped and its partial pack removed (`git.fetch-too-large`), so it cannot fill the disk.
     */
    maxFetchBytes: Type.Integer({ default: 1024 * 1024 * 1024, minimum: 1024 }),
    /**
     * The same signature policy as the git-watcher's for this repository. Under `require` the
     * planner verifies every commit since its last render before rendering (its own commits
     * excepted), so an unsigned commit is not rendered after a restart or one of its own pushes.
     */
    signature: Type.Object(
      {
        policy: Type.Union([Type.Literal('off'), Type.Literal('report'), Type.Literal('require')], {
          default: 'off',
        }),
        allowedSignersFile: Type.Optional(Type.String()),
        gpgHome: Type.Optional(Type.String()),
      },
      { default: { policy: 'off' } },
    ),
  }),
  /** Mirror, work tree and render scratch space live here. */
  workDir: Type.String({ default: '/var/lib/flotilla-planner' }),
  pipelineFile: Type.String({ default: 'flotilla.yaml' }),
  signing: Type.Object({
    keyId: Type.String({ minLength: 1 }),
    /** PKCS#8 PEM ed25519 private key file (a mounted Secret); wins over `key`. */
    keyFile: Type.Optional(Type.String()),
    key: Type.Optional(Type.String({ secret: true })),
  }),
  api: apiTokensConfig(),
  /**
   * Decisions sent with an `Idempotency-Key` (approve, reject, promote, lock, unlock, rollback,
   * approve a held change) answer a retry with the same key from their record for `ttlMs` (24 h,
   * as Stripe); later the key is a new request. 0 replays nothing.
   */
  idempotency: Type.Optional(
    Type.Object({ ttlMs: Type.Integer({ minimum: 0, default: 86_400_000 }) }, { default: {} }),
  ),
  /** The leader lease (was `leader`: one name, `lease`, in every service); its bucket is fixed. */
  lease: Type.Object({
    ttlMs: leaseTtl(),
    /**
     * `single` (the default): one instance holds the leader lease and serves every pipeline, the
     * others stand by. `sharded`: every instance serves a share of the pipelines, each held by its
     * own lease and spread by rendezvous hashing over the live instances (see shards.ts); an
     * instance that dies hands its pipelines over within the TTL.
     */
    mode: Type.Union([Type.Literal('single'), Type.Literal('sharded')], { default: 'single' }),
  }),
  /**
   * The event consumer (durable `planner`, or `planner-s<n>` per member slot when sharded: named by
   * the NATS resources), the shared `consumer` group: `ackWaitMs` bounds a hung handler (handlers
   * heartbeat while they work); deliveries before a failing event is dead-lettered and the delays
   * between them (the last repeats). A change the config repo refuses to take (branch protection,
   * hooks) is held at the last delay instead, with `GitPushRejected` events, for `maxHeldMs`
   * (a day), then dead-lettered as `held.expired`.
   */
  consumer: fixedConsumerOptions(
    { ackWaitMs: PLANNER_ACK_WAIT_MS },
    {
      ...redeliveryOptions({ maxDeliver: 8, backoffMs: [500, 2000, 5000, 15_000] }),
      maxHeldMs: Type.Integer({ default: 24 * 3600_000, minimum: 0 }),
    },
  ),
  bundles: Type.Object({
    /** Each cluster's bundles go to `<bucket>-<cluster>`, readable by that cluster's applier only. */
    bucket: Type.String({ default: 'flotilla-bundles' }),
    /**
     * Clusters whose bundles are sealed, and to which key: `dev=<base64 X25519 public key>,
     * prod=/path/to/prod.pub` (base64 or PEM). The appliers hold the private keys.
     */
    recipients: Type.String({ default: '' }),
  }),
  /** KV bucket for the planner's materialised view (per cluster, stage, promotion). */
  stateBucket: Type.String({ default: 'planner-state' }),
  /** Safety-net re-evaluation of promotions (soak timers are scheduled precisely as well). */
  evaluateIntervalMs: Type.Integer({ default: 10_000, minimum: 100 }),
  kubectl: Type.String({ default: 'kubectl' }),
  /**
   * What builds kustomizations in the render sandbox: `auto` (flotilla-kustomize when it is on
   * PATH, as in the planner image, or built by scripts/setup.sh; else `kubectl kustomize`),
   * `kubectl`, or the path of a flotilla-kustomize binary (missing: the planner refuses to start).
   */
  kustomize: Type.String({ default: 'auto' }),
  /**
   * Render a commit of our own as soon as it is pushed (unset or true). False, the planner waits for the
   * git-watcher to report it, as a poll-based GitOps tool would: only the latency benchmark's
   * Flux/Argo-like baseline turns it off.
   */
  renderOwnPush: Type.Optional(Type.Boolean()),
  /**
   * Render the clusters a commit of our own changed while its push runs (unset or true), so the
   * pushed head's render finds them cached. False renders only after the push: the planner
   * latency benchmark's side-by-side baseline turns it off.
   */
  renderAhead: Type.Optional(Type.Boolean()),
  /** Clusters rendered at once (each a renderer process: flotilla-kustomize or kubectl). */
  renderConcurrency: Type.Integer({ default: 4, minimum: 1 }),
  /**
   * Which pipelines a new revision renders: `touched` (those whose definition, or a file their
   * last render read, it changed; everything when that is unknown) or `all` (every pipeline at
   * every revision: slower, a safety valve if source tracking is ever in doubt).
   */
  renderScope: Type.Union([Type.Literal('touched'), Type.Literal('all')], { default: 'touched' }),
  /**
   * Rendered diffs (`GET /promotions/:id/diff`, `GET /changes/:id/diff`) hide values as drift
   * reports do: Secrets, credential-named fields, and `sensitivePaths` (the appliers'
   * `drift.sensitivePaths` format; give the planner the same list). Hidden values are HMAC hashes
   * under `hashKey` (at least 32 characters; unset: random per process).
   */
  diff: Type.Object(
    {
      hashKey: Type.Optional(Type.String({ minLength: 32, secret: true })),
      sensitivePaths: Type.Optional(Type.String()),
    },
    { default: {} },
  ),
  /** Budgets of each cluster's render; unset ones keep @flotilla/render's defaults (docs/security.md). */
  render: Type.Object(
    {
      timeoutMs: Type.Optional(Type.Integer({ minimum: 100 })),
      maxMemoryBytes: Type.Optional(Type.Integer({ minimum: 16 * 1024 * 1024 })),
      maxFiles: Type.Optional(Type.Integer({ minimum: 1 })),
      maxBytes: Type.Optional(Type.Integer({ minimum: 1 })),
      maxFileBytes: Type.Optional(Type.Integer({ minimum: 1 })),
      maxObjects: Type.Optional(Type.Integer({ minimum: 1 })),
      maxOutputBytes: Type.Optional(Type.Integer({ minimum: 1 })),
    },
    { default: {} },
  ),
});
export type Config = Static<typeof Config>;

/**
 * The settings that decide this service's NATS resources (`natsResources`): its consumers' ack wait and its state bucket.
 * `flotilla nats bootstrap --config-dir` reads them from this service's own config file with this
 * schema, so what it provisions is what the service binds to, defaults included.
 */
export const NatsConfig = Type.Pick(Config, ['consumer', 'stateBucket']);

/** Keys this service renamed (the leader lease, `lease` since issue 21): loadConfig refuses an old one, naming the new. */
export const RENAMED = { leader: 'lease' } as const;
