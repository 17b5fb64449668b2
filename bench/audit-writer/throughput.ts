/**
 * Audit-writer throughput: events into the hash-chained audit repo, committed (fsync'd) before ack.
 *   - batched, sustained: publish RATE events/s for SECONDS, measure the recorded rate and the
 *     end-to-end lag (event time → its batch commit returned) p50/p99;
 *   - batched, drain: DRAIN events already in the stream, how fast the writer records them;
 *   - baseline, one commit per event (batchMaxRecords=1): PER_EVENT events, drain rate.
 * Same NATS, same git, same process, interleaved; median of RUNS runs; ratio batched/baseline.
 * The sustained and drain scenarios run twice per run, checkpoint signing on (production) and off
 * (`checkpoint.enabled: false`), interleaved, for the signing overhead (issue 15: ≤ 10 %).
 *
 * NATS: the stream's own fsync per message (`sync_interval: always`, production) caps what one
 * publisher gets into the stream on this 2-core box below the 2,000 events/s the writer must
 * take (measured first, INGEST events, reported as the ceiling). The writer scenarios therefore
 * run against a NATS with JetStream's default sync, so the events arrive as fast as asked and the
 * figure is the writer's; the writer's own guarantee (git fsync before ack) is unchanged.
 * NATS_SYNC=always runs them on a syncing NATS instead.
 *
 * Run: npx tsx bench/audit-writer/throughput.ts   (env: RATE=2500 SECONDS=10 DRAIN=10000 PER_EVENT=200 RUNS=3 INGEST=4000)
 * Writes bench/results/audit-writer.md.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startAuditWriter } from '@flotilla/audit-writer';
import { Bus } from '@flotilla/bus';
import { createEvent, type FlotillaEvent, StageLockChanged } from '@flotilla/events';
import { createLogger } from '@flotilla/runtime';
import { rawNats, startGitServer, startNats, waitFor } from '@flotilla/test-support';
import { writerConfig } from '../../services/audit-writer/test/helpers.ts';

const RATE = Number(process.env.RATE ?? 2000);
const SECONDS = Number(process.env.SECONDS ?? 10);
const DRAIN = Number(process.env.DRAIN ?? 10_000);
const PER_EVENT = Number(process.env.PER_EVENT ?? 200);
const BATCH = Number(process.env.BATCH ?? 2000);
const RUNS = Number(process.env.RUNS ?? 3);
const INGEST = Number(process.env.INGEST ?? 4000);
const NATS_SYNC = process.env.NATS_SYNC === 'always';
const root = fileURLToPath(new URL('../..', import.meta.url));

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
};

/** What one publisher (500 in flight) gets into a stream whose NATS fsyncs every message. */
async function ingestCeiling(n: number): Promise<number> {
  const syncing = await startNats({ syncAlways: true });
  const bus = await Bus.connect({
    servers: syncing.url,
    service: 'cli',
    instance: 'ingest',
    ensureStream: true,
  });
  try {
    let next = 0;
    const t0 = Date.now();
    const worker = async () => {
      while (next < n) await bus.publishEvent(event('ingest', next++));
    };
    await Promise.all(Array.from({ length: 500 }, worker));
    return n / ((Date.now() - t0) / 1000);
  } finally {
    await bus.close();
    await syncing.dispose();
  }
}

const nats = await startNats({ syncAlways: NATS_SYNC });
const git = await startGitServer();
const scratch = await mkdtemp(join(tmpdir(), 'flotilla-audit-bench-'));
const publisher = await Bus.connect({
  servers: nats.url,
  service: 'cli',
  instance: 'bench',
  ensureStream: true,
});
const logger = createLogger({ service: 'audit-writer', level: 'silent' });
let runId = 0;

const event = (tag: string, i: number): FlotillaEvent =>
  createEvent(
    StageLockChanged,
    { stage: 'prod', locked: i % 2 === 0, by: 'user:bench', reason: 'benchmark event with a short reason' },
    { source: 'flotilla://planner/bench', actor: 'user:bench', id: `${tag}-${i}` },
  );

/** Publish with retries: on an overloaded machine a JetStream ack can time out (the id dedupes). */
async function publish(e: FlotillaEvent): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await publisher.publishEvent(e);
      return;
    } catch (err) {
      if (attempt >= 5) throw err;
    }
  }
}

