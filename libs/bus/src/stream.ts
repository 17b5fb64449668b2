import { SUBJECT_PREFIX } from '@flotilla/events';
import {
  DiscardPolicy,
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from '@nats-io/jetstream';
import { nanos } from '@nats-io/nats-core';
import { isNoPeersForPlacement, isStreamNotFound, isTimeout } from './nats-errors.ts';

export const EVENT_STREAM = 'FLOTILLA_EVENTS';

export interface StreamOptions {
  /** How long events are kept; the audit repo is the long-term record. Default 30 days. */
  maxAgeMs?: number;
  maxBytes?: number;
  /** Window in which a re-published event id is dropped as a duplicate. Default 10 minutes. */
  duplicateWindowMs?: number;
  replicas?: number;
}

export function eventStreamConfig(opts: StreamOptions = {}): Partial<StreamConfig> & { name: string } {
  return {
    name: EVENT_STREAM,
    subjects: [`${SUBJECT_PREFIX}.>`],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    max_age: nanos(opts.maxAgeMs ?? 30 * 24 * 3600_000),
    max_bytes: opts.maxBytes ?? 1024 ** 3,
    max_msg_size: 1024 * 1024,
    duplicate_window: nanos(opts.duplicateWindowMs ?? 10 * 60_000),
    num_replicas: opts.replicas ?? 1,
  };
}

/**
 * Runs a JetStream API call that is safe to repeat, again while the cluster is not ready for it,
 * for up to `withinMs`: while it times out or answers that no peers can take the stream's
 * replicas. A cluster that has just formed (every node starting at once, as a StatefulSet does)
 * or is restarting a node can leave the request to create a replicated stream unanswered, or
 * refuse it with "no suitable peers for placement, peer offline": the faults suite saw both right
 * after the meta group formed. A timed-out call may have been applied or not; asking again finds
 * out. What lasts past `withinMs` is thrown as it came.
 */
export async function whileClusterSettles<T>(call: () => Promise<T>, withinMs = 60_000): Promise<T> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    try {
      return await call();
    } catch (err) {
      if (!(isTimeout(err) || isNoPeersForPlacement(err)) || Date.now() >= deadline) throw err;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

/** Creates the event stream, or updates its limits; safe to call from every service at start. */
export async function ensureEventStream(jsm: JetStreamManager, opts: StreamOptions = {}): Promise<void> {
  const config = eventStreamConfig(opts);
  // Each attempt starts from what is there: a timed-out add may have created the stream.
  await whileClusterSettles(async () => {
    try {
      await jsm.streams.info(EVENT_STREAM);
      const { name: _n, ...update } = config;
      await jsm.streams.update(EVENT_STREAM, update);
    } catch (err) {
      if (!isStreamNotFound(err)) throw err;
      await jsm.streams.add(config);
    }
  });
}

/**
 * The audit writer's signed checkpoints, kept outside the audit repo so that someone who can
 * rewrite that repo cannot also rewrite what it was vouched to be. Deny-delete and deny-purge
 * (NATS refuses to turn them off again), no age or size limit: a checkpoint is a few hundred
 * bytes plus 32 per record, and an auditor may ask for one from years ago.
 */
export const CHECKPOINT_STREAM = 'FLOTILLA_AUDIT_CHECKPOINTS';
export const CHECKPOINT_SUBJECT_PREFIX = 'flotilla.audit.checkpoint';

export function checkpointStreamConfig(opts: { replicas?: number } = {}): Partial<StreamConfig> & {
  name: string;
} {
  return {
    name: CHECKPOINT_STREAM,
    subjects: [`${CHECKPOINT_SUBJECT_PREFIX}.>`],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.New,
    deny_delete: true,
    deny_purge: true,
    allow_rollup_hdrs: false,
    max_msg_size: 4 * 1024 * 1024,
    duplicate_window: nanos(10 * 60_000),
    num_replicas: opts.replicas ?? 1,
  };
}

export async function ensureCheckpointStream(
  jsm: JetStreamManager,
  opts: { replicas?: number } = {},
): Promise<void> {
  await whileClusterSettles(async () => {
    try {
      await jsm.streams.info(CHECKPOINT_STREAM);
    } catch (err) {
      if (!isStreamNotFound(err)) throw err;
      await jsm.streams.add(checkpointStreamConfig(opts));
    }
  });
}
