import type { Bus } from '@flotilla/bus';
import type { FlotillaEvent } from '@flotilla/events';

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
 * Reads the planner's decisions back from the event stream. The stream is the complete record (the
 * audit repo keeps it for good); nothing is capped at N entries here except the page returned,
 * newest last. One replay per subject, merged by stream sequence: a single filter per consumer is
 * what the NATS authorization can pin (several filters would let the caller name, and so
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
  const out: Array<{ seq: number; event: FlotillaEvent }> = [];
  for await (const r of bus.replay(subject, q.since ? { since: q.since } : {})) {
    if (q.stage && !matchesStage(r.event, q.stage)) continue;
    if (q.visible && !q.visible(r.event)) continue;
    out.push(r);
    if (out.length > q.limit) out.shift();
  }
  return out;
}

function matchesStage(e: FlotillaEvent, stage: string): boolean {
  const d = e.data as Record<string, unknown>;
  return d.stage === stage || d.toStage === stage || d.fromStage === stage;
}
