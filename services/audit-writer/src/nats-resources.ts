import {
  CHECKPOINT_SUBJECT_PREFIX,
  type ConsumerSpec,
  checkpointStreamConfig,
  deadLetterSubject,
  eventSubjectsOf,
  type NatsResources,
} from '@flotilla/bus';
import { SUBJECT_PREFIX } from '@flotilla/events';

/** The audit-writer consumer's defaults, its config's (`consumer`) too: one copy. */
export const AUDIT_CONSUMER_DEFAULTS = {
  durable: 'audit-writer',
  concurrency: 4096,
  ackWaitMs: 30_000,
} as const;

/** The audit-writer's durable consumer: every event, dead letters included. */
export function auditConsumer(
  consumer: { durable?: string; concurrency?: number; ackWaitMs?: number } = {},
): ConsumerSpec {
  return {
    durable: consumer.durable ?? AUDIT_CONSUMER_DEFAULTS.durable,
    filters: [`${SUBJECT_PREFIX}.>`],
    concurrency: consumer.concurrency ?? AUDIT_CONSUMER_DEFAULTS.concurrency,
    ackWaitMs: consumer.ackWaitMs ?? AUDIT_CONSUMER_DEFAULTS.ackWaitMs,
  };
}

/**
 * Everything the audit-writer uses on NATS (see `NatsResources`): it publishes its own events
 * (AuditGapDetected), its dead letters, and its signed checkpoints to a stream of its own.
 */
export function natsResources(
  config: {
    consumer?: { durable?: string; concurrency?: number; ackWaitMs?: number };
    lease?: { bucket?: string };
    checkpoint?: { enabled?: boolean; publish?: boolean };
  } = {},
): NatsResources {
  const consumer = auditConsumer(config.consumer);
  return {
    identity: 'audit-writer',
    producer: 'audit-writer',
    consumers: [consumer],
    kv: [{ bucket: config.lease?.bucket ?? 'flotilla-leases', access: 'rw' }],
    objectStores: [],
    // Signed checkpoints go to a deny-delete stream outside the audit repo (kept for good).
    streams:
      (config.checkpoint?.enabled ?? true) && (config.checkpoint?.publish ?? true)
        ? [{ config: { ...checkpointStreamConfig(), subjects: [`${CHECKPOINT_SUBJECT_PREFIX}.>`] } }]
        : [],
    publishes: [...eventSubjectsOf('audit-writer'), deadLetterSubject(consumer.durable)],
  };
}
