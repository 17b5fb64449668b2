import { FlotillaError } from '@flotilla/errors';
import { catalog, DeadLettered, type Producer, subjectFilter } from '@flotilla/events';
import { AckPolicy, type ConsumerConfig, DeliverPolicy, type StreamConfig } from '@nats-io/jetstream';
import { nanos } from '@nats-io/nats-core';

/**
 * What one NATS identity needs on the bus, declared once per service (`natsResources` in each
 * service's `src/nats-resources.ts`). Two readers, so they cannot drift apart:
 * - `flotilla nats bootstrap` (an admin identity) creates every stream, bucket and durable
 *   consumer from the union of the declarations (`provisionNats`);
 * - `flotilla nats-auth` turns each declaration into that identity's allow-list, so a service
 *   may bind to what it declared and publish what it declared, and nothing else.
 */
export interface NatsResources {
  /** NATS user, e.g. `planner` or `applier-prod`. */
  identity: string;
  /** The service it runs as (the CloudEvents `source`), or none for plain subscribers. */
  producer?: Producer;
  /** Durable consumers on the event stream this identity binds to (and only binds to). */
  consumers: ConsumerSpec[];
  kv: BucketSpec[];
  objectStores: BucketSpec[];
  /** Streams of its own besides the event stream (e.g. the audit checkpoints), append and read. */
  streams?: StreamSpec[];
  /** Event subjects it may publish (its own events, scoped; its own dead letters). */
  publishes: string[];
  /**
   * Reads history back with short-lived (ordered) consumers on the event stream, limited to
   * these filters. Such an identity may create ephemeral consumers, never a declared durable.
   */
  historyFilters?: string[];
  /** Core NATS subjects for request/reply between instances of the same service. */
  internal?: { publish: string[]; subscribe: string[] };
  /** Live (non-JetStream) subscriptions to events, e.g. a read-only subscriber. */
  liveSubscribe?: string[];
  /**
   * A read-only subscriber chooses its own filters: it may create, update and delete its own
   * durables (and only those); the bootstrap leaves them to it.
   */
  managesOwnConsumers?: boolean;
}

export interface ConsumerSpec {
  /** Durable name; one per service role (e.g. `applier-prod-eu`). */
  durable: string;
  /** Subject filters, e.g. `subjectFilter(PlanCreated, 'dev')`. */
  filters: string[];
  /** How long JetStream waits for an ack before redelivering. Default 30 s. */
  ackWaitMs?: number;
  /** Messages handled at once; sizes the server's max_ack_pending. */
  concurrency?: number;
  /** Where a new durable starts. Default: every stored message. */
  deliverFrom?: 'all' | 'new';
}

export interface StreamSpec {
  /** The full config the bootstrap creates it with; its `subjects` are what the identity may publish. */
  config: Partial<StreamConfig> & { name: string; subjects: string[] };
}

export interface BucketSpec {
  bucket: string;
  /** `ro`: read only (e.g. an applier reading its cluster's bundles). */
  access: 'rw' | 'ro';
}

/**
 * The server-side config of a durable consumer. Used both to create it (bootstrap) and to check
 * that the one a service binds to is the one it expects.
 */
export function consumerConfig(spec: ConsumerSpec): Partial<ConsumerConfig> & { durable_name: string } {
  const concurrency = Math.max(1, spec.concurrency ?? 1);
  const filters = spec.filters;
  return {
    durable_name: spec.durable,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: spec.deliverFrom === 'new' ? DeliverPolicy.New : DeliverPolicy.All,
    // One filter uses `filter_subject`, which nats.js sends on the filtered create subject
    // (`$JS.API.CONSUMER.CREATE.<stream>.<durable>.<filter>`).
    ...(filters.length === 1 ? { filter_subject: filters[0] } : { filter_subjects: filters }),
    ack_wait: nanos(spec.ackWaitMs ?? 30_000),
    // The server redelivers without limit; the bus counts attempts itself so that the last one
    // always ends on the dead-letter subject, even when it timed out instead of failing.
    max_deliver: -1,
    max_ack_pending: Math.max(1000, concurrency * 4),
  };
}

/** Where the consumer that exists differs from the spec (empty: it matches). */
export function consumerDrift(
  actual: Partial<ConsumerConfig>,
  spec: ConsumerSpec,
): Array<{ field: string; want: unknown; have: unknown }> {
  const want = consumerConfig(spec);
  const filtersOf = (c: Partial<ConsumerConfig>) =>
    [...(c.filter_subjects?.length ? c.filter_subjects : c.filter_subject ? [c.filter_subject] : [])].sort();
  const out: Array<{ field: string; want: unknown; have: unknown }> = [];
  const wf = filtersOf(want);
  const hf = filtersOf(actual);
  if (wf.join('\n') !== hf.join('\n')) out.push({ field: 'filters', want: wf, have: hf });
  for (const field of ['ack_wait', 'max_ack_pending', 'max_deliver', 'ack_policy'] as const)
    if (actual[field] !== want[field]) out.push({ field, want: want[field], have: actual[field] });
  return out;
}

/** The event subjects a producer may publish: every catalog event it produces, in `scope` or all scopes. */
export function eventSubjectsOf(producer: Producer, scope?: string): string[] {
  return catalog
    .filter((d) => (d.producers as readonly string[]).includes(producer))
    .map((d) => subjectFilter(d, scope));
}

/**
 * The private reply inbox of an identity. Replies to JetStream requests (pulled messages
 * included) arrive on the requester's inbox: with one shared `_INBOX.>` any identity could read
 * what another pulls, so each may subscribe only to `_INBOX_<user>.>`.
 */
/**
 * The object store of one cluster's plan bundles: `<base>-<cluster>`. One bucket per cluster, so
 * the NATS authorization can give each applier its own bucket and no other (object store chunks
 * are named by random ids, so one shared bucket cannot be split by subject).
 */
export const clusterBundleBucket = (base: string, cluster: string) => `${base}-${cluster}`;

export const inboxPrefixFor = (user: string) => `_INBOX_${user}`;

/** Dead letters are published by the bus with the consumer's durable name as scope. */
export function deadLetterSubject(durable: string): string {
  return subjectFilter(DeadLettered, durable);
}

/** A resource this identity must bind to is missing: waiting (for the bootstrap) can fix it. */
export function notProvisioned(what: string): FlotillaError {
  return new FlotillaError(
    'bus.not-provisioned',
    `${what} does not exist and this service may not create it; run \`flotilla nats bootstrap\` with the admin identity`,
    { disposition: 'wait' },
  );
}
