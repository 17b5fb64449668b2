import { EVENT_STREAM } from '@flotilla/bus';
import { decodeEvent, SUBJECT_PREFIX } from '@flotilla/events';
import { DeliverPolicy, jetstream } from '@nats-io/jetstream';
import { connectNats, type NatsOptions } from './events-tail.ts';
import { CliError, EXIT } from './exit-codes.ts';
import type { StoredEvent } from './trace-timeline.ts';

export interface ReadOptions {
  nats: NatsOptions;
  /** RFC 3339: read events stored at or after this time. */
  since: string;
  /** Stop reading after this many events (memory bound); the caller says when it was hit. */
  maxEvents: number;
}

/**
 * Reads the event stream back from `since` with one short-lived ordered consumer (a single
 * filter, so the NATS authorization can pin it: see `historyReader` in nats-auth.ts). Messages
 * that do not decode are skipped: a timeline is for reading, the consumers dead-letter them.
 */
export async function readStoredEvents(
  o: ReadOptions,
): Promise<{ events: StoredEvent[]; truncated: boolean }> {
  const nc = await connectNats(o.nats);
  try {
    const js = jetstream(nc, { timeout: 10_000 });
    const consumer = await js.consumers
      .get(EVENT_STREAM, {
        filter_subjects: `${SUBJECT_PREFIX}.>`,
        deliver_policy: DeliverPolicy.StartTime,
        opt_start_time: o.since,
      })
      .catch((err: Error) => {
        throw new CliError(
          `cannot read the event stream: ${err.message} (the NATS identity needs history read access)`,
          /permission|authoriz/i.test(err.message) ? EXIT.refused : EXIT.unreachable,
        );
      });
    const events: StoredEvent[] = [];
    let pending = (await consumer.info()).num_pending;
    let truncated = false;
    while (pending > 0 && !truncated) {
      const batch = await consumer.fetch({ max_messages: Math.min(pending, 1000), expires: 2000 });
      let got = 0;
      for await (const msg of batch) {
        got++;
        pending = msg.info.pending;
        try {
          events.push({ seq: msg.seq, event: decodeEvent(msg.data, { subject: msg.subject }) });
        } catch {
          continue;
        }
        if (events.length >= o.maxEvents) {
          truncated = pending > 0;
          break;
        }
      }
      if (got === 0) break;
    }
    await consumer.delete().catch(() => undefined);
    return { events, truncated };
  } finally {
    await nc.close().catch(() => undefined);
  }
}