interface Measured {
  /** Events/s the publisher got into the stream (sustained: what was offered). */
  offered?: number;
  events: number;
  seconds: number;
  rate: number;
  p50: number;
  p99: number;
  commits: number;
}

/** Starts a writer on a fresh repo and durable, on an emptied stream (each scenario starts clean). */
async function writer(batchMaxRecords: number, concurrency: number, signed = true) {
  const tag = `r${++runId}`;
  await rawNats(publisher).jsm.streams.purge('FLOTILLA_EVENTS');
  await git.createRepo(`audit-${tag}`);
  const config = writerConfig({
    natsUrl: nats.url,
    auditUrl: git.fileUrl(`audit-${tag}`),
    dir: join(scratch, tag),
    durable: `audit-${tag}`,
    checkpoint: signed,
  });
  config.audit.batchMaxRecords = batchMaxRecords;
  config.audit.batchMaxDelayMs = 200;
  config.consumer.concurrency = concurrency;
  const lags: number[] = [];
  let recorded = 0;
  let commits = 0;
  let lastCommit = 0;
  const prefix = `${tag}-`;
  const w = await startAuditWriter(config, logger, {
    onCommitted: (records, at) => {
      commits++;
      for (const r of records) {
        if (!r.id.startsWith(prefix)) continue;
        recorded++;
        lags.push((at - Date.parse(r.time)) / 1000);
      }
      lastCommit = at;
    },
  });
  return {
    tag,
    w,
    lags,
    get recorded() {
      return recorded;
    },
    get commits() {
      return commits;
    },
    get lastCommit() {
      return lastCommit;
    },
  };
}

/** The durable starts at the beginning of the stream: skip what earlier scenarios published. */
async function skipBacklog(w: Awaited<ReturnType<typeof writer>>) {
  await w.w.whenActive();
  await waitFor(
    'backlog skipped',
    async () => {
      const info = await rawNats(publisher).jsm.consumers.info('FLOTILLA_EVENTS', `audit-${w.tag}`);
      return info.num_pending === 0 && info.num_ack_pending === 0 ? true : undefined;
    },
    { timeoutMs: 600_000, intervalMs: 200 },
  );
}

async function sustained(signed: boolean): Promise<Measured> {
  const w = await writer(BATCH, 4096, signed);
  await skipBacklog(w);
  const total = RATE * SECONDS;
  const t0 = Date.now();
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((Date.now() - t0) / 1000) * RATE));
    const batch: Promise<unknown>[] = [];
    for (; sent < due; sent++) batch.push(publish(event(w.tag, sent)));
    await Promise.all(batch);
    await new Promise((r) => setTimeout(r, 10));
  }
  const offered = total / ((Date.now() - t0) / 1000);
  await waitFor('sustained recorded', async () => (w.recorded >= total ? true : undefined), {
    timeoutMs: 300_000,
    intervalMs: 50,
  });
  const seconds = (w.lastCommit - t0) / 1000;
  await w.w.stop();
  return {
    offered,
    events: total,
    seconds,
    rate: total / seconds,
    p50: pct(w.lags, 50),
    p99: pct(w.lags, 99),
    commits: w.commits,
  };
}

async function drain(
  n: number,
  batchMaxRecords: number,
  concurrency: number,
  signed = true,
): Promise<Measured> {
  const w = await writer(batchMaxRecords, concurrency, signed);
  await skipBacklog(w);
  await w.w.stop();
  // Publish first, then measure how fast a (re)started writer records the backlog.
  for (let i = 0; i < n; i += 500) {
    await Promise.all(Array.from({ length: Math.min(500, n - i) }, (_, k) => publish(event(w.tag, i + k))));
  }
  const config = writerConfig({
    natsUrl: nats.url,
    auditUrl: git.fileUrl(`audit-${w.tag}`),
    dir: join(scratch, w.tag),
    durable: `audit-${w.tag}`,
    checkpoint: signed,
  });
  config.audit.batchMaxRecords = batchMaxRecords;
  config.audit.batchMaxDelayMs = 200;
  config.consumer.concurrency = concurrency;
  let recorded = 0;
  let commits = 0;
  let last = 0;
  const t0 = Date.now();
  const w2 = await startAuditWriter(config, logger, {
    onCommitted: (records, at) => {
      commits++;
      recorded += records.filter((r) => r.id.startsWith(`${w.tag}-`)).length;
      last = at;
    },
  });
  await waitFor('drained', async () => (recorded >= n ? true : undefined), {
    timeoutMs: 600_000,
    intervalMs: 50,
  });
  await w2.stop();
  const seconds = (last - t0) / 1000;
  return { events: n, seconds, rate: n / seconds, p50: Number.NaN, p99: Number.NaN, commits };
}

