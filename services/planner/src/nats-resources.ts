import { clusterBundleBucket, deadLetterSubject, eventSubjectsOf, type NatsResources } from '@flotilla/bus';
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

/** The planner's one durable consumer: commits, tags, apply results and health. */
export const plannerConsumer = {
  durable: 'planner',
  filters: [GitCommitDetected, ImageTagDetected, ApplySucceeded, ApplyFailed, HealthChanged].map((d) =>
    subjectFilter(d),
  ),
  ackWaitMs: 60_000,
};

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
    consumers: [plannerConsumer],
    kv: [
      { bucket: config.stateBucket ?? 'planner-state', access: 'rw' },
      { bucket: LEADER_BUCKET, access: 'rw' },
    ],
    objectStores: (config.clusters ?? []).map((c) => ({
      bucket: clusterBundleBucket(base, c),
      access: 'rw',
    })),
    publishes: [...eventSubjectsOf('planner'), deadLetterSubject(plannerConsumer.durable)],
    historyFilters: HISTORY_SUBJECTS,
  };
}
