import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Bus, EVENT_STREAM } from '@flotilla/bus';
import { RENAMED as PLANNER_RENAMED, Config as PlannerConfig } from '@flotilla/planner/config';
import { plannerConsumerSpec, plannerSlotConsumer } from '@flotilla/planner/nats-resources';
import { loadConfig } from '@flotilla/runtime';
import { type NatsServer, startNats } from '@flotilla/test-support';
import { type JetStreamManager, jetstreamManager } from '@nats-io/jetstream';
import { type NatsConnection, nanos } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../src/exit-codes.ts';
import { runCli } from '../src/program.ts';
import { capture } from './capture-io.ts';

// `flotilla nats bootstrap --config-dir` against a real nats-server: the consumers it makes carry
// the settings the services are configured with (read from their own config files with their own
// schemas), so a service configured off its defaults binds to them instead of refusing.

let nats: NatsServer;
let nc: NatsConnection;
let jsm: JetStreamManager;
let configDir: string;
const buses: Bus[] = [];

const bootstrap = async (...extra: string[]) => {
  const io = capture();
  const code = await runCli(['--nats', nats.url, 'nats', 'bootstrap', '--clusters', 'dev', ...extra], io, {});
  return { code, out: io.outText.join('\n'), err: io.errText.join('\n') };
};
const ackWaitOf = async (durable: string) =>
  (await jsm.consumers.info(EVENT_STREAM, durable)).config.ack_wait;

/** The planner's config exactly as the planner loads it at start (its file, its schema). */
const plannerConfig = () =>
  loadConfig(PlannerConfig, {
    file: join(configDir, 'planner.yaml'),
    env: { FLOTILLA_GIT_URL: 'file:///config.git', FLOTILLA_SIGNING_KEY_ID: 'k1' },
    renamed: PLANNER_RENAMED,
  });

beforeAll(async () => {
  nats = await startNats();
  nc = await connect({ servers: nats.url });
  jsm = await jetstreamManager(nc);
  configDir = mkdtempSync(join(tmpdir(), 'flotilla-bootstrap-config-'));
  writeFileSync(join(configDir, 'planner.yaml'), 'consumer:\n  ackWaitMs: 90000\n');
  writeFileSync(join(configDir, 'audit-writer.yaml'), 'consumer:\n  ackWaitMs: 45000\n  concurrency: 8000\n');
  writeFileSync(join(configDir, 'applier-dev.yaml'), 'consumer:\n  ackWaitMs: 120000\n');
});

afterAll(async () => {
  for (const b of buses) await b.close().catch(() => undefined);
  await nc?.close();
  await nats?.dispose();
  if (configDir) rmSync(configDir, { recursive: true, force: true });
});

describe('flotilla nats bootstrap --config-dir', () => {
  it('makes each consumer as its service is configured, so a planner configured off the default binds to it', async () => {
    // Without the services' config the consumers get the schemas' defaults…
    expect((await bootstrap()).code).toBe(EXIT.ok);
    expect(await ackWaitOf('planner')).toBe(nanos(60_000));
    const config = plannerConfig();
    expect(config.consumer.ackWaitMs).toBe(90_000);
    const planner = await Bus.connect({ servers: nats.url, service: 'planner', provision: false });
    buses.push(planner);
    const spec = { ...plannerConsumerSpec(config.consumer.ackWaitMs), handler: async () => {} };
    // …which the planner, bind-only, refuses to use: its handlers would be redelivered at 60 s.
    await expect(planner.consume(spec)).rejects.toThrow(/ack_wait: have 60000000000, want 90000000000/);

    const run = await bootstrap('--config-dir', configDir);
    expect(run.code).toBe(EXIT.ok);
    expect(run.out).toMatch(/updated\s+consumer\s+planner \(ack_wait\)/);
    expect(await ackWaitOf('planner')).toBe(nanos(90_000));
    expect(await ackWaitOf(plannerSlotConsumer(3).durable)).toBe(nanos(90_000));
    expect(await ackWaitOf('applier-dev')).toBe(nanos(120_000));
    const audit = (await jsm.consumers.info(EVENT_STREAM, 'audit-writer')).config;
    expect({ ackWait: audit.ack_wait, maxAckPending: audit.max_ack_pending }).toEqual({
      ackWait: nanos(45_000),
      maxAckPending: 32_000,
    });
    const sub = await planner.consume(spec);
    expect(sub.bound).toBe(true);
    await sub.stop();

    // Idempotent with the same files: nothing to change.
    const again = await bootstrap('--config-dir', configDir);
    expect(again.out).not.toMatch(/created|updated/);
  }, 60_000);

  it("refuses a service's invalid config file before connecting, naming the file", async () => {
    const bad = mkdtempSync(join(tmpdir(), 'flotilla-bootstrap-bad-'));
    try {
      writeFileSync(join(bad, 'planner.yaml'), 'consumer:\n  ackWaitMs: 10\n');
      const run = await bootstrap('--config-dir', bad);
      expect(run.code).toBe(EXIT.usage);
      expect(run.err).toContain(
        `consumer.ackWaitMs (FLOTILLA_CONSUMER_ACK_WAIT_MS or ${join(bad, 'planner.yaml')})`,
      );
    } finally {
      rmSync(bad, { recursive: true, force: true });
    }
  });
});