const runs: Array<{
  sustained: Measured;
  batched: Measured;
  perEvent: Measured;
  sustainedUnsigned: Measured;
  batchedUnsigned: Measured;
}> = [];
let ingest = Number.NaN;
try {
  ingest = await ingestCeiling(INGEST);
  console.log(
    `NATS with sync_interval: always ingests ${ingest.toFixed(0)} events/s (one publisher, 500 in flight)`,
  );
  for (let i = 0; i < RUNS; i++) {
    // Alternate which goes first, so neither always meets the fresher (or the more loaded) box.
    const order = i % 2 === 0 ? [true, false] : [false, true];
    const sus = new Map<boolean, Measured>();
    const bat = new Map<boolean, Measured>();
    for (const signed of order) sus.set(signed, await sustained(signed));
    for (const signed of order) bat.set(signed, await drain(DRAIN, BATCH, 4096, signed));
    const s = sus.get(true) as Measured;
    const b = bat.get(true) as Measured;
    const su = sus.get(false) as Measured;
    const bu = bat.get(false) as Measured;
    const p = await drain(PER_EVENT, 1, 1);
    runs.push({ sustained: s, batched: b, perEvent: p, sustainedUnsigned: su, batchedUnsigned: bu });
    console.log(
      `run ${i + 1}: sustained signed ${s.rate.toFixed(0)} ev/s (offered ${s.offered?.toFixed(0)}) p50 ${s.p50.toFixed(2)} s p99 ${s.p99.toFixed(2)} s (${s.commits} commits), ` +
        `unsigned ${su.rate.toFixed(0)} ev/s p99 ${su.p99.toFixed(2)} s; ` +
        `drain batched signed ${b.rate.toFixed(0)} / unsigned ${bu.rate.toFixed(0)} ev/s, one commit per event ${p.rate.toFixed(1)} ev/s`,
    );
  }
} catch (err) {
  console.error('benchmark failed:', err);
  process.exitCode = 1;
} finally {
  await publisher.close();
  await git.stop();
  await nats.dispose();
  await rm(scratch, { recursive: true, force: true }).catch(() => undefined);
}
if (process.exitCode) process.exit(1);

