/**
 * How long `flotilla audit verify` takes on a big audit log (issue 15: verify time for 1M records).
 *
 * Generates RECORDS records offline into a temp directory laid out as an audit clone (day files of
 * PER_DAY records, a signed checkpoint per BATCH records in `checkpoints/`, as the writer keeps
 * them), then runs the real CLI bundle (`node cli/dist/main.js audit verify --dir … --key …`) and
 * times it with its peak RSS, RUNS times, interleaved with the unkeyed chain check (no `--key`,
 * the baseline: hashes and links only). A copy with one record edited and re-hashed (chain and
 * all later records rewritten) must fail naming that record, so the figure is of a real check.
 *
 * COMPARE_CLI=<path to another build of cli/dist/main.js, kept beside it so its imports resolve>
 * adds that build's signed verify to every run, interleaved: a before/after of a change to verify
 * (COMPARE_LABEL names it in the results).
 *
 * Run: npx tsx bench/audit-writer/verify.ts   (env: RECORDS=1000000 PER_DAY=50000 BATCH=2000 RUNS=3)
 * Needs `node scripts/build.ts` first. Writes bench/results/audit-verify.md.
 */
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type AuditRecord,
  buildRecord,
  GENESIS_HASH,
  recordLine,
  signCheckpoint,
} from '@flotilla/audit-writer';
import { createEvent, StageLockChanged } from '@flotilla/events';
import { generateNoteSigner, verifierKeyString } from '@flotilla/trust';
import { median } from '../stats.ts';

const RECORDS = Number(process.env.RECORDS ?? 1_000_000);
const PER_DAY = Number(process.env.PER_DAY ?? 50_000);
const BATCH = Number(process.env.BATCH ?? 2000);
const RUNS = Number(process.env.RUNS ?? 3);
const root = fileURLToPath(new URL('../..', import.meta.url));
const cli = join(root, 'cli/dist/main.js');
const COMPARE_CLI = process.env.COMPARE_CLI;
/** What the COMPARE_CLI build is, for the results table (e.g. `main before streaming verify`). */
const COMPARE_LABEL = process.env.COMPARE_LABEL;
const ORIGIN = 'bench.example/audit';

/** Writes lines through a stream, waiting on back-pressure (1M records do not fit in a string). */
function lineWriter(path: string) {
  const out = createWriteStream(path);
  return {
    async write(text: string) {
      if (!out.write(text)) await new Promise<void>((r) => out.once('drain', () => r()));
    },
    close: () => new Promise<void>((r, j) => out.end((err?: Error | null) => (err ? j(err) : r()))),
  };
}

/**
 * Two audit clones of `n` records in one pass: `good`, and `bad` with record `editAt` edited and
 * the chain re-hashed after it (the insider's rewrite the checkpoints must catch). Checkpoints
 * are signed over the original records, as the writer signed them, and kept in both.
 */
