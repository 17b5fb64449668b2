import { randomUUID } from 'node:crypto';
import {
  createEvent,
  DeadLettered,
  encodeEvent,
  type FlotillaEvent,
  PlanCreated,
  subjectFilter,
  subjectOf,
} from '@flotilla/events';
import { samples } from '@flotilla/events/samples';
import { type NatsServer, rawNats, startNats, waitFor } from '@flotilla/test-support';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Bus } from '../src/index.ts';

// Forged events written straight into the stream (bypassing the publisher's validation, as a
// compromised or buggy client would): the consumer never hands them to its handler, dead-letters
// each with the specific reason, and keeps consuming the valid events behind them.
let nats: NatsServer;
let bus: Bus;

beforeAll(async () => {
  nats = await startNats();
  bus = await Bus.connect({ servers: nats.url, service: 'planner', instance: 'forge', ensureStream: true });
});

afterAll(async () => {
  await bus?.close();
  await nats?.dispose();
});

it('dead-letters forged events (wrong source, unknown type, wrong subject, bad data, not JSON) and goes on', async () => {
  const cluster = `forge-${randomUUID().slice(0, 8)}`;
  const durable = `forge-${randomUUID().slice(0, 8)}`;
  const dead: FlotillaEvent<typeof samples.DeadLettered>[] = [];
  const dlSub = await bus.consume({
    durable: `dl-${durable}`,
    filters: [subjectFilter(DeadLettered, durable)],
    handler: async (e) => {
      dead.push(e as FlotillaEvent<typeof samples.DeadLettered>);
    },
  });
  const handled: string[] = [];
  const sub = await bus.consume({
    durable,
    filters: [subjectFilter(PlanCreated, cluster)],
    handler: async (e) => {
      handled.push(e.id);
    },
  });

  const honest = (id: string, data = { ...samples.PlanCreated, cluster }) =>
    createEvent(PlanCreated, data, { source: 'flotilla://planner/p', actor: 'service:planner', id });
  const subject = subjectOf(PlanCreated, { ...samples.PlanCreated, cluster });
  const forged: Array<[code: string, payload: string | FlotillaEvent]> = [
    // A watcher (or anyone holding its identity) pretending to be the planner.
    ['event.wrong-source', { ...honest('f-source'), source: 'flotilla://git-watcher/w' }],
    ['event.unknown-type', { ...honest('f-type'), type: 'io.flotilla.plan.exploded.v1' }],
    // A plan for another cluster smuggled onto this cluster's subject.
    ['event.subject-mismatch', honest('f-subject', { ...samples.PlanCreated, cluster: `${cluster}-other` })],
    ['event.invalid-data', { ...honest('f-data'), data: { ...samples.PlanCreated, cluster, sequence: -1 } }],
    ['event.invalid-envelope', { ...honest('f-envelope'), specversion: '0.3' } as unknown as FlotillaEvent],
    ['event.malformed-json', '{"specversion":"1.0",'],
  ];
  for (const [, payload] of forged) {
    await rawNats(bus).js.publish(
      subject,
      typeof payload === 'string' ? new TextEncoder().encode(payload) : encodeEvent(payload),
    );
  }
  const valid = honest(`ok-${randomUUID()}`);
  await bus.publishEvent(valid);

  await waitFor(
    'the valid event behind the forgeries',
    async () => (handled.includes(valid.id) ? true : undefined),
    {
      timeoutMs: 20_000,
      intervalMs: 100,
    },
  );
  await waitFor('a dead letter per forgery', async () => (dead.length >= forged.length ? true : undefined), {
    timeoutMs: 20_000,
    intervalMs: 100,
  });
  expect(handled).toEqual([valid.id]);
  const codeOf = (marker: string) => dead.find((d) => d.data.payload.includes(marker))?.data.code;
  expect(dead.map((d) => d.data.code).sort()).toEqual(forged.map(([code]) => code).sort());
  for (const d of dead) {
    expect(d.data.consumer).toBe(durable);
    expect(d.data.reason).not.toBe('');
  }
  // The original bytes travel with the dead letter, for whoever investigates.
  expect(codeOf('flotilla://git-watcher/w')).toBe('event.wrong-source');
  expect(codeOf('io.flotilla.plan.exploded.v1')).toBe('event.unknown-type');
  expect(dead.find((d) => d.data.payload === '{"specversion":"1.0",')?.data.code).toBe(
    'event.malformed-json',
  );

  await sub.stop();
  await dlSub.stop();
});
