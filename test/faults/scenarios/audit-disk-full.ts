import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Bus, EVENT_STREAM } from '@flotilla/bus';
import { createEvent, StageLockChanged } from '@flotilla/events';
import {
  execGit,
  freePort,
  programArgs,
  rawNats,
  type Spawned,
  scrapeMetric,
  spawnTracked,
  startGitServer,
  startNats,
  stopProcess,
  waitFor,
} from '@flotilla/test-support';
import { verifyAuditDir } from '../../../services/audit-writer/src/audit-repo.ts';
import type { AuditEntry, History } from '../history.ts';
import { HistoryRecorder } from '../history.ts';
import { Nemesis } from '../nemesis.ts';
import { sizeLimitedDir } from '../size-limited-dir.ts';

const repoRoot = join(import.meta.dirname, '../../..');
/** Small enough to fill in a moment, large enough for the audit clone of a run. */
const DISK_MB = 32;
/** Events the writer handles at once (its consumer's max_ack_pending is max(1000, 4×) this). */
const CONCURRENCY = 64;
/** How long the disk stays full once the writer has said it is stalled. */
const FULL_MS = 5000;

/** Committed records of the audit clone (HEAD, not the work tree a failed commit may have left). */
export async function committedRecords(dir: string): Promise<AuditEntry[]> {
  const tree = await execGit(['-C', dir, 'ls-tree', '-r', '--name-only', 'HEAD']).catch(() => '');
  const files = tree
    .split('\n')
    .filter((p) => /^\d{4}\/\d{2}\/\d{2}\.jsonl$/.test(p))
    .sort();
  const out: AuditEntry[] = [];
  for (const f of files) {
    const text = await execGit(['-C', dir, 'show', `HEAD:${f}`]);
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      const r = JSON.parse(line) as AuditEntry;
      out.push({ seq: r.seq, id: r.id, prevHash: r.prevHash, hash: r.hash });
    }
  }
  return out;
}

/**
 * The audit writer (the built bundle, its own process) keeps its clone on a size-limited
 * filesystem (tmpfs, `size=32m`) while events are published. The nemesis fills that filesystem to
 * ENOSPC: the writer must stop consuming (no more than its concurrency in flight), go unready
 * (`/readyz` 503) and alert (`flotilla_audit_write_stalled` 1); once the filler is deleted it must
 * resume on its own and record every acknowledged event exactly once, the chain whole, no gap.
 */
