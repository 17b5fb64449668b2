import { SUBJECT_PREFIX } from '@flotilla/events';
import {
  DiscardPolicy,
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from '@nats-io/jetstream';
import { nanos } from '@nats-io/nats-core';

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

/** Creates the event stream, or updates its limits; safe to call from every service at start. */
export async function ensureEventStream(jsm: JetStreamManager, opts: StreamOptions = {}): Promise<void> {
  const config = eventStreamConfig(opts);
  try {
    await jsm.streams.info(EVENT_STREAM);
    const { name: _n, ...update } = config;
    await jsm.streams.update(EVENT_STREAM, update);
  } catch (err) {
    if (!String((err as Error).message).includes('not found')) throw err;
    await jsm.streams.add(config);
  }
}
