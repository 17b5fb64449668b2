import { apiTokensConfig, consumerOptions, leaseOptions, serviceConfigFields } from '@flotilla/runtime';
import { type Static, Type } from '@sinclair/typebox';
import { AUDIT_CONSUMER_DEFAULTS } from './nats-resources.ts';

export const Config = Type.Object({
  ...serviceConfigFields(8080),
  audit: Type.Object({
    /** Remote of the audit repository (credentials in the URL are split off and never logged). */
    url: Type.String({ minLength: 1 }),
    branch: Type.String({ default: 'main' }),
    /** Local clone; keep it on a persistent volume (committed-but-unpushed records live here). */
    dir: Type.String({ default: '/var/lib/flotilla/audit' }),
    authorName: Type.String({ default: 'Flotilla Audit Writer' }),
    authorEmail: Type.String({ default: 'audit-writer@flotilla.invalid' }),
    /** Commit after this many records… */
    batchMaxRecords: Type.Integer({ minimum: 1, default: 2000 }),
    /** …or after the oldest waiting record has waited this long, whichever comes first. */
    batchMaxDelayMs: Type.Integer({ minimum: 1, default: 200 }),
    /**
     * Close a log file at this size and go on in the day's next segment (`YYYY/MM/DD/000001.jsonl`):
     * each commit stores its file again, so this bounds what one commit costs.
     */
    segmentMaxBytes: Type.Integer({ minimum: 1, default: 1024 * 1024 }),
    /**
     * Push at most this often (a push started within this of the last one waits and takes every
     * commit made meanwhile). Events are acked once their commit is fsync'd in `dir`, and each
     * commit's signed checkpoint goes to the checkpoint stream at once, so this bounds only how far
     * the remote copy trails: about this plus one push. A push costs the same however many
     * commits it carries, and pushing after every commit took CPU the commits needed under load.
     */
    pushMinIntervalMs: Type.Integer({ minimum: 0, default: 2000 }),
    pushRetryMinMs: Type.Integer({ minimum: 10, default: 1000 }),
    pushRetryMaxMs: Type.Integer({ minimum: 10, default: 30_000 }),
    gitTimeoutMs: Type.Integer({ minimum: 1000, default: 60_000 }),
    /** A commit that fails is retried with backoff up to this delay, for as long as it takes. */
    commitRetryMaxMs: Type.Integer({ minimum: 10, default: 30_000 }),
    /** How often the stream is compared with the log for events it will never hold (gaps). */
    gapScanMs: Type.Integer({ minimum: 100, default: 10_000 }),
  }),
  /**
   * Who may query the log: the planner's token file format. Every query route needs a token
   * with `read` on every pipeline (`read` or `read:*`); `/checkpoint` stays public (auditors
   * verify it with the public key alone).
   */
  api: apiTokensConfig(),
  /**
   * ApiRequestRefused events per status and route per minute. Refusing is free, an event is not:
   * a flood of bad tokens must not flood the stream and the audit log (every refusal is logged).
   */
  apiRefusalEventsPerMinute: Type.Integer({ minimum: 0, default: 10 }),
  /** `/verify` walks the whole log: one walk at most this often; a result reused while the head holds. */
  verify: Type.Object(
    {
      minIntervalMs: Type.Integer({ minimum: 0, default: 5_000 }),
      maxAgeMs: Type.Integer({ minimum: 0, default: 60_000 }),
    },
    { default: {} },
  ),
  checkpoint: Type.Object({
    /** Sign a checkpoint with every commit. Turn off only to measure what signing costs. */
    enabled: Type.Boolean({ default: true }),
    /**
     * PKCS#8 PEM Ed25519 private key (mount it from a Secret). Empty: one is generated on first
     * start and kept in the clone's `.git` directory, which is never pushed.
     */
    keyFile: Type.String({ default: '' }),
    /** Key name in signature lines and verifier keys. */
    keyName: Type.String({ default: 'flotilla-audit', pattern: '^[^\\s+]+$' }),
    /** First line of every checkpoint, naming this log. Empty: host/path of the audit repo + branch. */
    origin: Type.String({ default: '' }),
    /** Also publish every checkpoint to the deny-delete, deny-purge checkpoint stream. */
    publish: Type.Boolean({ default: true }),
  }),
  consumer: consumerOptions(
    { durable: AUDIT_CONSUMER_DEFAULTS.durable, ackWaitMs: AUDIT_CONSUMER_DEFAULTS.ackWaitMs },
    {
      /** Events held at once; must exceed batchMaxRecords for batches to fill. */
      concurrency: Type.Integer({ minimum: 1, default: AUDIT_CONSUMER_DEFAULTS.concurrency }),
    },
  ),
  lease: leaseOptions({ bucket: 'flotilla-leases' }),
  configRepo: Type.Object({
    /** Config repository whose commits get deployment notes; empty disables notes. */
    url: Type.String({ default: '' }),
    enabled: Type.Boolean({ default: true }),
    branch: Type.String({ default: 'main' }),
    dir: Type.String({ default: '/var/lib/flotilla/audit-config' }),
    notesRef: Type.String({ default: 'refs/notes/flotilla' }),
    debounceMs: Type.Integer({ minimum: 0, default: 500 }),
  }),
  /** Stages whose changes are production changes (export, approvals). */
  productionStages: Type.Array(Type.String(), { default: ['prod'] }),
});
export type Config = Static<typeof Config>;

/**
 * The settings that decide this service's NATS resources (`natsResources`): its consumer (durable, ack wait, concurrency), lease bucket and checkpoint stream.
 * `flotilla nats bootstrap --config-dir` reads them from this service's own config file with this
 * schema, so what it provisions is what the service binds to, defaults included.
 */
export const NatsConfig = Type.Pick(Config, ['consumer', 'lease', 'checkpoint']);
