import { fixedConsumerOptions, serviceConfigFields } from '@flotilla/runtime';
import { type Static, Type } from '@sinclair/typebox';
import { APPLIER_ACK_WAIT_MS } from './nats-resources.ts';

/**
 * Cluster-applier configuration. Every leaf can come from the environment, e.g.
 * `FLOTILLA_CLUSTER=prod-eu FLOTILLA_KUBE_IN_CLUSTER=true FLOTILLA_TRUSTED_KEYS=planner-1=/keys/p1.pem`,
 * or from the YAML file named by `$FLOTILLA_CONFIG`.
 */
export const Config = Type.Object({
  ...serviceConfigFields(8084),
  /** The cluster this applier serves: it consumes only this cluster's plans. */
  cluster: Type.String({ minLength: 1, maxLength: 253 }),
  kube: Type.Object({
    /** A kubeconfig file; without it (and with inCluster) the pod's ServiceAccount is used. */
    kubeconfig: Type.Optional(Type.String()),
    inCluster: Type.Boolean({ default: false }),
    context: Type.Optional(Type.String()),
    /** Requests in flight to the apiserver (dry-run, apply, delete) inside one stage. */
    parallelism: Type.Integer({ default: 16, minimum: 1, maximum: 256 }),
    timeoutMs: Type.Integer({ default: 30_000, minimum: 1000 }),
  }),
  /** Server-side apply field manager: must stay the same forever, it is how ownership is tracked. */
  fieldManager: Type.String({ default: 'flotilla', minLength: 1 }),
  /** Delete objects that left the bundle (those in our inventory only). */
  prune: Type.Boolean({ default: true }),
  drift: Type.Object({
    policy: Type.Union([Type.Literal('correct'), Type.Literal('report')], { default: 'correct' }),
    /** How often applied objects are compared with Git; 0 turns drift detection off. */
    intervalMs: Type.Integer({ default: 60_000, minimum: 0 }),
    /**
     * HMAC key for the hashes that stand in for secret values in drift events (at least 32
     * characters; keep it in a Secret). Unset: a random key per process, so hashes compare
     * only within one run of the applier.
     */
    hashKey: Type.Optional(Type.String({ minLength: 32 })),
    /**
     * More fields whose values never leave the cluster, beyond Secrets and credential-named
     * fields: comma-separated `Kind:.path` (or `*:.path`), each covering the path and below,
     * e.g. `ConfigMap:.data.DATABASE_URL,*:.spec.template.metadata.annotations`.
     */
    sensitivePaths: Type.Optional(Type.String()),
  }),
  health: Type.Object({
    timeoutMs: Type.Integer({ default: 300_000, minimum: 0 }),
    pollMs: Type.Integer({ default: 2000, minimum: 50 }),
  }),
  /** A changed immutable field (Job template, Service clusterIP, selector): fail, or delete and recreate. */
  immutablePolicy: Type.Union([Type.Literal('fail'), Type.Literal('recreate')], { default: 'fail' }),
  /** A field another manager owns: take it over (force), or fail and say who owns it. */
  conflictPolicy: Type.Union([Type.Literal('fail'), Type.Literal('force')], { default: 'force' }),
  /** `keyId=/path/to/public.pem,keyId2=/path2.pem`: the planner keys whose plans we accept. */
  trustedKeys: Type.String({ default: '' }),
  requireSignedPlans: Type.Boolean({ default: true }),
  bundles: Type.Object(
    {
      /**
       * This cluster's bundle store; default `flotilla-bundles-<cluster>` (the planner writes each
       * cluster's bundles to `<its bundles.bucket>-<cluster>`, and the NATS authorization lets
       * this applier read that bucket and no other).
       */
      bucket: Type.Optional(Type.String({ minLength: 1 })),
    },
    { default: {} },
  ),
  /**
   * This cluster's X25519 private key (PKCS#8 PEM, a Secret): bundles sealed to its public key
   * open with it. With a key, unsealed bundles are refused (`bundle.unsealed`): nobody can
   * downgrade this cluster to plaintext.
   */
  sealing: Type.Object(
    {
      keyFile: Type.Optional(Type.String()),
      key: Type.Optional(Type.String({ secret: true })),
    },
    { default: {} },
  ),
  /** Where the inventory ConfigMap and the leader Lease live. */
  inventoryNamespace: Type.String({ default: 'flotilla-system' }),
  lease: Type.Object({
    /** Default `flotilla-applier-<cluster>`. */
    name: Type.Optional(Type.String()),
    durationSeconds: Type.Integer({ default: 15, minimum: 2 }),
  }),
  /**
   * Pipelines applying at once (bundle read, writes, health wait; each pipeline's own plans stay
   * in order). Four times as many plans are in hand: those of content a pipeline already applied
   * (a resync) check their live objects meanwhile, through shared LISTs and without writing, and
   * take an apply slot only if something changed; so a resync's many no-ops make fewer, larger
   * LISTs and do not queue behind each other.
   */
  pipelineConcurrency: Type.Integer({ default: 16, minimum: 1, maximum: 64 }),
  /**
   * The plan consumer (its durable is `applier-<cluster>`, fixed by the NATS authorization). The
   * ack wait only bounds a hung process: the handler heartbeats while it works.
   */
  consumer: fixedConsumerOptions({ ackWaitMs: APPLIER_ACK_WAIT_MS }),
});
export type Config = Static<typeof Config>;

/**
 * The settings that decide this service's NATS resources (`natsResources`): its consumer's ack wait and plans in hand.
 * `flotilla nats bootstrap --config-dir` reads them from this service's own config file with this
 * schema, so what it provisions is what the service binds to, defaults included.
 */
export const NatsConfig = Type.Pick(Config, ['consumer', 'pipelineConcurrency']);

/** Keys this service renamed (the shared `consumer` group since issue 21): loadConfig refuses an old one, naming the new. */
export const RENAMED = { ackWaitMs: 'consumer.ackWaitMs' } as const;
