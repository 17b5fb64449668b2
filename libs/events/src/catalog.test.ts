import { describe, expect, it } from 'vitest';
import {
  catalog,
  createEvent,
  decodeEvent,
  type EventDefinition,
  encodeEvent,
  PlanCreated,
  subjectOf,
  validateEvent,
} from './index.ts';
import { sampleSource, samples } from './samples.ts';

describe('event catalog', () => {
  it('has unique names and types following io.flotilla.<domain>.<event>.v1', () => {
    expect(new Set(catalog.map((d) => d.type)).size).toBe(catalog.length);
    expect(new Set(catalog.map((d) => d.name)).size).toBe(catalog.length);
    for (const def of catalog) expect(def.type).toMatch(/^io\.flotilla\.[a-z]+\.[a-z-]+\.v1$/);
  });

  it.each(catalog.map((d) => [d.name, d as EventDefinition] as const))(
    '%s: a created event survives encode/decode',
    (_name, def) => {
      const data = samples[def.name as keyof typeof samples];
      const event = createEvent(def, data as never, { source: sampleSource(def), actor: 'service:test' });
      const back = decodeEvent(encodeEvent(event), { subject: subjectOf(def, data as never) });
      expect(back).toEqual(event);
      expect(back.correlationid).toBe(event.id);
    },
  );

  it('names each problem of an invalid event', () => {
    const event = createEvent(PlanCreated, samples.PlanCreated, {
      source: 'flotilla://planner/a',
      actor: 'service:planner',
    });
    const broken = { ...event, data: { ...event.data, revision: 'not-a-sha', sequence: 0 } };
    expect(() => validateEvent(broken)).toThrow(
      /invalid PlanCreated data: .*\/data\/revision.*\/data\/sequence/,
    );
  });

  it('refuses unknown types, wrong sources, wrong subjects, non-JSON and huge payloads', () => {
    const event = createEvent(PlanCreated, samples.PlanCreated, {
      source: 'flotilla://planner/a',
      actor: 'service:planner',
    });
    expect(() => validateEvent({ ...event, type: 'io.flotilla.plan.exploded.v1' })).toThrow(
      /unknown event type/,
    );
    expect(() => validateEvent({ ...event, source: 'flotilla://git-watcher/x' })).toThrow(
      /may only come from planner/,
    );
    expect(() => validateEvent(event, { subject: 'flotilla.v1.plan.created.prod' })).toThrow(/arrived on/);
    expect(() => decodeEvent(new TextEncoder().encode('{nope'))).toThrow(/not JSON/);
    expect(() => decodeEvent(new Uint8Array(1024 * 1024 + 1))).toThrow(/exceeds/);
    const { id: _id, ...noId } = event;
    expect(() => validateEvent(noId)).toThrow(/invalid event envelope/);
  });
});
