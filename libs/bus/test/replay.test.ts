import { randomUUID } from 'node:crypto';
import { PlanCreated, subjectFilter } from '@flotilla/events';
import { samples } from '@flotilla/events/samples';
import { type NatsServer, rawNats, startNats } from '@flotilla/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Bus } from '../src/index.ts';

let nats: NatsServer;
let bus: Bus;
const warnings: Array<Record<string, unknown>> = [];

beforeAll(async () => {
  nats = await startNats();
  bus = await Bus.connect({
    servers: nats.url,
    service: 'planner',
    instance: 'replay',
    ensureStream: true,
    logger: { info() {}, warn: (o) => warnings.push(o as Record<string, unknown>), error() {} },
  });
});

afterAll(async () => {
  await bus?.close();
  await nats?.dispose();
});

describe('bus.replay', () => {
  it('reads a filter back oldest first, and names (never silently drops) a stored event that does not decode', async () => {
    const cluster = `replay-${randomUUID().slice(0, 8)}`;
    const published: number[] = [];
    for (let i = 1; i <= 3; i++) {
      const p = await bus.publish(PlanCreated, { ...samples.PlanCreated, cluster, sequence: i });
      published.push(p.seq);
      // Bytes that are not an event, stored between two good ones (as a foreign publisher could).
      if (i === 2) await rawNats(bus).js.publish(subjectFilter(PlanCreated, cluster), 'not an event');
    }
    const got: Array<{ seq: number; sequence: number }> = [];
    for await (const r of bus.replay(subjectFilter(PlanCreated, cluster)))
      got.push({ seq: r.seq, sequence: (r.event.data as { sequence: number }).sequence });
    expect(got).toEqual(published.map((seq, i) => ({ seq, sequence: i + 1 })));
    expect(warnings).toEqual([
      expect.objectContaining({ seq: published[1]! + 1, subject: subjectFilter(PlanCreated, cluster) }),
    ]);
  });

  it('starts at a time when asked', async () => {
    const cluster = `since-${randomUUID().slice(0, 8)}`;
    const first = await bus.publish(PlanCreated, { ...samples.PlanCreated, cluster, sequence: 1 });
    const stored = await rawNats(bus).jsm.streams.getMessage('FLOTILLA_EVENTS', { seq: first.seq });
    // Stored times are nanoseconds, `since` milliseconds: start one millisecond after the first
    // event's, and publish the second only once the clock has passed that.
    const since = new Date(stored!.time.getTime() + 1);
    while (Date.now() <= since.getTime() + 1) await new Promise((r) => setImmediate(r));
    const later = await bus.publish(PlanCreated, { ...samples.PlanCreated, cluster, sequence: 2 });
    const seqs: number[] = [];
    for await (const r of bus.replay(subjectFilter(PlanCreated, cluster), { since: since.toISOString() }))
      seqs.push(r.seq);
    expect(seqs).toEqual([later.seq]);
  });
});
