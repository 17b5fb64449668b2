import { describe, expect, it } from 'vitest';
import { ImageTagDetected } from './catalog/index.ts';
import { createEvent } from './envelope.ts';
import { samples } from './samples.ts';
import {
  childTraceparent,
  formatTraceparent,
  keyedTraceparent,
  newTraceparent,
  parseTraceparent,
  traceIdOf,
} from './trace-context.ts';
import { validateEvent } from './validate.ts';

const W3C_EXAMPLE = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

describe('trace context', () => {
  it('parses and formats the W3C example', () => {
    const p = parseTraceparent(W3C_EXAMPLE);
    expect(p).toEqual({
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      spanId: '00f067aa0ba902b7',
      sampled: true,
    });
    expect(formatTraceparent(p as NonNullable<typeof p>)).toBe(W3C_EXAMPLE);
  });

  it.each([
    ['uppercase hex', '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01'],
    ['all-zero trace id', `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`],
    ['all-zero span id', `00-4bf92f3577b34da6a3ce929d0e0e4736-${'0'.repeat(16)}-01`],
    ['unknown version', '01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'],
    ['short trace id', '00-4bf92f3577b34da6-00f067aa0ba902b7-01'],
    ['trailing junk', `${W3C_EXAMPLE}-extra`],
  ])('refuses %s', (_name, value) => {
    expect(parseTraceparent(value)).toBeNull();
  });

  it('a child keeps the trace id and gets a new span id', () => {
    const child = childTraceparent(W3C_EXAMPLE);
    expect(traceIdOf(child)).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(parseTraceparent(child)?.spanId).not.toBe('00f067aa0ba902b7');
  });

  it('a child of nothing (or of garbage) starts a new trace', () => {
    expect(parseTraceparent(childTraceparent(undefined))).not.toBeNull();
    expect(parseTraceparent(childTraceparent('garbage'))).not.toBeNull();
    expect(traceIdOf(newTraceparent())).not.toBe(traceIdOf(newTraceparent()));
  });
});

describe('keyed traces', () => {
  it('one key is one trace (distinct spans), another key another trace', () => {
    const a = keyedTraceparent('promotion-1-proposed');
    const b = keyedTraceparent('promotion-1-proposed');
    expect(traceIdOf(a)).toBe(traceIdOf(b));
    expect(a).not.toBe(b);
    expect(traceIdOf(keyedTraceparent('promotion-2-proposed'))).not.toBe(traceIdOf(a));
  });
});

describe('trace context in the envelope', () => {
  const ctx = { source: 'flotilla://registry-watcher/t', actor: 'service:registry-watcher' };

  it('every created event carries a valid traceparent, and a given one is kept', () => {
    const fresh = createEvent(ImageTagDetected, samples.ImageTagDetected, ctx);
    expect(parseTraceparent(fresh.traceparent)).not.toBeNull();
    const kept = createEvent(ImageTagDetected, samples.ImageTagDetected, {
      ...ctx,
      traceparent: W3C_EXAMPLE,
      tracestate: 'vendor=abc',
    });
    expect(validateEvent(kept)).toMatchObject({ traceparent: W3C_EXAMPLE, tracestate: 'vendor=abc' });
  });

  it('an event from before the extension (no traceparent) still validates', () => {
    const { traceparent: _t, ...old } = createEvent(ImageTagDetected, samples.ImageTagDetected, ctx);
    expect(validateEvent(old).id).toBe(old.id);
  });

  it('a malformed traceparent or tracestate is an invalid envelope', () => {
    const e = createEvent(ImageTagDetected, samples.ImageTagDetected, ctx);
    expect(() => validateEvent({ ...e, traceparent: 'not-a-traceparent' })).toThrow(/traceparent/);
    expect(() => validateEvent({ ...e, tracestate: 'x'.repeat(513) })).toThrow(/tracestate/);
    expect(() => validateEvent({ ...e, tracestate: 'a=b\nc=d' })).toThrow(/tracestate/);
  });
});
