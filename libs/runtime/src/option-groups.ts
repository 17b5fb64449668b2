import { type TProperties, Type } from '@sinclair/typebox';

// The option groups every service's config is built from, defined once (Flux's fluxcd/pkg/runtime
// does the same for leader election, client and event options): one name per concern (`lease`,
// `consumer`, `poll`), one spelling per setting (`ttlMs`, `ackWaitMs`, `intervalMs`), one set of
// bounds. So `FLOTILLA_LEASE_TTL_MS` means the same in every service that holds a NATS KV lease,
// and a service's own settings are added beside the shared ones, never renamed.

/**
 * Every group defaults to `{}`, so a caller that leaves a whole group out (a test or an embedding
 * process building its config with `Value.Default`) gets each of its settings' defaults rather
 * than an undefined group the service trips on at start.
 */
const GROUP = { default: {} };

/**
 * `lease`: a NATS KV lease (leader or per-item ownership). The holder renews at a third of the TTL;
 * an instance that dies is replaced within it.
 */
export function leaseOptions<P extends TProperties = Record<never, never>>(
  defaults: { bucket: string; ttlMs?: number },
  own?: P,
) {
  return Type.Object(
    {
      bucket: Type.String({ default: defaults.bucket, minLength: 1 }),
      ttlMs: leaseTtl(defaults.ttlMs),
      ...((own ?? {}) as P),
    },
    GROUP,
  );
}

/** A lease's TTL alone, for a service whose lease bucket is fixed by its declared NATS resources. */
export const leaseTtl = (defaultMs = 15_000) => Type.Integer({ default: defaultMs, minimum: 600 });

/**
 * `consumer`: the service's durable JetStream consumer. `ackWaitMs` bounds a hung handler (handlers
 * heartbeat while they work); redelivery settings (`redeliveryOptions`), where a service lets them
 * be configured, and the service's own settings sit beside it.
 */
export function consumerOptions<P extends TProperties = Record<never, never>>(
  defaults: { durable: string; ackWaitMs?: number },
  own?: P,
) {
  return Type.Object(
    {
      durable: Type.String({ default: defaults.durable, minLength: 1 }),
      ackWaitMs: ackWait(defaults.ackWaitMs),
      ...((own ?? {}) as P),
    },
    GROUP,
  );
}

/**
 * `consumer` for a service whose durables are named by its declared NATS resources (the planner's
 * `planner`/`planner-s<n>`, an applier's `applier-<cluster>`): the same group less `durable`.
 */
export function fixedConsumerOptions<P extends TProperties = Record<never, never>>(
  defaults: { ackWaitMs?: number } = {},
  own?: P,
) {
  return Type.Object(
    {
      ackWaitMs: ackWait(defaults.ackWaitMs),
      ...((own ?? {}) as P),
    },
    GROUP,
  );
}

/** A consumer's ack wait alone, for a service whose durable is named by its declared NATS resources. */
export const ackWait = (defaultMs = 30_000) => Type.Integer({ default: defaultMs, minimum: 1000 });

/**
 * Redelivery settings of a `consumer` group, spelled as libs/bus's consume options: deliveries
 * before a failing message is dead-lettered (`maxDeliver`) and the delays between them
 * (`backoffMs`, the last one repeats).
 */
export function redeliveryOptions(defaults: { maxDeliver: number; backoffMs: number[] }) {
  return {
    maxDeliver: Type.Integer({ default: defaults.maxDeliver, minimum: 1 }),
    backoffMs: Type.Array(Type.Integer({ minimum: 10 }), { default: defaults.backoffMs, minItems: 1 }),
  };
}

/**
 * `poll`: an owned poll loop (libs/async PollLoop). Each wait is interval × (1 ± jitter/2), so many
 * items never poll in lock step; failures back off up to `maxBackoffMs`.
 */
export function pollOptions<P extends TProperties = Record<never, never>>(
  defaults: { intervalMs: number },
  own?: P,
) {
  return Type.Object(
    {
      intervalMs: Type.Integer({ default: defaults.intervalMs, minimum: 100 }),
      jitter: Type.Number({ default: 0.2, minimum: 0, maximum: 1 }),
      /** Upper bound for the failure backoff. */
      maxBackoffMs: Type.Integer({ default: 600_000, minimum: 100 }),
      ...((own ?? {}) as P),
    },
    GROUP,
  );
}
