import { FlotillaError } from '@flotilla/errors';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  catalog,
  createEvent,
  decodeEvent,
  type EventDefinition,
  encodeEvent,
  MAX_EVENT_BYTES,
  subjectOf,
} from './index.ts';
import { sampleSource, samples } from './samples.ts';

// decodeEvent is the bus's front door: every message from NATS passes through it before a handler
// sees it. Whatever arrives, the only failure is a stalled FlotillaError with one of these codes,
// which the consumer turns into a DeadLettered event; anything else would crash the consumer loop.
const CODES = new Set([
  'event.too-large',
  'event.malformed-json',
  'event.invalid-envelope',
  'event.unknown-type',
  'event.invalid-data',
  'event.wrong-source',
  'event.subject-mismatch',
]);

function decodeOrCode(bytes: Uint8Array, subject?: string): string {
  try {
    const event = decodeEvent(bytes, subject === undefined ? {} : { subject });
    // What decodes is a complete event and encodes back to bytes that decode the same.
    expect(decodeEvent(encodeEvent(event), subject === undefined ? {} : { subject })).toEqual(event);
    return 'ok';
  } catch (err) {
    expect(err).toBeInstanceOf(FlotillaError);
    const e = err as FlotillaError;
    expect(CODES).toContain(e.code);
    expect(e.disposition).toBe('stall');
    return e.code;
  }
}

const utf8 = (s: string) => new TextEncoder().encode(s);
const definitions = catalog as readonly EventDefinition[];
const sampleEvent = (def: EventDefinition, source = sampleSource(def)) =>
  createEvent(def, samples[def.name as keyof typeof samples] as never, { source, actor: 'service:test' });

describe('decodeEvent properties', () => {
  it('arbitrary bytes: decoded, or refused with a stalled FlotillaError and a known code', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
        decodeOrCode(bytes);
      }),
      { numRuns: 1000 },
    );
  });

  it('arbitrary JSON values and JSON-looking text: never another exception', () => {
    const jsonish = fc
      .array(
        fc.constantFrom(
          '{',
          '}',
          '[',
          ']',
          '"',
          ':',
          ',',
          '"specversion"',
          '"1.0"',
          'null',
          '1e999',
          '\\u0000',
        ),
        {
          maxLength: 40,
        },
      )
      .map((p) => p.join(''));
    fc.assert(
      fc.property(
        fc.oneof(
          fc.jsonValue().map((v) => JSON.stringify(v) ?? ''),
          jsonish,
        ),
        (text) => {
          decodeOrCode(utf8(text));
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('a valid event with one attribute or data field replaced by arbitrary JSON: never another exception', () => {
    const def = fc.constantFrom(...definitions);
    fc.assert(
      fc.property(
        def,
        fc.boolean(),
        fc.string({ maxLength: 12 }),
        fc.jsonValue({ maxDepth: 3 }),
        fc.option(fc.string({ maxLength: 40 }), { nil: undefined }),
        (d, inData, key, value, subject) => {
          const event = sampleEvent(d) as unknown as Record<string, unknown>;
          const keys = inData ? Object.keys(event.data as object) : Object.keys(event);
          const field = keys.length > 0 && key.length % 2 === 0 ? keys[key.length % keys.length]! : key;
          const forged = inData
            ? { ...event, data: { ...(event.data as object), [field]: value } }
            : { ...event, [field]: value };
          decodeOrCode(utf8(JSON.stringify(forged)), subject);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('the source decides: only a producer of the type may send it, on the subject its data names', () => {
    const services = [
      'git-watcher',
      'registry-watcher',
      'planner',
      'cluster-applier',
      'audit-writer',
      'bus',
      'cli',
      'mallory',
    ];
    fc.assert(
      fc.property(fc.constantFrom(...definitions), fc.constantFrom(...services), (def, service) => {
        const event = sampleEvent(def, `flotilla://${service}/x`);
        const subject = subjectOf(def, event.data as never);
        const want = (def.producers as readonly string[]).includes(service) ? 'ok' : 'event.wrong-source';
        expect(decodeOrCode(encodeEvent(event), subject)).toBe(want);
        if (want === 'ok')
          expect(decodeOrCode(encodeEvent(event), `${subject}x`)).toBe('event.subject-mismatch');
      }),
      { numRuns: 300 },
    );
  });

  it('anything over the size limit is refused before it is parsed', () => {
    expect(decodeOrCode(new Uint8Array(MAX_EVENT_BYTES + 1).fill(0x7b))).toBe('event.too-large');
  });
});
