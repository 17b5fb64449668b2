import { randomUUID } from 'node:crypto';
import { FlotillaError, retryable, waiting } from '@flotilla/errors';
import {
  catalog,
  createEvent,
  DeadLettered,
  DriftDetected,
  type EventDefinition,
  type FlotillaEvent,
  PlanCreated,
  subjectFilter,
} from '@flotilla/events';
import { sampleSource, samples } from '@flotilla/events/samples';
import { type NatsServer, rawNats, startNats, waitFor, waitUntil } from '@flotilla/test-support';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Bus, sha256Digest } from '../src/index.ts';

let nats: NatsServer;
let bus: Bus;

beforeAll(async () => {
  nats = await startNats();
  bus = await Bus.connect({ servers: nats.url, service: 'planner', instance: 'test', ensureStream: true });
});

afterAll(async () => {
  await bus?.close();
  await nats?.dispose();
});

const uniq = (p: string) => `${p}-${randomUUID().slice(0, 8)}`;

function collector() {
  const events: FlotillaEvent[] = [];
  const waiters: Array<() => void> = [];
  return {
    events,
    push(e: FlotillaEvent) {
      events.push(e);
      for (const w of waiters.splice(0)) w();
    },
    async until(pred: () => boolean, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      while (!pred()) {
        if (Date.now() > deadline) throw new Error(`timed out; have ${events.length} events`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 200);
        });
      }
    },
  };
}

async function deadLetters(durable: string) {
  const seen = collector();
  const sub = await bus.consume({
    durable: uniq('dl-watch'),
    filters: [subjectFilter(DeadLettered, durable)],
    handler: async (e) => seen.push(e),
  });
  return { seen, sub };
}

