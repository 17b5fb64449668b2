import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import { NoRespondersError, RequestError, TimeoutError } from '@nats-io/nats-core';

/** nats.js's typed errors, so callers never match on message text (which changes between releases). */

/** The stream (or the KV bucket / object store behind it) does not exist. */
export function isStreamNotFound(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound;
}

export function isConsumerNotFound(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.code === JetStreamApiCodes.ConsumerNotFound;
}

/** No stored message answers a direct get (deleted, expired, never written). */
export function isNoMessageFound(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.code === JetStreamApiCodes.NoMessageFound;
}

/** Nobody subscribes to the subject (no owner right now). */
export function isNoResponders(err: unknown): boolean {
  return err instanceof NoRespondersError || (err instanceof RequestError && err.isNoResponders());
}

export function isTimeout(err: unknown): boolean {
  return err instanceof TimeoutError || (err instanceof RequestError && err.cause instanceof TimeoutError);
}

/**
 * JetStream could not place a replicated stream on enough peers (`JSClusterNoPeersErrF`, 10005):
 * "no suitable peers for placement, peer offline" while a cluster forms or a node restarts, or,
 * when it lasts, replicas the cluster cannot hold.
 */
export function isNoPeersForPlacement(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.code === 10005;
}
