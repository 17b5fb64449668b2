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

/** The single-mode planner's durable consumer, shared by leader and standbys (one acts). */
export const plannerConsumer: ConsumerSpec = {
  durable: 'planner',
  filters: PLANNER_INPUTS,
  ackWaitMs: 60_000,
};

/**
 * Member slots of a sharded planner (`lease.mode: sharded`): at most this many instances serve
 * pipelines at once. Each slot has a durable consumer of its own, since every instance must see
 * every commit, tag and report (each keeps those of its own pipelines).
 */
export const PLANNER_SLOTS = 8;

/** The durable consumer of member slot `slot`; a new one starts at new events. */
export function plannerSlotConsumer(slot: number): ConsumerSpec {
  return { durable: `planner-s${slot}`, filters: PLANNER_INPUTS, ackWaitMs: 60_000, deliverFrom: 'new' };
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
  } = {},
): NatsResources {
  const base = config.bundles?.bucket ?? 'flotilla-bundles';
  return {
    identity: 'planner',
    producer: 'planner',
    consumers: [plannerConsumer, ...Array.from({ length: PLANNER_SLOTS }, (_, i) => plannerSlotConsumer(i))],
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