describe('typed publish and consume', () => {
  it('round-trips every event type in the catalog, validated on both ends', async () => {
    const cluster = uniq('rt');
    const got = collector();
    const published: FlotillaEvent[] = [];
    // Each service publishes its own events: source is checked against the catalog's producers.
    for (const def of catalog as readonly EventDefinition[]) {
      const data = structuredClone(samples[def.name as keyof typeof samples]) as Record<string, unknown>;
      const event = createEvent(def, data as never, {
        source: sampleSource(def).replace('/test', `/${cluster}`),
        actor: 'user:alice',
      });
      published.push((await bus.publishEvent(event)).event);
    }
    const sub = await bus.consume({
      durable: uniq('roundtrip'),
      filters: ['flotilla.v1.>'],
      handler: async (e) => {
        if (e.source.endsWith(`/${cluster}`)) got.push(e);
      },
    });
    await got.until(() => got.events.length >= catalog.length);
    await sub.stop();
    expect(got.events.map((e) => e.type).sort()).toEqual(catalog.map((d) => d.type).sort());
    expect(got.events).toEqual(expect.arrayContaining(published));
  });

  it('refuses to publish an invalid event', async () => {
    await expect(
      bus.publish(PlanCreated, { ...samples.PlanCreated, revision: 'nope' } as never),
    ).rejects.toThrow(/invalid PlanCreated data/);
  });

  it('stores a re-published event id once', async () => {
    const event = createEvent(
      PlanCreated,
      { ...samples.PlanCreated, cluster: uniq('dup') },
      {
        source: 'flotilla://planner/t',
        actor: 'service:planner',
      },
    );
    const first = await bus.publishEvent(event);
    const second = await bus.publishEvent(event);
    expect(first.duplicate).toBe(false);
    expect(second.duplicate).toBe(true);
    expect(second.seq).toBe(first.seq);
  });

  it('dead-letters an invalid message with the reason and never calls the handler', async () => {
    const cluster = uniq('bad');
    const durable = uniq('invalid');
    const { seen, sub: dlSub } = await deadLetters(durable);
    let calls = 0;
    const sub = await bus.consume({
      durable,
      filters: [subjectFilter(PlanCreated, cluster)],
      handler: async () => {
        calls++;
      },
    });
    await rawNats(bus).js.publish(
      `flotilla.v1.plan.created.${cluster}`,
      new TextEncoder().encode('{"specversion":"1.0"}'),
    );
    await seen.until(() => seen.events.length === 1);
    const dl = seen.events[0] as FlotillaEvent<typeof samples.DeadLettered>;
    expect(dl.type).toBe(DeadLettered.type);
    expect(dl.data.code).toBe('event.invalid-envelope');
    expect(dl.data.reason).toMatch(/invalid event envelope/);
    expect(dl.data.payload).toBe('{"specversion":"1.0"}');
    expect(calls).toBe(0);
    await sub.stop();
    await dlSub.stop();
  });

  it('dead-letters an event carrying a Secret value without copying it (published around validation)', async () => {
    const cluster = uniq('leak');
    const durable = uniq('leak');
    const { seen, sub: dlSub } = await deadLetters(durable);
    let calls = 0;
    const sub = await bus.consume({
      durable,
      filters: [subjectFilter(DriftDetected, cluster)],
      handler: async () => {
        calls++;
      },
    });
    const leaky = createEvent(
      DriftDetected,
      {
        cluster,
        object: 'Secret shop/db',
        diffs: [{ path: '.data.password', expected: 'czNjcjN0LXZhbHVl', actual: 'aHVudGVyMg==' }],
        policy: 'report',
      },
      { source: 'flotilla://cluster-applier/old', actor: 'service:cluster-applier' },
    );
    // A raw publish, as an old or hostile producer would send it: the bus's own publish refuses it.
    await expect(bus.publishEvent(leaky)).rejects.toThrow(/sensitive/);
    await rawNats(bus).js.publish(
      `flotilla.v1.drift.detected.${cluster}`,
      new TextEncoder().encode(JSON.stringify(leaky)),
    );
    await seen.until(() => seen.events.length === 1);
    const dl = seen.events[0] as FlotillaEvent<typeof samples.DeadLettered>;
    expect(dl.data.code).toBe('event.forbidden-content');
    expect(dl.data.reason).toMatch(/\.data\.password of Secret shop\/db is sensitive/);
    expect(JSON.stringify(dl)).not.toMatch(/czNjcjN0LXZhbHVl|aHVudGVyMg==/);
    expect(calls).toBe(0);
    await sub.stop();
    await dlSub.stop();
  });

  it('holds a waiting message past maxDeliver, then dead-letters it as held.expired after maxHeldMs', async () => {
    const cluster = uniq('held');
    const durable = uniq('held');
    const { seen, sub: dlSub } = await deadLetters(durable);
    const deliveries: number[] = [];
    const held = await bus.consume({
      durable,
      filters: [subjectFilter(PlanCreated, cluster)],
      maxDeliver: 2,
      backoffMs: [20],
      holdWaiting: true,
      // 5 deliveries past maxDeliver at the 20 ms step: dead-lettered on the 7th.
      maxHeldMs: 100,
      handler: async (_e, ctx) => {
        deliveries.push(ctx.deliveryCount);
        throw waiting('git.push-rejected', 'pre-receive hook declined');
      },
    });
    const { event } = await bus.publish(PlanCreated, { ...samples.PlanCreated, cluster });
    await seen.until(() => seen.events.length === 1);
    const dl = seen.events[0] as FlotillaEvent<typeof samples.DeadLettered>;
    expect(deliveries).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(dl.data).toMatchObject({ consumer: durable, code: 'held.expired', deliveries: 7 });
    expect(dl.data.reason).toMatch(/still refused: git.push-rejected: pre-receive hook declined/);
    expect(dl.data.eventId).toBe(event.id);
    await held.stop();
    await dlSub.stop();
  });

  it("shows each running consumer's backlog and unacknowledged messages on /metrics, read from the server", async () => {
    const registry = new Registry();
    const own = await Bus.connect({
      servers: nats.url,
      service: 'planner',
      instance: 'metrics',
      metrics: registry,
    });
    const cluster = uniq('backlog');
    const durable = uniq('backlog');
    const gauge = async (name: string) => {
      const text = await registry.getSingleMetricAsString(name);
      const line = text.split('\n').find((l) => l.startsWith(`${name}{consumer="${durable}"}`));
      return line === undefined ? undefined : Number(line.split(' ')[1]);
    };
    let release: () => void = () => undefined;
    const released = new Promise<void>((r) => {
      release = r;
    });
    const handled: string[] = [];
    const sub = await own.consume({
      durable,
      filters: [subjectFilter(PlanCreated, cluster)],
      handler: async (e) => {
        await released;
        handled.push(e.id);
      },
    });
    for (let i = 0; i < 3; i++) await own.publish(PlanCreated, { ...samples.PlanCreated, cluster });
    // All three are delivered to the client (it fetches ahead) and none is acknowledged while the
    // handler is held.
    await waitFor('3 unacknowledged', async () =>
      (await gauge('flotilla_bus_consumer_ack_pending_messages')) === 3 ? true : undefined,
    );
    expect(await gauge('flotilla_bus_consumer_pending_messages')).toBe(0);
    release();
    await waitFor('all handled', async () => (handled.length === 3 ? true : undefined));
    await waitFor('nothing unacknowledged', async () =>
      (await gauge('flotilla_bus_consumer_ack_pending_messages')) === 0 ? true : undefined,
    );
    await sub.stop();
    // A stopped consumer is no longer reported.
    expect(await gauge('flotilla_bus_consumer_pending_messages')).toBeUndefined();
    await own.close();
  });

  it('redelivers after a retryable failure, then dead-letters a handler that always fails', async () => {
    const flakyCluster = uniq('flaky');
    const deliveries: number[] = [];
    const flaky = await bus.consume({
      durable: uniq('flaky'),
      filters: [subjectFilter(PlanCreated, flakyCluster)],
      backoffMs: [50],
      handler: async (_e, ctx) => {
        deliveries.push(ctx.deliveryCount);
        if (ctx.deliveryCount === 1) throw retryable('test.transient', 'try again');
      },
    });
    await bus.publish(PlanCreated, { ...samples.PlanCreated, cluster: flakyCluster });
    await waitUntil('the retried delivery', () => deliveries.length >= 2, { intervalMs: 50 });
    expect(deliveries).toEqual([1, 2]);
    await flaky.stop();

    const brokenCluster = uniq('broken');
    const durable = uniq('broken');
    const { seen, sub: dlSub } = await deadLetters(durable);
    let attempts = 0;
    const broken = await bus.consume({
      durable,
      filters: [subjectFilter(PlanCreated, brokenCluster)],
      maxDeliver: 3,
      backoffMs: [20],
      handler: async () => {
        attempts++;
        throw new Error('always fails');
      },
    });
    const { event } = await bus.publish(PlanCreated, { ...samples.PlanCreated, cluster: brokenCluster });
    await seen.until(() => seen.events.length === 1);
    const dl = seen.events[0] as FlotillaEvent<typeof samples.DeadLettered>;
    expect(attempts).toBe(3);
    expect(dl.data).toMatchObject({
      consumer: durable,
      code: 'handler.failed',
      reason: 'always fails',
      deliveries: 3,
    });
    expect(dl.data.eventId).toBe(event.id);
    expect(dl.causationid).toBe(event.id);
    await broken.stop();
    await dlSub.stop();
  });

  it('dead-letters at once when the handler says retrying cannot help', async () => {
    const cluster = uniq('stall');
    const durable = uniq('stall');
    const { seen, sub: dlSub } = await deadLetters(durable);
    let attempts = 0;
    const sub = await bus.consume({
      durable,
      filters: [subjectFilter(PlanCreated, cluster)],
      handler: async () => {
        attempts++;
        throw new FlotillaError('test.forbidden', 'not allowed');
      },
    });
    await bus.publish(PlanCreated, { ...samples.PlanCreated, cluster });
    await seen.until(() => seen.events.length === 1);
    expect(attempts).toBe(1);
    expect(seen.events[0]?.data).toMatchObject({ code: 'test.forbidden' });
    await sub.stop();
    await dlSub.stop();
  });
});

