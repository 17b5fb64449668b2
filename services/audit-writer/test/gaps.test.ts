import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Bus, EVENT_STREAM } from '@flotilla/bus';
import { createEvent, type FlotillaEvent, StageLockChanged } from '@flotilla/events';
import { createLogger } from '@flotilla/runtime';
import {
  type GitServer,
  metricSum,
  type NatsServer,
  rawNats,
  startGitServer,
  startNats,
  waitFor,
} from '@flotilla/test-support';
import { Value } from '@sinclair/typebox/value';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readAuditFiles } from '../src/audit-repo.ts';
import { type AuditRecord, fileLines } from '../src/chain.ts';
import { Config } from '../src/config.ts';
import { type AuditWriter, startAuditWriter } from '../src/service.ts';
import { rand, writerConfig } from './helpers.ts';

// The writer never gives up an event it could not persist, and never lets the stream lose one
// silently: real NATS (stream limits, deletes, consumer state) and real git (a refused commit).

let nats: NatsServer;
let git: GitServer;
let scratch: string;
let publisher: Bus;
let writer: AuditWriter | undefined;
let config: Config;
const dir = () => join(scratch, 'audit');
const logger = createLogger({ service: 'audit-writer', level: (process.env.AW_LOG as 'info') ?? 'silent' });

const event = (tag: string, i: number): FlotillaEvent =>
  createEvent(
    StageLockChanged,
    { stage: 'prod', locked: i % 2 === 0, by: 'user:alice', reason: `gap test ${i}` },
    { source: 'flotilla://planner/test', actor: 'user:alice', id: `${tag}-${i}` },
  );

async function records(): Promise<AuditRecord[]> {
  return (await readAuditFiles(dir())).flatMap((f) =>
    fileLines(f.text).map((l) => JSON.parse(l) as AuditRecord),
  );
}
const metrics = async () => (await fetch(`${writer!.url}/metrics`)).text();

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'flotilla-audit-gaps-'));
  [nats, git] = await Promise.all([startNats(), startGitServer()]);
  publisher = await Bus.connect({
    servers: nats.url,
    service: 'cli',
    instance: 'gaps-test',
    ensureStream: true,
  });
  const repo = rand('audit');
  await git.createRepo(repo);
  const base = writerConfig({ natsUrl: nats.url, auditUrl: git.fileUrl(repo), dir: dir() });
  config = Value.Default(Config, {
    ...base,
    audit: { ...base.audit, commitRetryMaxMs: 400, gapScanMs: 300 },
    consumer: { ...base.consumer, ackWaitMs: 2000 },
  }) as Config;
  writer = await startAuditWriter(config, logger);
  await writer.whenActive();
});

afterAll(async () => {
  await writer?.stop();
  await publisher?.close();
  await git?.stop();
  await nats?.dispose();
  await rm(scratch, { recursive: true, force: true });
});