const m = (f: (r: (typeof runs)[number]) => number) => median(runs.map(f));
const sRate = m((r) => r.sustained.rate);
const sP50 = m((r) => r.sustained.p50);
const sP99 = m((r) => r.sustained.p99);
const bRate = m((r) => r.batched.rate);
const pRate = m((r) => r.perEvent.rate);
const sCommits = m((r) => r.sustained.commits);
const sOffered = m((r) => r.sustained.offered ?? Number.NaN);
const uRate = m((r) => r.sustainedUnsigned.rate);
const uP50 = m((r) => r.sustainedUnsigned.p50);
const uP99 = m((r) => r.sustainedUnsigned.p99);
const ubRate = m((r) => r.batchedUnsigned.rate);
// Overhead = how much slower signed is than unsigned (negative: signed happened to be faster).
const overhead = (signed: number, unsigned: number) => ((unsigned - signed) / unsigned) * 100;
const md = `# audit-writer throughput

\`npx tsx bench/audit-writer/throughput.ts\` (RATE=${RATE} SECONDS=${SECONDS} DRAIN=${DRAIN} PER_EVENT=${PER_EVENT} RUNS=${RUNS} INGEST=${INGEST}${NATS_SYNC ? ' NATS_SYNC=always' : ''}),
${new Date().toISOString()}, ${cpus().length} cores, load average at the end ${loadavg()
  .map((l) => l.toFixed(1))
  .join(' ')} (machine shared with other engineers' runs).

Every event is written as a hash-chained JSON line and committed with \`core.fsync=all\` before it is
acked (one append, one commit, its fsyncs, then the batch's acks); the audit writer, NATS, the publisher
and git share the machine. Lag = event time (created, before publish) → the commit holding it returned.
Medians of ${RUNS} runs.

NATS for the writer scenarios: ${NATS_SYNC ? '`sync_interval: always`' : "JetStream's default sync"}. With \`sync_interval: always\` (production)
one publisher got ${ingest.toFixed(0)} events/s into the stream on this machine (${INGEST} events, 500 in flight,
measured first in this run): below the target, so the stream, not the writer, would set the sustained
figure. The publisher offered the sustained scenario ${sOffered.toFixed(0)} events/s (median).

| scenario | events | events/s | lag p50 | lag p99 | commits |
|---|---:|---:|---:|---:|---:|
| batched (N=${BATCH}, T=200 ms), sustained at ${RATE}/s for ${SECONDS} s, signed | ${RATE * SECONDS} | ${sRate.toFixed(0)} | ${sP50.toFixed(2)} s | ${sP99.toFixed(2)} s | ${sCommits} |
| same, checkpoint signing off | ${RATE * SECONDS} | ${uRate.toFixed(0)} | ${uP50.toFixed(2)} s | ${uP99.toFixed(2)} s | ${m((r) => r.sustainedUnsigned.commits)} |
| batched (N=${BATCH}, T=200 ms), drain a backlog, signed | ${DRAIN} | ${bRate.toFixed(0)} | – | – | ${m((r) => r.batched.commits)} |
| same, checkpoint signing off | ${DRAIN} | ${ubRate.toFixed(0)} | – | – | ${m((r) => r.batchedUnsigned.commits)} |
| one commit per event (N=1), drain a backlog | ${PER_EVENT} | ${pRate.toFixed(1)} | – | – | ${m((r) => r.perEvent.commits)} |

Where the time goes (\`node --cpu-prof\` on this bench, summarised by file and function, 2026-11-30
at load 10–15): the writer's process was idle 36–65 % of the time, waiting on git and the disk; of its
CPU, git child-process spawns (add + commit per batch, and pushes) about a fifth, canonical JSON +
sha256 per record about a sixth (each record is now canonicalised once, for its hash and its line
together), event decoding/validation and the consumer a tenth, the in-process publisher (this bench's)
another fifth. Per commit, \`git add\` re-hashed and re-compressed the whole day file: 280 ms at 1 MB,
780 ms at 7 MB under load, growing all day; a day's log is now cut into 4 MiB segments
(\`YYYY/MM/DD/000001.jsonl\`), so a commit costs the same at midnight as at noon. Acks were already
batched behind one commit per batch (2,000 records or 200 ms); fsync is per commit, not per record.
On this 2-core machine at load 15–25 the remaining per-record CPU (about 70–100 µs of build +
decode, inflated by preemption) bounds the rate below the target.

**Batched / one commit per event: ${(bRate / pRate).toFixed(0)}×** (drain rates). Target ≥ 2,000 events/s sustained
with p99 lag ≤ 2 s, signed: ${sRate >= 2000 && sP99 <= 2 ? 'met' : 'NOT met'} (${sRate.toFixed(0)} events/s, p99 ${sP99.toFixed(2)} s).
Signing overhead (target ≤ 10 %): sustained ${overhead(sRate, uRate).toFixed(1)} %, drain ${overhead(bRate, ubRate).toFixed(1)} %
(signed/unsigned ${(sRate / uRate).toFixed(3)} and ${(bRate / ubRate).toFixed(3)}; medians of the interleaved runs).

Per run (signed / unsigned):

| run | sustained ev/s (offered) | p99 lag | drain batched ev/s | one-per-event ev/s |
|---|---:|---:|---:|---:|
${runs
  .map(
    (r, i) =>
      `| ${i + 1} | ${r.sustained.rate.toFixed(0)} / ${r.sustainedUnsigned.rate.toFixed(0)} (${r.sustained.offered?.toFixed(0)} / ${r.sustainedUnsigned.offered?.toFixed(0)}) | ${r.sustained.p99.toFixed(2)} / ${r.sustainedUnsigned.p99.toFixed(2)} s | ${r.batched.rate.toFixed(0)} / ${r.batchedUnsigned.rate.toFixed(0)} | ${r.perEvent.rate.toFixed(1)} |`,
  )
  .join('\n')}
`;
await writeFile(join(root, 'bench/results/audit-writer.md'), md);
console.log(md);
process.exit(0);
