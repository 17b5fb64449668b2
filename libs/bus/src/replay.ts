import { messageOf } from '@flotilla/errors';
import { decodeEvent, type FlotillaEvent } from '@flotilla/events';
import { DeliverPolicy, type JetStreamClient } from '@nats-io/jetstream';
import type { BusLogger } from './bus.ts';
import { EVENT_STREAM } from './stream.ts';

export interface ReplayOptions {
  /** RFC 3339; only events stored at or after this time. */
  since?: string;
}

export interface Replayed {
  /** Stream sequence: merges replays of several filters in stored order. */
  seq: number;
  event: FlotillaEvent;
}

/**
 * The stored events of one subject filter, oldest first, read with an ordered consumer that is
 * deleted afterwards. One filter per replay: nats.js then names the consumer and its filter in the
 * create subject, which the NATS authorization can pin. An event that no longer decodes is logged
 * with its sequence and the reason, and skipped.
 */
export async function* replayEvents(
  js: JetStreamClient,
  logger: BusLogger,
  filter: string,
  opts: ReplayOptions = {},
): AsyncGenerator<Replayed> {
  const consumer = await js.consumers.get(EVENT_STREAM, {
    filter_subjects: filter,
    ...(opts.since
      ? { deliver_policy: DeliverPolicy.StartTime, opt_start_time: new Date(opts.since).toISOString() }
      : { deliver_policy: DeliverPolicy.All }),
  });
  try {
    let pending = (await consumer.info()).num_pending;
    while (pending > 0) {
      const batch = await consumer.fetch({ max_messages: Math.min(pending, 500), expires: 2000 });
      let got = 0;
      for await (const msg of batch) {
        got++;
        pending = msg.info.pending;
        let event: FlotillaEvent;
        try {
          event = decodeEvent(msg.data, { subject: msg.subject });
        } catch (err) {
          logger.warn(
            { seq: msg.seq, subject: msg.subject, err: messageOf(err) },
            'stored event skipped in replay',
          );
          continue;
        }
        yield { seq: msg.seq, event };
      }
      if (got === 0) break;
    }
  } finally {
    await consumer.delete().catch(() => undefined);
  }
}
