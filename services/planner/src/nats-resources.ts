import {
  type ConsumerSpec,
  clusterBundleBucket,
  deadLetterSubject,
  eventSubjectsOf,
  type NatsResources,
} from '@flotilla/bus';
import {
  ApplyFailed,
  ApplySucceeded,
  GitCommitDetected,
  HealthChanged,
  ImageTagDetected,
  subjectFilter,
} from '@flotilla/events';
import { HISTORY_SUBJECTS } from './history.ts';

/** The planner's leader lease bucket. */
export const LEADER_BUCKET = 'planner-leader';

/** What the planner consumes: commits, tags, apply results and health. */
const PLANNER_INPUTS = [GitCommitDetected, ImageTagDetected, ApplySucceeded, ApplyFailed, HealthChanged].map(
  (d) => subjectFilter(d),
);

/** The planner consumers' default ack wait (`consumer.ackWaitMs`). */
export const PLANNER_ACK_WAIT_MS = 60_000;

/** The single-mode planner's durable consumer, shared by leader and standbys (one acts). */
export function plannerConsumerSpec(ackWaitMs = PLANNER_ACK_WAIT_MS): ConsumerSpec {
  return { durable: 'planner', filters: PLANNER_INPUTS, ackWaitMs };
}

/** The single-mode consumer at the default ack wait. */
export const plannerConsumer: ConsumerSpec = plannerConsumerSpec();

/**
 * Member slots of a sharded planner (`lease.mode: sharded`): at most this many instances serve
 * pipelines at once. Each slot has a durable consumer of its own, since every instance must see
 * every commit, tag and report (each keeps those of its own pipelines).
 */
export const PLANNER_SLOTS = 8;

/** The durable consumer of member slot `slot`; a new one starts at new events. */
export function plannerSlotConsumer(slot: number, ackWaitMs = PLANNER_ACK_WAIT_MS): ConsumerSpec {
  return { durable: `planner-s${slot}`, filters: PLANNER_INPUTS, ackWaitMs, deliverFrom: 'new' };
}

/**
 * Everything the planner uses on NATS (see `NatsResources`): `flotilla nats bootstrap` creates
 * it, `flotilla nats-auth` allows exactly it.
 */
export function natsResources(
  config: {
    stateBucket?: string;
    bundles?: { bucket?: string };
    /** The install's target clusters: the planner writes each one's bundle store. */
    clusters?: readonly string[];
    /** As the planner is configured, so the bootstrap makes the consumers it will bind to. */
    consumer?: { ackWaitMs?: number };
  } = {},
): NatsResources {
  const base = config.bundles?.bucket ?? 'flotilla-bundles';
  const ackWaitMs = config.consumer?.ackWaitMs;
  return {
    identity: 'planner',
    producer: 'planner',
    consumers: [
      plannerConsumerSpec(ackWaitMs),
      ...Array.from({ length: PLANNER_SLOTS }, (_, i) => plannerSlotConsumer(i, ackWaitMs)),
    ],
    kv: [
      { bucket: config.stateBucket ?? 'planner-state', access: 'rw' },
      { bucket: LEADER_BUCKET, access: 'rw' },
    ],
    objectStores: (config.clusters ?? []).map((c) => ({
      bucket: clusterBundleBucket(base, c),
      access: 'rw',
    })),
    publishes: [
      ...eventSubjectsOf('planner'),
      deadLetterSubject(plannerConsumer.durable),
      ...Array.from({ length: PLANNER_SLOTS }, (_, i) => deadLetterSubject(plannerSlotConsumer(i).durable)),
    ],
    historyFilters: HISTORY_SUBJECTS,
  };
}
