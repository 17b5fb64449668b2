/**
 * The event contract, checked from outside: every event type, published through the real bus
 * into a real JetStream stream, is decoded by the CloudEvents SDK for JavaScript (npm
 * `cloudevents`) and for Go (sdk-go with its NATS JetStream binding, in the example program), and
 * its `data` validates against the schema its `dataschema` names (ajv, default strict mode). The
 * Go example then reads deploy events with the read-only `subscriber` identity that
 * `flotilla nats-auth` generates and prints a rollout summary.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { Bus } from '@flotilla/bus';
import { renderNatsAuthorization } from '@flotilla/cli';
import {
  type CatalogEntry,
  CLOUDEVENTS_JSON,
  catalog,
  createEvent,
  type DataOf,
  dataSchemaUri,
  type EventDefinition,
  type FlotillaEvent,
  sourceFor,
} from '@flotilla/events';
import { samples } from '@flotilla/events/samples';
import { type NatsServer, startNats } from '@flotilla/test-support';
import { DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { type CloudEvent, HTTP } from 'cloudevents';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const execFileAsync = promisify(execFile);
const exampleDir = resolve(import.meta.dirname, '..');
const schemasDir = resolve(import.meta.dirname, '../../../libs/events/schemas');
const password = (user: string) => `pw-${user}-${process.pid}`;

type AddFormats = (ajv: Ajv2020) => unknown;
const addFormats = ((addFormatsModule as unknown as { default?: AddFormats }).default ??
  addFormatsModule) as unknown as AddFormats;

let nats: NatsServer;
let bus: Bus;
let admin: NatsConnection;
let dir: string;
let binary: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rollout-summary-'));
  binary = join(dir, 'rollout-summary');
  const auth = renderNatsAuthorization({
    clusters: ['dev'],
    subscribers: ['subscriber', 'contract'],
    password,
  });
  // The Go build (module download on a cold cache) runs while NATS starts.
  const [server] = await Promise.all([
    startNats({ extraConfig: auth }),
    execFileAsync('go', ['build', '-o', binary, '.'], { cwd: exampleDir, timeout: 280_000 }),
  ]);
  nats = server;
  bus = await Bus.connect({
    servers: nats.url,
    service: 'cli',
    instance: 'contract',
    user: 'admin',
    pass: password('admin'),
    ensureStream: true,
  });
  admin = await connect({ servers: nats.url, user: 'admin', pass: password('admin') });
}, 300_000);

afterAll(async () => {
  await admin?.close();
  await bus?.close();
  await nats?.dispose();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Publishes through the bus as the event's first producer would. */
async function publish<D extends EventDefinition>(def: D, data: DataOf<D>): Promise<FlotillaEvent> {
  const producer = def.producers[0]!;
  const event = createEvent(def, data as never, {
    source: sourceFor(producer, 'contract-0'),
    actor: `service:${producer}`,
  });
  await bus.publishEvent(event);
  return event;
}

/** Runs the Go example until the stream has been idle for a moment. */
async function runGo(user: string, args: string[]): Promise<{ stdout: string; stderr: string }> {
  return await execFileAsync(
    binary,
    ['-nats', nats.url, '-user', user, '-deliver', 'all', '-idle', '2s', ...args],
    {
      env: { ...process.env, NATS_PASSWORD: password(user) },
      timeout: 60_000,
    },
  );
}

