/** What the bus's typed reads answer (stream and consumer state, a stored message). */
export type { ConsumerInfo, StoredMsg, StreamInfo } from '@nats-io/jetstream';
export { BlobStore, sha256Digest } from './blobs.ts';
export {
  Bus,
  type BusLogger,
  type BusOptions,
  natsOptions,
  type PublishContext,
  type Published,
} from './bus.ts';
export type { ConsumeOptions, EventHandler, HandlerContext, Subscription } from './consumer.ts';
export { decodeKey, encodeKey, JsonKv, type Versioned } from './kv.ts';
export {
  Lease,
  type LeaseRecord,
  LeaseSet,
  type LeaseSetOptions,
  leaseLost,
  type MonotonicClock,
} from './lease.ts';
export { type BusMetrics, busMetrics } from './metrics.ts';
export {
  isConsumerNotFound,
  isNoMessageFound,
  isNoResponders,
  isStreamNotFound,
  isTimeout,
} from './nats-errors.ts';
export { type OwnerRequests, ownerRequests } from './owner-requests.ts';
export { type ProvisionOptions, type ProvisionStep, provisionNats } from './provision.ts';
export { preferredOwner } from './rendezvous.ts';
export type { Replayed, ReplayOptions } from './replay.ts';
export {
  type BucketSpec,
  type ConsumerSpec,
  clusterBundleBucket,
  consumerConfig,
  consumerDrift,
  deadLetterSubject,
  eventSubjectsOf,
  inboxPrefixFor,
  type NatsResources,
  notProvisioned,
  type StreamSpec,
} from './resources.ts';
export { RevisionAges } from './revision-ages.ts';
export {
  CHECKPOINT_STREAM,
  CHECKPOINT_SUBJECT_PREFIX,
  checkpointStreamConfig,
  EVENT_STREAM,
  ensureCheckpointStream,
  ensureEventStream,
  eventStreamConfig,
  type StreamOptions,
} from './stream.ts';