async function generate(
  good: string,
  bad: string,
  n: number,
  signer: ReturnType<typeof generateNoteSigner>['signer'],
  editAt: number,
) {
  let prev = GENESIS_HASH;
  let prevForged = GENESIS_HASH;
  let batchHashes: string[] = [];
  let day = -1;
  let files: Array<ReturnType<typeof lineWriter>> = [];
  const cps: Array<ReturnType<typeof lineWriter>> = [];
  for (const dir of [good, bad]) {
    await mkdir(join(dir, 'checkpoints/2026/01'), { recursive: true });
    cps.push(lineWriter(join(dir, 'checkpoints/2026/01/01.jsonl')));
  }
  const start = Date.parse('2026-01-01T00:00:00Z');
  for (let seq = 1; seq <= n; seq++) {
    const d = Math.floor((seq - 1) / PER_DAY);
    if (d !== day) {
      await Promise.all(files.map((f) => f.close()));
      day = d;
      const date = new Date(start + d * 86_400_000).toISOString();
      const name = `${date.slice(0, 4)}/${date.slice(5, 7)}/${date.slice(8, 10)}.jsonl`;
      files = [];
      for (const dir of [good, bad]) {
        await mkdir(dirname(join(dir, name)), { recursive: true });
        files.push(lineWriter(join(dir, name)));
      }
    }
    const at = new Date(start + d * 86_400_000 + (seq % PER_DAY));
    const event = createEvent(
      StageLockChanged,
      {
        stage: 'prod',
        locked: seq % 2 === 0,
        by: 'user:bench',
        reason: 'benchmark event with a short reason',
      },
      { source: 'flotilla://planner/bench', actor: 'user:bench', id: `ev-${seq}`, time: at },
    );
    const record: AuditRecord = buildRecord(event, { seq, prevHash: prev, recordedAt: at, streamSeq: seq });
    prev = record.hash;
    batchHashes.push(record.hash);
    const line = recordLine(record);
    await files[0]!.write(line);
    if (seq < editAt) {
      await files[1]!.write(line);
      prevForged = record.hash;
    } else {
      // From the edit on, every record is re-hashed onto the rewritten chain.
      const data = seq === editAt ? { ...(event.data as object), by: 'user:mallory' } : event.data;
      const forged = buildRecord({ ...event, data } as typeof event, {
        seq,
        prevHash: prevForged,
        recordedAt: at,
        streamSeq: seq,
      });
      await files[1]!.write(recordLine(forged));
      prevForged = forged.hash;
    }
    if (batchHashes.length === BATCH || seq === n) {
      const { entry } = signCheckpoint(
        { origin: ORIGIN, time: at, hashes: batchHashes, firstSeq: seq - batchHashes.length + 1 },
        signer,
      );
      for (const c of cps) await c.write(`${JSON.stringify(entry)}\n`);
      batchHashes = [];
    }
  }
  await Promise.all([...files, ...cps].map((f) => f.close()));
}

interface Timed {
  ms: number;
  rssMiB: number;
  code: number;
  out: string;
}

/** Runs the CLI under /usr/bin/time for its peak RSS. */
function timeCli(args: string[], program = cli): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn('/usr/bin/time', ['-f', 'maxrss=%M', process.execPath, program, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (b) => (out += b));
    child.stderr.on('data', (b) => (err += b));
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      const rss = Number(/maxrss=(\d+)/.exec(err)?.[1] ?? Number.NaN) / 1024;
      resolve({ ms, rssMiB: rss, code: code ?? -1, out: `${out}${err.replace(/maxrss=\d+\n?/, '')}`.trim() });
    });
  });
}

