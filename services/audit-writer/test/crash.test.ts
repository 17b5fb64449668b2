import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Bus, EVENT_STREAM } from '@flotilla/bus';
import { createEvent, type FlotillaEvent, StageLockChanged } from '@flotilla/events';
import {
  freePort,
  type GitServer,
  killGroup,
  metricSum,
  type NatsServer,
  programArgs,
  rawNats,
  type Spawned,
  spawnTracked,
  startGitServer,
  startNats,
  stopProcess,
  waitFor,
} from '@flotilla/test-support';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { readAuditFiles, verifyAuditDir } from '../src/audit-repo.ts';
import { type AuditRecord, fileLines } from '../src/chain.ts';
import { rand } from './helpers.ts';

const repoRoot = join(import.meta.dirname, '../../..');
let nats: NatsServer;
let git: GitServer;
let scratch: string;
let publisher: Bus;
let child: Spawned | undefined;

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'flotilla-audit-crash-'));
  [nats, git] = await Promise.all([startNats(), startGitServer()]);
  publisher = await Bus.connect({ servers: nats.url, service: 'cli', instance: 'crash-test' });
});

afterAll(async () => {
  if (child) await stopProcess(child, 2000);
  await publisher?.close();
  await git?.stop();
  await nats?.dispose();
  await rm(scratch, { recursive: true, force: true });
});

it('kill -9 in the middle of a batch, restart: every event recorded exactly once', async () => {
  const repo = rand('audit');
  await git.createRepo(repo);
  const port = await freePort();
  const durable = rand('audit');
  const dir = join(scratch, 'audit');
  const env = {
    ...process.env,
    FLOTILLA_INSTANCE: 'audit-crash-1', // same owner after restart: the lease is ours at once
    FLOTILLA_NATS_SERVERS: nats.url,
    FLOTILLA_HTTP_PORT: String(port),
    FLOTILLA_AUDIT_URL: git.fileUrl(repo),
    FLOTILLA_AUDIT_DIR: dir,
    FLOTILLA_AUDIT_BATCH_MAX_RECORDS: '200',
    FLOTILLA_AUDIT_BATCH_MAX_DELAY_MS: '400',
    FLOTILLA_CONSUMER_DURABLE: durable,
    FLOTILLA_CONSUMER_ACK_WAIT_MS: '3000',
    FLOTILLA_LEASE_TTL_MS: '3000',
    LOG_LEVEL: 'warn',
  };
  const start = () =>
    spawnTracked(process.execPath, programArgs('audit-writer'), {
      cwd: repoRoot,
      env,
      logFile: join(scratch, 'writer.log'),
    });
  const seq = async () => {
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    return metricSum(await res.text(), 'flotilla_audit_last_seq');
  };
  const ready = () =>
    waitFor(
      'writer ready',
      async () => ((await fetch(`http://127.0.0.1:${port}/readyz`)).ok ? true : undefined),
      {
        timeoutMs: 60_000,
        intervalMs: 200,
      },
    );

  child = start();
  await ready();

  const total = 1200;
  const events: FlotillaEvent[] = Array.from({ length: total }, (_, i) =>
    createEvent(
      StageLockChanged,
      { stage: 'prod', locked: i % 2 === 0, by: 'user:alice' },
      { source: 'flotilla://planner/test', actor: 'user:alice', id: `crash-${i}` },
    ),
  );
  // Publish steadily in the background while the writer is killed and restarted.
  const publishing = (async () => {
    for (let i = 0; i < total; i += 20) {
      await Promise.all(events.slice(i, i + 20).map((e) => publisher.publishEvent(e)));
      await new Promise((r) => setTimeout(r, 10));
    }
  })();

  await waitFor('some batches committed', async () => ((await seq()) >= 200 ? true : undefined), {
    timeoutMs: 60_000,
    intervalMs: 50,
  });
  killGroup(child.child, 'SIGKILL');
  await child.exited;
  // Delivered but unacknowledged events prove the kill landed in the middle of a batch.
  const info = await rawNats(publisher).jsm.consumers.info(EVENT_STREAM, durable);
  expect(info.num_ack_pending + info.num_pending).toBeGreaterThan(0);

  await publishing;
  child = start();
  await ready();
  await waitFor('every event recorded', async () => ((await seq()) >= total ? true : undefined), {
    timeoutMs: 90_000,
    intervalMs: 250,
  });
  // Redeliveries of already-recorded events must not add records. Once the writer's consumer has
  // nothing left to deliver and nothing awaiting an ack, every redelivery has been handled.
  await waitFor(
    "the writer's consumer drained",
    async () => {
      const c = await rawNats(publisher).jsm.consumers.info(EVENT_STREAM, durable);
      return c.num_pending === 0 && c.num_ack_pending === 0 ? true : undefined;
    },
    { timeoutMs: 90_000, intervalMs: 250 },
  );

  const records = (await readAuditFiles(dir)).flatMap((f) =>
    fileLines(f.text).map((l) => JSON.parse(l) as AuditRecord),
  );
  const counts = new Map<string, number>();
  for (const r of records) counts.set(r.id, (counts.get(r.id) ?? 0) + 1);
  expect(records).toHaveLength(total);
  for (const e of events) expect(counts.get(e.id)).toBe(1);
  expect(await verifyAuditDir(dir)).toMatchObject({ ok: true, records: total });
  expect(await seq()).toBe(total);
});
