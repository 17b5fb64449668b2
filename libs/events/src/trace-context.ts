import { createHash, randomBytes } from 'node:crypto';

/**
 * W3C Trace Context (Level 1) as the CloudEvents Distributed Tracing extension carries it:
 * `traceparent` = `00-<32 hex trace id>-<16 hex parent span id>-<2 hex flags>`. It lives here,
 * beside the envelope, because it is part of the event format: the bus, the planner's commit
 * trailers and `flotilla trace` all read and write it through these functions.
 */
export const TRACEPARENT_PATTERN = '^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$';
const TRACEPARENT = new RegExp(TRACEPARENT_PATTERN);
/** W3C allows 32 list members and recommends passing on at most 512 characters. */
export const MAX_TRACESTATE_LENGTH = 512;

export interface TraceParent {
  traceId: string;
  spanId: string;
  sampled: boolean;
}

const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

/** The parts of a `traceparent`, or null when it is malformed (all-zero ids are invalid too). */
export function parseTraceparent(value: string | undefined): TraceParent | null {
  if (value === undefined || !TRACEPARENT.test(value)) return null;
  const [, traceId = '', spanId = '', flags = '00'] = value.split('-');
  if (traceId === ZERO_TRACE || spanId === ZERO_SPAN) return null;
  return { traceId, spanId, sampled: (Number.parseInt(flags, 16) & 1) === 1 };
}

export function formatTraceparent(p: TraceParent): string {
  return `00-${p.traceId}-${p.spanId}-${p.sampled ? '01' : '00'}`;
}

/** A new trace: what the first event of a chain carries when nothing upstream had one. */
export function newTraceparent(sampled = true): string {
  return formatTraceparent({
    traceId: randomBytes(16).toString('hex'),
    spanId: randomBytes(8).toString('hex'),
    sampled,
  });
}

/**
 * The same trace with a new span id: how an event caused by another continues its trace when no
 * tracer is running (the new id makes each event a distinct hop, as a span would be).
 */
export function childTraceparent(parent: string | undefined): string {
  const p = parseTraceparent(parent);
  if (!p) return newTraceparent();
  return formatTraceparent({ ...p, spanId: randomBytes(8).toString('hex') });
}

/** The trace id of a `traceparent`, or undefined when it is absent or malformed. */
export function traceIdOf(traceparent: string | undefined): string | undefined {
  return parseTraceparent(traceparent)?.traceId;
}

/**
 * A trace named by a stable key (a promotion's correlation id): every event of that chain lands
 * in the same trace across soak timers, restarts and instances without storing a context.
 */
export function keyedTraceparent(key: string): string {
  return formatTraceparent({
    traceId: createHash('sha256').update(`flotilla-trace:${key}`).digest('hex').slice(0, 32),
    spanId: randomBytes(8).toString('hex'),
    sampled: true,
  });
}
