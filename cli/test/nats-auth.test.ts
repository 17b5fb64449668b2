import { randomBytes } from 'node:crypto';
import { Bus, eventStreamConfig } from '@flotilla/bus';
import {
  createEvent,
  encodeEvent,
  GitCommitDetected,
  PlanCreated,
  sourceFor,
  subjectFilter,
} from '@flotilla/events';
import { samples } from '@flotilla/events/samples';
import { type NatsServer, startNats } from '@flotilla/test-support';
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { Objm } from '@nats-io/obj';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inboxPrefixFor, renderNatsAuthorization } from '../src/nats-auth.ts';

// Real nats-server with the rendered authorization for clusters dev and prod: every forbidden
// action must be refused by the server, and every allowed one must work.

const secret = randomBytes(6).toString('hex');
const pw = (user: string) => `${user}-${secret}`;
let nats: NatsServer;
const open: NatsConnection[] = [];
const buses: Bus[] = [];

async function as(user: string, opts: { privateInbox?: boolean } = {}): Promise<NatsConnection> {
  const nc = await connect({
    servers: nats.url,
    user,
    pass: pw(user),
    ...(opts.privateInbox ? { inboxPrefix: inboxPrefixFor(user) } : {}),
  });
  open.push(nc);
  return nc;
}

async function busAs(service: 'planner' | 'git-watcher' | 'audit-writer'): Promise<Bus> {
  const bus = await Bus.connect({
    servers: nats.url,
    service,
    user: service,
    pass: pw(service),
    ensureStream: true,
  });
  buses.push(bus);
  return bus;
}

/** Resolves to the server's refusal; fails the test if the action succeeds. */
async function refused(action: () => Promise<unknown>): Promise<string> {
  try {
    await action();
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('expected NATS to refuse, but the action succeeded');
}

/** A core subscription the server refuses: the callback gets the permission error. */
function subscriptionRefused(nc: NatsConnection, subject: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`subscription to ${subject} was not refused`)), 5000);
    nc.subscribe(subject, {
      callback: (err) => {
        clearTimeout(t);
        if (err) resolve(err.message);
        else reject(new Error(`received a message on ${subject}`));
      },
    });
    void nc.flush();
  });
}

const text = (b: Uint8Array) => new TextDecoder().decode(b);

beforeAll(async () => {
  nats = await startNats({
    extraConfig: renderNatsAuthorization({ clusters: ['dev', 'prod'], password: pw }),
  });
  // The operator provisions the stream (hub services may also do it themselves, see below).
  const admin = await as('admin');
  await (await jetstreamManager(admin)).streams.add(eventStreamConfig());
  const js = jetstream(admin);
  await js.publish('flotilla.v1.plan.created.dev', 'plan for dev');
  await js.publish('flotilla.v1.plan.created.prod', 'plan for prod');
});

afterAll(async () => {
  for (const b of buses) await b.close().catch(() => undefined);
  for (const nc of open) await nc.close().catch(() => undefined);
  await nats?.dispose();
});