const scratch = await mkdtemp(join(tmpdir(), 'flotilla-verify-bench-'));
const { signer } = generateNoteSigner('flotilla-audit');
const key = verifierKeyString('flotilla-audit', signer.publicKey);
const good = join(scratch, 'good');
const bad = join(scratch, 'bad');
const editAt = Math.floor(RECORDS * 0.9);
let md = '';
try {
  const g0 = Date.now();
  await generate(good, bad, RECORDS, signer, editAt);
  console.log(`generated 2 × ${RECORDS} records in ${((Date.now() - g0) / 1000).toFixed(1)} s`);
  const signed: Timed[] = [];
  const chain: Timed[] = [];
  const compared: Timed[] = [];
  for (let i = 0; i < RUNS; i++) {
    if (COMPARE_CLI) {
      const o = await timeCli(
        ['audit', 'verify', '--dir', good, '--key', key, '--origin', ORIGIN],
        COMPARE_CLI,
      );
      if (o.code !== 0) throw new Error(`signed verify (COMPARE_CLI) failed: ${o.out}`);
      compared.push(o);
      console.log(
        `run ${i + 1}: COMPARE_CLI signed ${(o.ms / 1000).toFixed(1)} s ${o.rssMiB.toFixed(0)} MiB`,
      );
    }
    const s = await timeCli(['audit', 'verify', '--dir', good, '--key', key, '--origin', ORIGIN]);
    if (s.code !== 0) throw new Error(`signed verify failed: ${s.out}`);
    const c = await timeCli(['audit', 'verify', '--dir', good]);
    if (c.code !== 0) throw new Error(`chain verify failed: ${c.out}`);
    signed.push(s);
    chain.push(c);
    console.log(
      `run ${i + 1}: signed ${(s.ms / 1000).toFixed(1)} s ${s.rssMiB.toFixed(0)} MiB; chain only ${(c.ms / 1000).toFixed(1)} s ${c.rssMiB.toFixed(0)} MiB`,
    );
  }
  const tampered = await timeCli(['audit', 'verify', '--dir', bad, '--key', key, '--origin', ORIGIN]);
  if (tampered.code === 0 || !tampered.out.includes(`seq ${editAt}`))
    throw new Error(`the rewritten log was not caught at seq ${editAt}: ${tampered.out}`);
  console.log(`tampered: ${(tampered.ms / 1000).toFixed(1)} s: ${tampered.out.slice(0, 200)}`);
  const sMs = median(signed.map((t) => t.ms));
  const cMs = median(chain.map((t) => t.ms));
  const oMs = median(compared.map((t) => t.ms));
  md = `# audit verify on a big log

\`npx tsx bench/audit-writer/verify.ts\` (RECORDS=${RECORDS} PER_DAY=${PER_DAY} BATCH=${BATCH} RUNS=${RUNS}${COMPARE_CLI ? ` COMPARE_CLI=${COMPARE_CLI.replace(root, '')}` : ''}${COMPARE_LABEL ? ` COMPARE_LABEL='${COMPARE_LABEL}'` : ''}),
${new Date().toISOString()}, ${cpus().length} cores, load average at the end ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')} (machine shared with other engineers' runs).

An audit clone of ${RECORDS.toLocaleString('en')} records (${Math.ceil(RECORDS / PER_DAY)} day files, one signed
checkpoint per ${BATCH} records as the writer keeps them), generated offline; the real CLI bundle
verifies it. Wall time includes starting node. Medians of ${RUNS} runs, interleaved.

| check | wall time | records/s | peak RSS |
|---|---:|---:|---:|
| \`audit verify --dir --key\` (chain + every signed checkpoint + coverage) | ${(sMs / 1000).toFixed(1)} s | ${Math.round(RECORDS / (sMs / 1000)).toLocaleString('en')} | ${median(signed.map((t) => t.rssMiB)).toFixed(0)} MiB |
| \`audit verify --dir\` (unkeyed chain only, baseline) | ${(cMs / 1000).toFixed(1)} s | ${Math.round(RECORDS / (cMs / 1000)).toLocaleString('en')} | ${median(chain.map((t) => t.rssMiB)).toFixed(0)} MiB |
${COMPARE_CLI ? `| \`audit verify --dir --key\`, the COMPARE_CLI build${COMPARE_LABEL ? ` (${COMPARE_LABEL})` : ''} | ${(oMs / 1000).toFixed(1)} s | ${Math.round(RECORDS / (oMs / 1000)).toLocaleString('en')} | ${median(compared.map((t) => t.rssMiB)).toFixed(0)} MiB |\n` : ''}
Signed / chain only: ${(sMs / cMs).toFixed(2)}×.${COMPARE_CLI ? ` This build / COMPARE_CLI build (signed): ${(sMs / oMs).toFixed(2)}× (${(oMs / sMs).toFixed(2)}× faster).` : ''} A copy with record ${editAt} edited and every later record
re-hashed fails in ${(tampered.ms / 1000).toFixed(1)} s, naming it: \`${tampered.out.split('\n')[0]?.slice(0, 160)}…\`

Per run (signed / chain only): ${signed.map((s, i) => `${(s.ms / 1000).toFixed(1)} / ${(chain[i]!.ms / 1000).toFixed(1)} s`).join('; ')}.
`;
} catch (err) {
  console.error('benchmark failed:', err);
  process.exitCode = 1;
} finally {
  await rm(scratch, { recursive: true, force: true }).catch(() => undefined);
}
if (process.exitCode) process.exit(1);
await writeFile(join(root, 'bench/results/audit-verify.md'), md);
console.log(md);
