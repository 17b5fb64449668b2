import { randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
// The harness only starts a real nats-server; the example's own code imports no Flotilla library.
import { type NatsServer, startNats } from '@flotilla/test-support';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Notifier, sign, startNotifier } from '../src/index.ts';

// The permissions a custom subscriber needs (README.md), plus an admin that plays Flotilla.
const AUTH = `
authorization {
  users: [
    { user: admin, password: admin-pw }
    {
      user: notifier
      password: notifier-pw
      permissions: {
        publish: {
          allow: [
            "$JS.API.INFO",
            "$JS.API.STREAM.INFO.FLOTILLA_EVENTS",
            "$JS.API.CONSUMER.CREATE.FLOTILLA_EVENTS.notifier",
            "$JS.API.CONSUMER.CREATE.FLOTILLA_EVENTS.notifier.>",
            "$JS.API.CONSUMER.DURABLE.CREATE.FLOTILLA_EVENTS.notifier",
            "$JS.API.CONSUMER.INFO.FLOTILLA_EVENTS.notifier",
            "$JS.API.CONSUMER.MSG.NEXT.FLOTILLA_EVENTS.notifier",
            "$JS.ACK.FLOTILLA_EVENTS.notifier.>",
            "$JS.ACK.*.*.FLOTILLA_EVENTS.notifier.>"
          ]
          deny: ["flotilla.v1.>"]
        }
        subscribe: { allow: ["flotilla.v1.>", "_INBOX_notifier.>"] }
      }
    }
  ]
}
`;

const SECRET = `s3cret-${randomUUID()}`;
let nats: NatsServer;
let admin: NatsConnection;
let receiver: Server;
let notifier: Notifier;
const received: Array<{ headers: IncomingHttpHeaders; body: string }> = [];

function applyEvent(overrides: Record<string, unknown> = {}, data: Record<string, unknown> = {}) {
  return {
    specversion: '1.0',
    id: randomUUID(),
    source: 'flotilla://cluster-applier/dev-0',
    type: 'io.flotilla.apply.succeeded.v1',
    time: new Date().toISOString(),
    subject: 'flotilla.v1.apply.succeeded.dev',
    datacontenttype: 'application/json',
    correlationid: randomUUID(),
    actor: 'service:cluster-applier',
    data: {
      cluster: 'dev',
      planId: 'dev-7-0123456789ab',
      revision: 'a'.repeat(40),
      bundleDigest: `sha256:${'b'.repeat(64)}`,
      counts: { total: 3, applied: 3, unchanged: 0, pruned: 0 },
      noop: false,
      startedAt: new Date().toISOString(),
      durationMs: 120,
      ...data,
    },
    ...overrides,
  };
}

beforeAll(async () => {
  nats = await startNats({ extraConfig: AUTH });
  admin = await connect({ servers: nats.url, user: 'admin', pass: 'admin-pw' });
  await (await jetstreamManager(admin)).streams.add({ name: 'FLOTILLA_EVENTS', subjects: ['flotilla.v1.>'] });
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString('utf8');
    });
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  notifier = await startNotifier({
    natsUrl: nats.url,
    natsUser: 'notifier',
    natsPassword: 'notifier-pw',
    durable: 'notifier',
    events: ['ApplySucceeded', 'ApplyFailed', 'PromotionAwaitingApproval'],
    webhookUrl: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks/flotilla`,
    secret: SECRET,
    log: () => undefined,
  });
});

afterAll(async () => {
  await notifier?.stop();
  await admin?.close();
  await new Promise((r) => receiver?.close(r));
  await nats?.dispose();
});

describe('webhook-notifier (plain NATS client + published JSON Schemas)', () => {
  it('forwards a valid event with an HMAC signature and drops a schema-invalid one', async () => {
    const js = jetstream(admin);
    const invalid = applyEvent({}, { cluster: 'Not A Valid Name!', durationMs: 'slow' });
    const valid = applyEvent();
    const raw = (e: object) => new TextEncoder().encode(JSON.stringify(e));
    await js.publish('flotilla.v1.apply.succeeded.dev', raw(invalid));
    await js.publish('flotilla.v1.apply.succeeded.dev', raw(valid));
    // Not chosen: never reaches the notifier's consumer at all.
    await js.publish(
      'flotilla.v1.health.changed.dev',
      raw(applyEvent({ type: 'io.flotilla.health.changed.v1' })),
    );

    await expect.poll(() => notifier.stats.forwarded + notifier.stats.invalid, { timeout: 10_000 }).toBe(2);
    expect(notifier.stats).toMatchObject({ forwarded: 1, invalid: 1 });
    expect(received).toHaveLength(1);
    const [hit] = received;
    expect(JSON.parse(hit?.body ?? '{}').id).toBe(valid.id);
    expect(hit?.headers['x-flotilla-signature']).toBe(sign(hit?.body ?? '', SECRET));
    expect(hit?.headers['x-flotilla-event-type']).toBe('io.flotilla.apply.succeeded.v1');
    expect(hit?.headers['x-flotilla-event-id']).toBe(valid.id);
  });

  it('its identity cannot publish events', async () => {
    const nc = await connect({
      servers: nats.url,
      user: 'notifier',
      pass: 'notifier-pw',
      inboxPrefix: '_INBOX_notifier',
    });
    try {
      await expect(
        jetstream(nc, { timeout: 2000 }).publish('flotilla.v1.apply.succeeded.dev', '{}'),
      ).rejects.toThrow(/Permissions Violation/);
    } finally {
      await nc.close();
    }
  });
});
