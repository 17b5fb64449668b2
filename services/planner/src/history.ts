import { type Bus, EVENT_STREAM } from '@flotilla/bus';
import { decodeEvent, type FlotillaEvent } from '@flotilla/events';
import { DeliverPolicy } from '@nats-io/jetstream';

/** What the history API lists: every decision the planner took, straight from the event stream. */
export const HISTORY_SUBJECTS = [
  'flotilla.v1.promotion.>',
  'flotilla.v1.image.update-committed.*',
  'flotilla.v1.plan.render-failed.*',
];

export interface HistoryQuery {
  limit: number;
  stage?: string;
  /** RFC 3339; only events at or after this time. */
  since?: string;
  /** Which events the caller may see (its read roles), applied before the page is cut. */
  visible?: (e: FlotillaEvent) => boolean;
}

/**
 * Reads the planner's decisions back from JetStream with ordered consumers. The stream is the
 * complete record (the audit repo keeps it for good); nothing is capped at N entries here except
 * the page returned, newest last.
 *
 * One ordered consumer per subject, merged by stream sequence: with a single filter nats.js
 * names the consumer and its filter in the create subject, which the NATS authorization can pin
 * (several filters use the unnamed create form, which would let the caller name, and so
 * overwrite, any durable on the stream).
 */
export async function readHistory(bus: Bus, q: HistoryQuery): Promise<FlotillaEvent[]> {
  const perSubject = await Promise.all(HISTORY_SUBJECTS.map((subject) => readSubject(bus, subject, q)));
  return perSubject
    .flat()
    .sort((a, b) => a.seq - b.seq)
    .map((e) => e.event)
    .slice(-q.limit);
}

async function readSubject(
  bus: Bus,
  subject: string,
  q: HistoryQuery,
): Promise<Array<{ seq: number; event: FlotillaEvent }>> {
  const consumer = await bus.js.consumers.get(EVENT_STREAM, {
    filter_subjects: subject,
    ...(q.since
      ? { deliver_policy: DeliverPolicy.StartTime, opt_start_time: new Date(q.since).toISOString() }
      : { deliver_policy: DeliverPolicy.All }),
  });
  const info = await consumer.info();
  let pending = info.num_pending;
  const out: Array<{ seq: number; event: FlotillaEvent }> = [];
  while (pending > 0) {
    const batch = await consumer.fetch({ max_messages: Math.min(pending, 500), expires: 2000 });
    let got = 0;
    for await (const msg of batch) {
      got++;
      pending = msg.info.pending;
      let event: FlotillaEvent;
      try {
        event = decodeEvent(msg.data, { subject: msg.subject });
      } catch {
        continue;
      }
      if (q.stage && !matchesStage(event, q.stage)) continue;
      if (q.visible && !q.visible(event)) continue;
      out.push({ seq: msg.seq, event });
      if (out.length > q.limit) out.shift();
    }
    if (got === 0) break;
  }
  await consumer.delete().catch(() => undefined);
  return out;
}

function matchesStage(e: FlotillaEvent, stage: string): boolean {
  const d = e.data as Record<string, unknown>;
  return d.stage === stage || d.toStage === stage || d.fromStage === stage;
}
