import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PlanCreated } from '@flotilla/events';
import { samples } from '@flotilla/events/samples';
import { type NatsServer, rawNats, startNats, waitFor } from '@flotilla/test-support';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Bus, EVENT_STREAM } from '../src/index.ts';

let nats: NatsServer;
beforeAll(async () => {
  nats = await startNats();
});
afterAll(async () => {
  await nats?.dispose();
});

// A service process (runService + Bus) gets SIGTERM while a handler is mid-work: it must finish
// that work, ack it, drain NATS and exit 0 — nothing redelivered, nothing lost.
it('SIGTERM stops intake, finishes the message in flight, acks it and exits 0', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'drain-'));
  const script = join(dir, 'service.mts');
  writeFileSync(
    script,
    `
    import { writeFileSync } from 'node:fs';
    import { Bus } from '${join(import.meta.dirname, '../src/index.ts')}';
    import { runService } from '${join(import.meta.dirname, '../../runtime/src/index.ts')}';
    await runService({
      name: 'drain-probe',
      start: async () => {
        const bus = await Bus.connect({ servers: '${nats.url}', service: 'cluster-applier', instance: 'probe' });
        await bus.consume({
          durable: 'drain-probe',
          filters: ['flotilla.v1.plan.created.drain'],
          handler: async (e) => {
            writeFileSync('${join(dir, 'started')}', e.id);
            await new Promise((r) => setTimeout(r, 1500));
            writeFileSync('${join(dir, 'finished')}', e.id);
          },
        });
        return { stop: () => bus.close() };
      },
    });
    `,
  );
  const publisher = await Bus.connect({
    servers: nats.url,
    service: 'planner',
    instance: 'pub',
    ensureStream: true,
  });
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    cwd: join(import.meta.dirname, '../../..'),
  });
  let output = '';
  child.stdout.on('data', (d) => {
    output += d;
  });
  child.stderr.on('data', (d) => {
    output += d;
  });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  await waitFor(
    'the probe to start',
    async () => (output.includes('drain-probe started') ? true : undefined),
    {
      timeoutMs: 60_000,
    },
  );
  const { event } = await publisher.publish(PlanCreated, { ...samples.PlanCreated, cluster: 'drain' });
  await waitFor('the handler to start', async () => (existsSync(join(dir, 'started')) ? true : undefined));
  child.kill('SIGTERM');
  expect(await exited).toBe(0);
  expect(readFileSync(join(dir, 'finished'), 'utf8')).toBe(event.id);
  const info = await rawNats(publisher).jsm.consumers.info(EVENT_STREAM, 'drain-probe');
  expect(info.num_ack_pending).toBe(0);
  expect(info.ack_floor.stream_seq).toBeGreaterThan(0);
  expect(output).toContain('shutting down');
  await publisher.close();
}, 120_000);