describe('leases', () => {
  it('lets exactly one of two holders win, and hands over after the holder dies', async () => {
    const bucket = uniq('leases');
    const key = 'git://example.com/repo.git';
    const a = await bus.leaseSet(bucket, { owner: 'a', ttlMs: 1500, keys: () => [key] });
    const b = await bus.leaseSet(bucket, { owner: 'b', ttlMs: 1500, keys: () => [key] });
    await Promise.all([a.runCycle(), b.runCycle()]);
    expect([a.holds(key), b.holds(key)].filter(Boolean)).toHaveLength(1);
    const [winner, loser, loserName] = a.holds(key) ? [a, b, 'b'] : [b, a, 'a'];
    expect(await loser.ownerOf(key)).toBe(loserName === 'a' ? 'b' : 'a');
    // The winner "dies": it stops renewing. Within the TTL the loser still cannot take it.
    await loser.runCycle();
    expect(loser.holds(key)).toBe(false);
    await waitFor('the lease to expire', async () => ((await loser.ownerOf(key)) ? undefined : true));
    await loser.runCycle();
    expect(loser.holds(key)).toBe(true);
    expect(winner.holds(key)).toBe(false);
    await a.stop();
    await b.stop();
  });

  it('tells a holder whose lease ran out before its renewal that another instance took it', async () => {
    const bucket = uniq('leases');
    const key = 'oci://example.com/app';
    const calls: string[] = [];
    const set = (owner: string) =>
      bus.leaseSet(bucket, {
        owner,
        ttlMs: 1000,
        keys: () => [key],
        onAcquired: () => void calls.push(`${owner} acquired`),
        onLost: () => void calls.push(`${owner} lost`),
      });
    const [slow, other] = await Promise.all([set('slow'), set('other')]);
    await slow.runCycle();
    // The slow holder misses its renewals for longer than the TTL; the other instance takes over.
    await waitFor('the lease to expire', async () => ((await other.ownerOf(key)) ? undefined : true));
    await other.runCycle();
    await slow.runCycle();
    expect(calls).toEqual(['slow acquired', 'other acquired', 'slow lost']);
    await slow.stop();
    await other.stop();
  });
});

