import { definitionForType, type FlotillaEvent, traceIdOf } from '@flotilla/events';

/** An event as read back from the stream: its stream sequence breaks ties of equal times. */
export interface StoredEvent {
  seq: number;
  event: FlotillaEvent;
}

const HEX_ID = /^[0-9a-f]{7,40}$/;
const TRACE_ID = /^[0-9a-f]{32}$/;

/** The commits an event is about: a detected commit, a commit the planner wrote, a plan's revision. */
function commitsOf(e: FlotillaEvent): string[] {
  const d = e.data as Record<string, unknown> | null;
  if (!d || typeof d !== 'object') return [];
  return ['sha', 'commit', 'revision'].flatMap((k) => (typeof d[k] === 'string' ? [d[k] as string] : []));
}

function isSeed(e: FlotillaEvent, query: string): boolean {
  if (e.correlationid === query || e.id === query) return true;
  if (TRACE_ID.test(query) && traceIdOf(e.traceparent) === query) return true;
  return HEX_ID.test(query) && commitsOf(e).some((c) => c.startsWith(query));
}

/**
 * The events of one delivery: those the query names (a correlation id, an event id, a trace id, or
 * a commit, full or abbreviated to 7+ hex digits), then everything sharing a correlation id or a
 * trace id with them, to a fixed point. A commit the planner wrote carries its trace in a trailer,
 * so the git-watcher's event for it, which starts a correlation of its own, joins through the
 * trace id. Pure; oldest first.
 */
export function selectTrace(events: readonly StoredEvent[], query: string): StoredEvent[] {
  const q = query.trim();
  const picked = new Set<StoredEvent>(events.filter((s) => isSeed(s.event, q)));
  const correlations = new Set<string>();
  const traces = new Set<string>();
  for (let grew = picked.size > 0; grew; ) {
    grew = false;
    for (const s of picked) {
      correlations.add(s.event.correlationid);
      const t = traceIdOf(s.event.traceparent);
      if (t) traces.add(t);
    }
    for (const s of events) {
      if (picked.has(s)) continue;
      const t = traceIdOf(s.event.traceparent);
      if (correlations.has(s.event.correlationid) || (t !== undefined && traces.has(t))) {
        picked.add(s);
        grew = true;
      }
    }
  }
  return [...picked].sort((a, b) => Date.parse(a.event.time) - Date.parse(b.event.time) || a.seq - b.seq);
}

const nameOf = (e: FlotillaEvent) => definitionForType(e.type)?.name ?? e.type;
const serviceOf = (e: FlotillaEvent) => /^flotilla:\/\/([a-z-]+)/.exec(e.source)?.[1] ?? e.source;

/** The few fields that say what an event was about, in a fixed order. */
function detailOf(e: FlotillaEvent): string {
  const d = (e.data ?? {}) as Record<string, unknown>;
  const parts: string[] = [];
  const str = (k: string) => (typeof d[k] === 'string' ? (d[k] as string) : undefined);
  if (str('pipeline')) parts.push(`pipeline=${str('pipeline')}`);
  if (str('image') && str('tag')) parts.push(`${str('image')}:${str('tag')}`);
  if (str('fromStage') && str('toStage')) parts.push(`${str('fromStage')}→${str('toStage')}`);
  else if (str('stage')) parts.push(`stage=${str('stage')}`);
  if (str('cluster')) parts.push(`cluster=${str('cluster')}`);
  for (const k of ['sha', 'commit', 'revision']) {
    const c = str(k);
    if (c) {
      parts.push(`${k}=${c.slice(0, 12)}`);
      break;
    }
  }
  if (str('status')) parts.push(`status=${str('status')}`);
  if (str('code')) parts.push(`code=${str('code')}`);
  if (str('planId')) parts.push(`plan=${str('planId')}`);
  return parts.join(' ');
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(3)}s`;

/**
 * The timeline as text: one line per event with its offset from the first and the gap since the
 * one before (where the time went), then the correlations and traces it spans.
 */
export function formatTimeline(selected: readonly StoredEvent[]): string[] {
  if (selected.length === 0) return [];
  const first = Date.parse((selected[0] as StoredEvent).event.time);
  let prev = first;
  const rows = selected.map(({ event: e }) => {
    const t = Date.parse(e.time);
    const row = [
      `+${seconds(t - first)}`.padStart(10),
      `(+${seconds(t - prev)})`.padStart(11),
      nameOf(e).padEnd(24),
      serviceOf(e).padEnd(16),
      detailOf(e),
    ];
    prev = t;
    return row.join('  ').trimEnd();
  });
  const last = Date.parse((selected[selected.length - 1] as StoredEvent).event.time);
  const correlations = [...new Set(selected.map((s) => s.event.correlationid))];
  const traces = [...new Set(selected.flatMap((s) => traceIdOf(s.event.traceparent) ?? []))];
  return [
    `${selected.length} events over ${seconds(last - first)} from ${(selected[0] as StoredEvent).event.time}`,
    ...rows,
    `correlation ids: ${correlations.join(', ')}`,
    `trace ids: ${traces.join(', ') || '(none: events from before tracing)'}`,
  ];
}