describe('audit-writer: no gaps', () => {
  it('a commit that keeps failing holds the events unacked (not ready, stalled metric) and records them once it can', async () => {
    // A reference-transaction hook that refuses: every commit fails, as with a full disk.
    const hook = join(dir(), '.git', 'hooks', 'reference-transaction');
    await writeFile(hook, '#!/bin/sh\nexit 1\n');
    await chmod(hook, 0o755);
    const tag = rand('stall');
    for (let i = 0; i < 5; i++) await publisher.publishEvent(event(tag, i));
    await waitFor('stalled', async () =>
      metricSum(await metrics(), 'flotilla_audit_write_stalled') === 1 ? true : undefined,
    );
    expect((await fetch(`${writer!.url}/readyz`)).status).toBe(503);
    // Held well past the ack wait (2 s): still in progress, never redelivered, never dead-lettered.
    await waitFor(
      'failures past the ack wait',
      async () =>
        metricSum(await metrics(), 'flotilla_audit_commit_failures_total') >= 3 ? true : undefined,
      { timeoutMs: 20_000 },
    );
    const held = await rawNats(publisher).jsm.consumers.info(EVENT_STREAM, config.consumer.durable);
    expect(held.num_ack_pending).toBe(5);
    expect(held.num_redelivered).toBe(0);

    await rm(hook);
    await waitFor('recovered', async () => {
      const m = await metrics();
      return metricSum(m, 'flotilla_audit_write_stalled') === 0 &&
        metricSum(m, 'flotilla_audit_last_seq') >= 5
        ? true
        : undefined;
    });
    expect((await fetch(`${writer!.url}/readyz`)).status).toBe(200);
    const recorded = (await records()).filter((r) => r.id.startsWith(tag));
    expect(recorded.map((r) => r.id).sort()).toEqual([0, 1, 2, 3, 4].map((i) => `${tag}-${i}`));
    expect(recorded.every((r) => Number.isInteger(r.streamSeq))).toBe(true);
    const dead = (await records()).filter((r) => r.event === 'DeadLettered');
    expect(dead).toEqual([]);
  });

  it('events the stream discarded (limits) or lost (deleted) before they were recorded become one AuditGapDetected per range', async () => {
    await writer!.stop();
    writer = undefined;
    const tag = rand('gap');
    const seqs: number[] = [];
    for (let i = 0; i < 10; i++) seqs.push((await publisher.publishEvent(event(tag, i))).seq);
    // The writer is behind; the stream's message limit keeps the newest five only (the first five
    // of these were never recorded), and one more is deleted.
    await rawNats(publisher).jsm.streams.update(EVENT_STREAM, { max_msgs: 5 });
    await rawNats(publisher).jsm.streams.deleteMessage(EVENT_STREAM, seqs[7]!);
    await rawNats(publisher).jsm.streams.update(EVENT_STREAM, { max_msgs: -1 });

    writer = await startAuditWriter(config, logger);
    await writer.whenActive();
    const gaps = await waitFor(
      'gap records',
      async () => {
        const g = (await records()).filter((r) => r.event === 'AuditGapDetected');
        return g.length >= 2 ? g : undefined;
      },
      { timeoutMs: 20_000 },
    );
    expect(gaps.map((g) => g.data)).toEqual([
      expect.objectContaining({
        fromSeq: seqs[0],
        toSeq: seqs[4],
        count: 5,
        reason: 'discarded',
        consumer: config.consumer.durable,
      }),
      expect.objectContaining({ fromSeq: seqs[7], toSeq: seqs[7], count: 1, reason: 'deleted' }),
    ]);
    const recorded = (await records()).filter((r) => r.id.startsWith(tag)).map((r) => r.id);
    expect(recorded.sort()).toEqual([5, 6, 8, 9].map((i) => `${tag}-${i}`));
    const m = await metrics();
    expect(metricSum(m, 'flotilla_audit_gap_events_total', { reason: 'discarded' })).toBe(5);

    // Reported once: a later scan (and a restart, which rebuilds from the log) adds nothing.
    await writer.stop();
    writer = await startAuditWriter(config, logger);
    await writer.whenActive();
    const head = metricSum(await metrics(), 'flotilla_audit_last_seq');
    await publisher.publishEvent(event(tag, 99));
    await waitFor('next event', async () =>
      metricSum(await metrics(), 'flotilla_audit_last_seq') > head ? true : undefined,
    );
    await waitFor('a scan after it', async () =>
      metricSum(await metrics(), 'flotilla_audit_backlog_messages') === 0 ? true : undefined,
    );
    expect((await records()).filter((r) => r.event === 'AuditGapDetected')).toHaveLength(2);

    // Alert before the stream's limit: usage of the message limit is exported.
    const total = (await rawNats(publisher).jsm.streams.info(EVENT_STREAM)).state.messages;
    await rawNats(publisher).jsm.streams.update(EVENT_STREAM, { max_msgs: total * 4 });
    const ratio = await waitFor('usage ratio', async () => {
      const r = metricSum(await metrics(), 'flotilla_audit_stream_usage_ratio');
      return r > 0.2 ? r : undefined;
    });
    expect(ratio).toBeLessThan(0.3);
    await rawNats(publisher).jsm.streams.update(EVENT_STREAM, { max_msgs: -1 });
  });
});