export async function auditDiskFull(durationMs: number): Promise<History> {
  const rec = new HistoryRecorder('audit writer disk full (tmpfs size=32m filled to ENOSPC)');
  const violations: string[] = [];
  const disk = await sizeLimitedDir(DISK_MB);
  const scratch = mkdtempSync(join(tmpdir(), 'faults-audit-'));
  const nats = await startNats();
  const git = await startGitServer();
  let child: Spawned | undefined;
  let publisher: Bus | undefined;
  try {
    publisher = await Bus.connect({
      servers: nats.url,
      service: 'cli',
      instance: 'faults',
      ensureStream: true,
    });
    const pub = publisher;
    await git.createRepo('audit');
    const port = await freePort();
    const durable = 'audit-faults';
    const dir = join(disk.dir, 'audit');
    child = spawnTracked(process.execPath, programArgs('audit-writer'), {
      cwd: repoRoot,
      env: {
        ...process.env,
        FLOTILLA_INSTANCE: 'audit-faults',
        FLOTILLA_NATS_SERVERS: nats.url,
        FLOTILLA_HTTP_PORT: String(port),
        FLOTILLA_AUDIT_URL: git.fileUrl('audit'),
        FLOTILLA_AUDIT_DIR: dir,
        FLOTILLA_AUDIT_BATCH_MAX_DELAY_MS: '100',
        // Retry a failed commit at least every second, so space freed is noticed at once.
        FLOTILLA_AUDIT_COMMIT_RETRY_MAX_MS: '1000',
        FLOTILLA_CONSUMER_DURABLE: durable,
        FLOTILLA_CONSUMER_CONCURRENCY: String(CONCURRENCY),
        FLOTILLA_CONSUMER_ACK_WAIT_MS: '10000',
        FLOTILLA_LEASE_TTL_MS: '3000',
        LOG_LEVEL: 'warn',
      },
      logFile: join(scratch, 'writer.log'),
    });
    const base = `http://127.0.0.1:${port}`;
    const ready = async () => (await fetch(`${base}/readyz`).catch(() => undefined))?.ok === true;
    const gauge = (name: string) => scrapeMetric(base, name);
    await waitFor('the audit writer ready', async () => ((await ready()) ? true : undefined), {
      timeoutMs: 90_000,
    });

    let heldMax = 0;
    // Observe what is committed, as it is committed.
    const seenSeq = new Set<number>();
    let polling = true;
    const poll = (async () => {
      while (polling) {
        for (const r of await committedRecords(dir).catch(() => [])) {
          if (seenSeq.has(r.seq)) continue;
          seenSeq.add(r.seq);
          rec.observe(r.id, String(r.seq));
        }
        await new Promise((r) => setTimeout(r, 300));
      }
    })();

    const nemesis = new Nemesis(async () => {
      const bytes = disk.fill();
      rec.fault();
      // Stalled: unready and alerting. A writer with nothing to write notices only at its next
      // commit, and events keep coming, so this happens within a batch.
      const stalled = await waitFor(
        'the writer to report the full disk',
        async () =>
          !(await ready()) && (await gauge('flotilla_audit_write_stalled')) === 1 ? true : undefined,
        { timeoutMs: 60_000 },
      ).catch(() => false);
      if (!stalled)
        violations.push(`disk full (${bytes} bytes filler): the writer stayed ready or never alerted`);
      // Stopped consuming: while it cannot write, the writer acknowledges nothing (its ack floor
      // stands still: no event taken off the stream unrecorded) and what it was handed stays
      // within the consumer's max_ack_pending; the rest waits in the stream.
      const before = await rawNats(pub).jsm.consumers.info(EVENT_STREAM, durable);
      await new Promise((r) => setTimeout(r, FULL_MS));
      const after = await rawNats(pub).jsm.consumers.info(EVENT_STREAM, durable);
      if (after.ack_floor.stream_seq !== before.ack_floor.stream_seq)
        violations.push(
          `disk full: the writer acknowledged events it could not write (ack floor ${before.ack_floor.stream_seq} → ${after.ack_floor.stream_seq})`,
        );
      if (after.num_ack_pending > (after.config.max_ack_pending ?? Number.POSITIVE_INFINITY))
        violations.push(
          `disk full: ${after.num_ack_pending} events in flight (max ${after.config.max_ack_pending})`,
        );
      heldMax = Math.max(heldMax, after.num_ack_pending);
      disk.free();
      const resumed = await waitFor(
        'the writer to resume once space is free',
        async () =>
          (await ready()) && (await gauge('flotilla_audit_write_stalled')) === 0 ? true : undefined,
        { timeoutMs: 60_000 },
      ).catch(() => false);
      if (!resumed) violations.push('space freed: the writer did not become ready again');
    }, 3000);

    const deadline = performance.now() + durationMs;
    let i = 0;
    nemesis.start();
    while (performance.now() < deadline) {
      const e = createEvent(
        StageLockChanged,
        { stage: 'prod', locked: i % 2 === 0, by: 'user:faults' },
        { source: 'flotilla://planner/faults', actor: 'user:faults', id: `audit-${i++}` },
      );
      const op = rec.invoke(e.id);
      let outcome: 'ok' | 'unknown' = 'unknown';
      for (let attempt = 0; attempt < 20 && outcome !== 'ok'; attempt++) {
        try {
          await pub.publishEvent(e);
          outcome = 'ok';
        } catch {
          await new Promise((r) => setTimeout(r, 250));
        }
      }
      rec.complete(op, outcome);
      await new Promise((r) => setTimeout(r, 20));
    }
    await nemesis.stop();
    for (const err of nemesis.errors) violations.push(`nemesis: ${err}`);
    const acked = rec.ops.filter((o) => o.outcome === 'ok').map((o) => o.id);
    await waitFor(
      'every acknowledged event committed',
      async () => (acked.every((id) => rec.seen(id)) ? true : undefined),
      { timeoutMs: 120_000 },
    ).catch(() => undefined);
    polling = false;
    await poll;
    const records = await committedRecords(dir);
    const verified = await verifyAuditDir(dir);
    if (!verified.ok) violations.push(`audit verify: ${JSON.stringify(verified).slice(0, 500)}`);
    console.log(
      `audit disk full: ${rec.faults} fills, up to ${heldMax} events held unacknowledged while full`,
    );
    const gaps = await gauge('flotilla_audit_gap_events_total');
    if (gaps > 0) violations.push(`the writer counted ${gaps} gaps`);
    return rec.history({ audit: { records, expected: acked }, violations });
  } finally {
    if (child) await stopProcess(child, 5000);
    await publisher?.close().catch(() => undefined);
    await git.stop();
    await nats.dispose();
    await disk.dispose();
    rmSync(scratch, { recursive: true, force: true });
  }
}
