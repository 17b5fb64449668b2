import {
  type ConsumerSpec,
  clusterBundleBucket,
  deadLetterSubject,
  eventSubjectsOf,
  type NatsResources,
} from '@flotilla/bus';
import { PlanCreated, subjectFilter } from '@flotilla/events';

/** `applier-<cluster>`: the NATS user and the durable consumer of one cluster's applier. */
export const applierIdentity = (cluster: string) => `applier-${cluster}`.replace(/[^A-Za-z0-9_-]/g, '_');

/**
 * Plans in hand at once for `pipelineConcurrency` pipelines applying at once: the others only
 * check that a plan of the content already applied changes nothing (shared LISTs, no writes),
 * which is most of a resync; one that must write waits for an apply slot (PipelineAppliers).
 */
export const plansInHand = (pipelineConcurrency = 1) => pipelineConcurrency * 4;

/** The applier consumer's default ack wait, its config's (`consumer.ackWaitMs`) too: one copy. */
export const APPLIER_ACK_WAIT_MS = 60_000;

/** Only this cluster's plans (several pipelines' plans side by side). */
export function applierConsumer(
  cluster: string,
  ackWaitMs = APPLIER_ACK_WAIT_MS,
  concurrency = 1,
): ConsumerSpec {
  return {
    durable: applierIdentity(cluster),
    filters: [subjectFilter(PlanCreated, cluster)],
    ackWaitMs,
    concurrency,
  };
}

/** The bundle store an applier reads: its configured one, or `flotilla-bundles-<cluster>`. */
export const applierBundleBucket = (config: { cluster: string; bundles?: { bucket?: string | undefined } }) =>
  config.bundles?.bucket ?? clusterBundleBucket('flotilla-bundles', config.cluster);

/**
 * Everything one cluster's applier uses on NATS (see `NatsResources`): its plan consumer, its
 * own cluster's bundle store read-only (no other cluster's), and its own cluster's results.
 */
export function natsResources(config: {
  cluster: string;
  consumer?: { ackWaitMs?: number };
  pipelineConcurrency?: number;
  bundles?: { bucket?: string | undefined };
}): NatsResources {
  const consumer = applierConsumer(
    config.cluster,
    config.consumer?.ackWaitMs,
    plansInHand(config.pipelineConcurrency),
  );
  return {
    identity: applierIdentity(config.cluster),
    producer: 'cluster-applier',
    consumers: [consumer],
    kv: [],
    objectStores: [{ bucket: applierBundleBucket(config), access: 'ro' }],
    publishes: [...eventSubjectsOf('cluster-applier', config.cluster), deadLetterSubject(consumer.durable)],
  };
}