describe('nats authorization: applier-dev', () => {
  it('refuses a wrong password', async () => {
    const msg = await refused(() => connect({ servers: nats.url, user: 'applier-dev', pass: 'wrong' }));
    expect(msg).toMatch(/authorization/i);
  });

  it('creates its own consumer on dev plans, pulls the dev plan and acks it', async () => {
    const nc = await as('applier-dev', { privateInbox: true });
    const jsm = await jetstreamManager(nc);
    await jsm.consumers.add('FLOTILLA_EVENTS', {
      durable_name: 'applier-dev',
      filter_subject: 'flotilla.v1.plan.created.dev',
      ack_policy: AckPolicy.Explicit,
    });
    const consumer = await jetstream(nc).consumers.get('FLOTILLA_EVENTS', 'applier-dev');
    const m = await consumer.next({ expires: 3000 });
    expect(m?.subject).toBe('flotilla.v1.plan.created.dev');
    expect(text(m?.data ?? new Uint8Array())).toBe('plan for dev');
    expect(await m?.ackAck()).toBe(true);
    expect(await consumer.next({ expires: 1000 })).toBeNull(); // prod's plan never reaches it
  });

  it("cannot point its consumer at prod's plans, nor use the filter-less create forms", async () => {
    const nc = await as('applier-dev', { privateInbox: true });
    const jsm = await jetstreamManager(nc);
    const base = { durable_name: 'applier-dev', ack_policy: AckPolicy.Explicit };
    expect(
      await refused(() =>
        jsm.consumers.add('FLOTILLA_EVENTS', { ...base, filter_subject: 'flotilla.v1.plan.created.prod' }),
      ),
    ).toContain(
      'Permissions Violation for Publish to "$JS.API.CONSUMER.CREATE.FLOTILLA_EVENTS.applier-dev.flotilla.v1.plan.created.prod"',
    );
    expect(
      await refused(() =>
        jsm.consumers.add('FLOTILLA_EVENTS', { ...base, filter_subjects: ['flotilla.v1.plan.created.prod'] }),
      ),
    ).toContain(
      'Permissions Violation for Publish to "$JS.API.CONSUMER.DURABLE.CREATE.FLOTILLA_EVENTS.applier-dev"',
    );
    // The allowed create subject names dev; a body asking for prod is refused by the server itself.
    const reply = await nc.request(
      '$JS.API.CONSUMER.CREATE.FLOTILLA_EVENTS.applier-dev.flotilla.v1.plan.created.dev',
      JSON.stringify({
        stream_name: 'FLOTILLA_EVENTS',
        config: { ...base, filter_subject: 'flotilla.v1.plan.created.prod' },
      }),
      { timeout: 3000 },
    );
    const body = JSON.parse(text(reply.data)) as { error?: { description: string } };
    expect(body.error?.description).toMatch(/did not match filtered subject/i);
    const info = await jsm.consumers.info('FLOTILLA_EVENTS', 'applier-dev');
    expect(info.config.filter_subject).toBe('flotilla.v1.plan.created.dev');
  });

  it("cannot read prod's consumer or subscribe to prod's plans or other inboxes", async () => {
    const nc = await as('applier-dev', { privateInbox: true });
    expect(await refused(() => jetstream(nc).consumers.get('FLOTILLA_EVENTS', 'applier-prod'))).toContain(
      'Permissions Violation for Publish to "$JS.API.CONSUMER.INFO.FLOTILLA_EVENTS.applier-prod"',
    );
    expect(await subscriptionRefused(nc, 'flotilla.v1.plan.created.prod')).toContain(
      'Permissions Violation for Subscription',
    );
    expect(await subscriptionRefused(nc, '_INBOX.>')).toContain('Permissions Violation for Subscription');
    expect(await subscriptionRefused(nc, '_INBOX_applier-prod.>')).toContain(
      'Permissions Violation for Subscription',
    );
    // Without the private inbox prefix, JetStream requests cannot get their replies.
    const plain = await as('applier-dev');
    expect(await refused(() => jetstreamManager(plain, { timeout: 2000 }))).toMatch(
      /Permissions Violation|timeout/i,
    );
  });

  it("publishes dev's results only; never plans or prod's results", async () => {
    const nc = await as('applier-dev', { privateInbox: true });
    const js = jetstream(nc, { timeout: 3000 });
    for (const s of ['apply.succeeded.dev', 'apply.failed.dev', 'health.changed.dev', 'drift.detected.dev'])
      expect((await js.publish(`flotilla.v1.${s}`, 'ok')).stream).toBe('FLOTILLA_EVENTS');
    for (const s of [
      'plan.created.dev',
      'plan.created.prod',
      'apply.succeeded.prod',
      'promotion.approved.prod',
    ])
      expect(await refused(() => js.publish(`flotilla.v1.${s}`, 'forged'))).toContain(
        `Permissions Violation for Publish to "flotilla.v1.${s}"`,
      );
  });

  it('reads plan bundles from the object store but cannot write them', async () => {
    const planner = await busAs('planner');
    const blobs = await planner.blobs('flotilla-bundles');
    const digest = await blobs.put(new TextEncoder().encode(`bundle ${secret}`));
    const nc = await as('applier-dev', { privateInbox: true });
    const store = await new Objm(jetstream(nc)).open('flotilla-bundles');
    expect(text((await store.getBlob(digest)) ?? new Uint8Array())).toBe(`bundle ${secret}`);
    expect(await refused(() => store.putBlob({ name: 'forged' }, new Uint8Array([1])))).toMatch(
      /Permissions Violation/,
    );
  });
});