describe('object store', () => {
  it('stores by digest, verifies on read, and names corrupt or missing blobs', async () => {
    const blobs = await bus.blobs(uniq('blobs'));
    const bytes = new TextEncoder().encode(`bundle ${randomUUID()}`);
    const digest = await blobs.put(bytes);
    expect(digest).toBe(sha256Digest(bytes));
    expect(await blobs.put(bytes)).toBe(digest);
    expect(new TextDecoder().decode(await blobs.get(digest))).toBe(new TextDecoder().decode(bytes));

    const forged = sha256Digest(new TextEncoder().encode('what the planner signed'));
    await blobs.store.putBlob({ name: forged }, new TextEncoder().encode('what an attacker stored'));
    await expect(blobs.get(forged)).rejects.toMatchObject({ code: 'bus.blob-digest-mismatch' });
    await expect(blobs.get(sha256Digest(new Uint8Array([1])))).rejects.toMatchObject({
      code: 'bus.blob-not-found',
    });
    await expect(blobs.get('md5:abc')).rejects.toMatchObject({ code: 'bus.blob-bad-digest' });
  });

  it('reads one-chunk blobs without a consumer each, and blobs of many chunks whole', async () => {
    const bucket = uniq('blobs');
    const blobs = await bus.blobs(bucket);
    const small = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        blobs.put(new TextEncoder().encode(`bundle ${i} ${randomUUID()}`)),
      ),
    );
    for (const d of small) expect(sha256Digest(await blobs.get(d))).toBe(d);
    // The Object Store client leaves an ordered consumer behind per read (until idle a while):
    // hundreds of bundle reads in a resync used to reach the stream's consumer limit.
    expect((await bus.streamInfo(`OBJ_${bucket}`))?.state.consumer_count).toBe(0);
    // Over the 128 KiB chunk size: several chunks, read through the client and still verified.
    const large = new Uint8Array(300 * 1024).map((_, i) => (i * 7) % 251);
    const digest = await blobs.put(large);
    expect(await blobs.get(digest)).toEqual(large);
    expect(await blobs.get(await blobs.put(new Uint8Array()))).toEqual(new Uint8Array());
  });
});

describe('stream', () => {
  it('is file-backed with a dedupe window and limits', async () => {
    const info = await bus.streamInfo();
    if (!info) throw new Error('the event stream is missing');
    expect(info.config.storage).toBe('file');
    expect(info.config.subjects).toEqual(['flotilla.v1.>']);
    expect(info.config.duplicate_window).toBeGreaterThan(0);
    expect(info.config.max_age).toBeGreaterThan(0);
  });
});

describe('typed reads and the live tail', () => {
  it('answer undefined for what does not exist (typed nats.js errors, not message text)', async () => {
    expect(await bus.streamInfo(uniq('NO_SUCH_STREAM'))).toBeUndefined();
    expect(await bus.consumerInfo(uniq('no-such-consumer'))).toBeUndefined();
    expect(await bus.consumerInfo('any', uniq('NO_SUCH_STREAM'))).toBeUndefined();
    const last = (await bus.streamInfo())?.state.last_seq ?? 0;
    expect(await bus.storedMessage({ seq: last + 1000 })).toBeUndefined();
    expect(await bus.storedMessage({ last_by_subj: `flotilla.v1.${uniq('none')}` })).toBeUndefined();
  });

  it('reads a stored event back by sequence and a consumer by name', async () => {
    const durable = uniq('info');
    const sub = await bus.consume({
      durable,
      filters: [subjectFilter(PlanCreated, uniq('c'))],
      handler: async () => {},
    });
    const { seq, event } = await bus.publish(PlanCreated, samples.PlanCreated as never);
    const stored = await bus.storedMessage({ seq });
    expect(JSON.parse(new TextDecoder().decode(stored?.data)).id).toBe(event.id);
    expect((await bus.consumerInfo(durable))?.name).toBe(durable);
    await sub.stop();
  });

  it('appends checkpoints only to checkpoint subjects', async () => {
    await expect(bus.appendCheckpoint('flotilla.v1.plan.created.x', '{}', 'm')).rejects.toMatchObject({
      code: 'bus.bad-subject',
    });
  });

  it('tails live messages on a filter', async () => {
    // Outside flotilla.v1.> so the event stream does not store it.
    const subject = `test.tail.${uniq('t')}`;
    const seen: string[] = [];
    const tail = bus.tail(subject, (m) => seen.push(new TextDecoder().decode(m.data)));
    await rawNats(bus).nc.flush();
    rawNats(bus).nc.publish(subject, 'hello');
    await waitUntil('the tail saw the message', () => seen.length === 1);
    tail.stop();
    expect(seen).toEqual(['hello']);
  });
});