describe('CloudEvents contract of every event type', () => {
  const published = new Map<string, FlotillaEvent>();
  let entries: CatalogEntry[];

  beforeAll(async () => {
    for (const def of catalog) {
      const event = await publish(def, samples[def.name as keyof typeof samples] as never);
      published.set(event.id, event);
    }
    entries = (
      JSON.parse(await readFile(join(schemasDir, 'catalog.json'), 'utf8')) as { events: CatalogEntry[] }
    ).events;
  });

  it('publishes schemas that ajv compiles in its default strict mode, listed in catalog.json', async () => {
    const ajv = new Ajv2020();
    addFormats(ajv);
    const files = (await readdir(schemasDir, { recursive: true })).filter(
      (f) => f.endsWith('.json') && f !== 'catalog.json',
    );
    for (const f of files) ajv.compile(JSON.parse(await readFile(join(schemasDir, f), 'utf8')));
    expect(files).toHaveLength(2 * catalog.length);
    expect(entries.map((e) => e.type).sort()).toEqual(catalog.map((d) => d.type).sort());
  });

  it('every message is decoded by the JS SDK, and its data validates against its dataschema', async () => {
    const ajv = new Ajv2020();
    addFormats(ajv);
    for (const e of entries)
      ajv.addSchema(JSON.parse(await readFile(join(schemasDir, e.dataschema.file), 'utf8')));

    const consumer = await jetstream(admin).consumers.get('FLOTILLA_EVENTS', {
      filter_subjects: ['flotilla.v1.>'],
      deliver_policy: DeliverPolicy.All,
    });
    const seen = new Set<string>();
    const messages = await consumer.consume();
    for await (const m of messages) {
      const contentType = m.headers?.get('Content-Type') ?? '';
      // NATS has no binding in the JS SDK: the message goes through the generic HTTP binding,
      // which decides structured mode from the content type alone.
      const message = { headers: { 'content-type': contentType }, body: m.string() };
      expect(contentType).toBe(CLOUDEVENTS_JSON);
      expect(HTTP.isEvent(message)).toBe(true);
      const decoded = HTTP.toEvent(message) as CloudEvent<unknown>;
      expect(decoded.validate()).toBe(true);
      const sent = published.get(decoded.id);
      if (sent) {
        expect(decoded.type).toBe(sent.type);
        expect(decoded.subject).toBe(m.subject);
        expect(decoded.dataschema).toBe(dataSchemaUri(sent.type));
        expect(decoded.data).toEqual(sent.data);
        expect(decoded.correlationid).toBe(sent.correlationid);
        const validate = ajv.getSchema(decoded.dataschema!);
        expect(validate, decoded.dataschema).toBeDefined();
        expect(validate!(decoded.data), `${decoded.type}: ${JSON.stringify(validate!.errors)}`).toBe(true);
        seen.add(decoded.type);
      }
      if (m.info.pending === 0) break;
    }
    expect([...seen].sort()).toEqual(catalog.map((d) => d.type).sort());
  });

  it('every message is decoded by the Go SDK through its NATS JetStream binding', async () => {
    const { stdout } = await runGo('contract', ['-events', 'all']);
    const decoded = stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((d) => published.has(d.id as string));
    expect(decoded.map((d) => d.type).sort()).toEqual(catalog.map((d) => d.type).sort());
    for (const d of decoded) {
      const sent = published.get(d.id as string)!;
      expect(d).toMatchObject({
        specversion: '1.0',
        source: sent.source,
        subject: sent.subject,
        natsSubject: sent.subject,
        datacontenttype: 'application/json',
        dataschema: dataSchemaUri(sent.type),
        contentType: CLOUDEVENTS_JSON,
        extensions: expect.objectContaining({ correlationid: sent.correlationid, actor: sent.actor }),
      });
      expect(d.data).toEqual(sent.data);
    }
  });
});

describe('Go rollout summary with the read-only subscriber identity', () => {
  it('summarises plans, applies and health per cluster, and cannot publish events', async () => {
    const rev = 'e'.repeat(40);
    const plan = samples.PlanCreated;
    await publish(catalog.find((d) => d.name === 'PlanCreated')!, {
      ...plan,
      cluster: 'eu-1',
      stage: 'prod',
      planId: 'eu-1-7',
      revision: rev,
    } as never);
    await publish(catalog.find((d) => d.name === 'ApplyStarted')!, {
      ...samples.ApplyStarted,
      cluster: 'eu-1',
      planId: 'eu-1-7',
      revision: rev,
    } as never);
    await publish(catalog.find((d) => d.name === 'ApplySucceeded')!, {
      ...samples.ApplySucceeded,
      cluster: 'eu-1',
      planId: 'eu-1-7',
      revision: rev,
      counts: { total: 5, applied: 2, unchanged: 3, pruned: 1 },
    } as never);
    await publish(catalog.find((d) => d.name === 'HealthChanged')!, {
      ...samples.HealthChanged,
      cluster: 'eu-1',
      revision: rev,
    } as never);
    await publish(catalog.find((d) => d.name === 'PlanCreated')!, {
      ...plan,
      cluster: 'us-1',
      planId: 'us-1-3',
    } as never);
    await publish(catalog.find((d) => d.name === 'ApplyFailed')!, {
      ...samples.ApplyFailed,
      cluster: 'us-1',
      planId: 'us-1-3',
    } as never);

    const { stdout } = await runGo('subscriber', []);
    expect(stdout).toContain(`eu-1: plan eu-1-7 for revision ${rev.slice(0, 12)}`);
    expect(stdout).toContain('eu-1: eu-1-7 applied (2 changed, 3 unchanged, 1 pruned)');
    expect(stdout).toContain('us-1: us-1-3 failed: apply.forbidden');
    // Not a deploy event: the consumer's filter never delivers it.
    expect(stdout).not.toContain('shop-config');
    const table = stdout.slice(stdout.indexOf('CLUSTER'));
    expect(table).toMatch(new RegExp(`eu-1\\s+eu-1-7\\s+${rev.slice(0, 12)}\\s+applied 5/5\\s+Current`));
    expect(table).toMatch(/us-1\s+us-1-3\s+\S+\s+failed: apply.forbidden\s+-/);

    // The same identity may not publish an event, however it tries.
    const nc = await connect({
      servers: nats.url,
      user: 'subscriber',
      pass: password('subscriber'),
      inboxPrefix: '_INBOX_subscriber',
    });
    try {
      await expect(
        jetstream(nc).publish('flotilla.v1.plan.created.eu-1', '{}', { timeout: 2000 }),
      ).rejects.toThrow();
      await expect((await jetstreamManager(nc)).streams.delete('FLOTILLA_EVENTS')).rejects.toThrow();
    } finally {
      await nc.close();
    }
  });
});