describe('nats authorization: hub services', () => {
  it('planner: provisions the stream, consumes, uses its KV buckets, leases and bundles, publishes plans', async () => {
    const bus = await busAs('planner');
    const kv = await bus.kv<{ n: number }>('planner-state');
    await kv.put('meta', { n: 1 });
    expect((await kv.get('meta'))?.value).toEqual({ n: 1 });
    expect(await kv.keys()).toEqual(['meta']);
    const leases = await bus.leaseSet('planner-leader', {
      owner: 'p1',
      ttlMs: 2000,
      keys: () => ['planner'],
      onAcquired: () => undefined,
      onLost: () => undefined,
    });
    await leases.stop();
    const seen: string[] = [];
    const sub = await bus.consume({
      durable: 'planner',
      filters: [subjectFilter(GitCommitDetected)],
      handler: async (e) => {
        seen.push(e.id);
      },
    });
    const watcher = await busAs('git-watcher');
    const { event } = await watcher.publish(GitCommitDetected, samples.GitCommitDetected);
    await expect.poll(() => seen, { timeout: 10_000 }).toContain(event.id);
    await sub.stop();
    const plan = await bus.publish(PlanCreated, { ...samples.PlanCreated, cluster: 'dev' });
    expect(plan.seq).toBeGreaterThan(0);
  });

  it('git-watcher: cannot publish plans or promotions, nor touch the planner state', async () => {
    const bus = await busAs('git-watcher');
    // A well-formed plan event claiming to come from the planner: the bus would refuse it for
    // its source, so it is sent raw; the server refuses the subject.
    const forged = createEvent(
      PlanCreated,
      { ...samples.PlanCreated, cluster: 'prod' },
      {
        source: sourceFor('planner', 'forged'),
        actor: 'service:planner',
      },
    );
    expect(
      await refused(() => bus.js.publish(forged.subject ?? '', encodeEvent(forged), { msgID: forged.id })),
    ).toContain('Permissions Violation for Publish to "flotilla.v1.plan.created.prod"');
    expect(await refused(() => bus.js.publish('flotilla.v1.promotion.approved.prod', 'forged'))).toContain(
      'Permissions Violation',
    );
    expect(await refused(() => bus.kv('planner-state'))).toContain('Permissions Violation');
    const cursors = await bus.kv<string>('git-watcher-cursors');
    await cursors.put('shop/main', 'a'.repeat(40));
  });

  it('audit-writer: consumes every event but publishes none', async () => {
    const bus = await busAs('audit-writer');
    const seen: string[] = [];
    const sub = await bus.consume({
      durable: 'audit-writer',
      filters: ['flotilla.v1.>'],
      handler: async (e) => {
        seen.push(e.type);
      },
    });
    await expect.poll(() => seen, { timeout: 10_000 }).toContain(GitCommitDetected.type);
    await sub.stop();
    expect(await refused(() => bus.js.publish('flotilla.v1.plan.created.dev', 'forged'))).toContain(
      'Permissions Violation',
    );
  });
});

describe('nats authorization: subscriber (read-only)', () => {
  it('receives live events and may own a durable consumer', async () => {
    const nc = await as('subscriber', { privateInbox: true });
    const got = new Promise<string>((resolve) => {
      nc.subscribe('flotilla.v1.>', { callback: (_e, m) => resolve(m.subject) });
    });
    await nc.flush();
    const admin = await as('admin');
    await jetstream(admin).publish('flotilla.v1.apply.succeeded.prod', 'live');
    expect(await got).toBe('flotilla.v1.apply.succeeded.prod');
    const jsm = await jetstreamManager(nc);
    await jsm.consumers.add('FLOTILLA_EVENTS', {
      durable_name: 'subscriber',
      filter_subject: 'flotilla.v1.apply.>',
      ack_policy: AckPolicy.Explicit,
    });
    const m = await (await jetstream(nc).consumers.get('FLOTILLA_EVENTS', 'subscriber')).next({
      expires: 3000,
    });
    expect(m?.subject).toMatch(/^flotilla\.v1\.apply\./);
    m?.ack();
  });

  it("cannot publish events, touch another identity's consumer, or read inboxes", async () => {
    const nc = await as('subscriber', { privateInbox: true });
    const js = jetstream(nc, { timeout: 3000 });
    expect(await refused(() => js.publish('flotilla.v1.apply.succeeded.prod', 'forged'))).toContain(
      'Permissions Violation for Publish to "flotilla.v1.apply.succeeded.prod"',
    );
    expect(await refused(() => js.publish('flotilla.v1.plan.created.dev', 'forged'))).toContain(
      'Permissions Violation',
    );
    const jsm = await jetstreamManager(nc);
    expect(await refused(() => jsm.consumers.delete('FLOTILLA_EVENTS', 'planner'))).toContain(
      'Permissions Violation',
    );
    expect(await subscriptionRefused(nc, '_INBOX.>')).toContain('Permissions Violation for Subscription');
  });
});
