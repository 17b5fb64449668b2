import { generateNoteSigner, parseVerifierKey, verifierKeyString } from '@flotilla/trust';
import { describe, expect, it } from 'vitest';
import {
  type AuditFile,
  type AuditRecord,
  GENESIS_HASH,
  hashRecord,
  recordLine,
  verifyChain,
} from './chain.ts';
import { type CheckpointEntry, checkpointSize, parseCheckpoint, signCheckpoint } from './checkpoint.ts';
import { chainRecords, sampleEvents } from './sample-events.ts';
import { type KeptCheckpoint, verifyLog } from './verify-log.ts';

const ORIGIN = 'git.example.com/audit.git#main';
const writer = generateNoteSigner('flotilla-audit').signer;
const verifier = parseVerifierKey(verifierKeyString('flotilla-audit', writer.publicKey));
const FILE = '2026/11/26.jsonl';

/** A log of the sample events committed in batches of 4, with the checkpoint of each commit. */
function signedLog(): { records: AuditRecord[]; checkpoints: KeptCheckpoint[] } {
  const records = chainRecords(sampleEvents('v'), Date.parse('2026-11-26T10:00:00Z'), { streamSeq: true });
  const checkpoints: KeptCheckpoint[] = [];
  for (let first = 1; first <= records.length; first += 4) {
    const batch = records.slice(first - 1, first + 3);
    const { entry } = signCheckpoint(
      {
        origin: ORIGIN,
        time: new Date(batch[batch.length - 1]!.recordedAt),
        hashes: batch.map((r) => r.hash),
        firstSeq: first,
      },
      writer,
    );
    checkpoints.push({ source: `repo:checkpoints/${FILE}:${checkpoints.length + 1}`, entry });
  }
  return { records, checkpoints };
}

const asFiles = (records: AuditRecord[]): AuditFile[] => [
  { path: FILE, text: records.map(recordLine).join('') },
];

/** What the insider of issue #15 did: edit, drop, renumber and re-hash so the chain is consistent again. */
function rehash(records: AuditRecord[]): AuditRecord[] {
  let prevHash = GENESIS_HASH;
  return records.map((r, i) => {
    const { hash: _h, ...rest } = { ...r, seq: i + 1, prevHash };
    const hash = hashRecord(rest);
    prevHash = hash;
    return { ...rest, hash };
  });
}

describe('checkpoints', () => {
  it('sign the head, the time and the batch; the body is a C2SP tlog checkpoint', () => {
    const { records, checkpoints } = signedLog();
    const last = checkpoints[checkpoints.length - 1]!.entry;
    const body = last.note.slice(0, last.note.indexOf('\n\n') + 1);
    const lines = body.split('\n');
    expect(lines[0]).toBe(ORIGIN);
    expect(Number(lines[1])).toBe(records.length);
    expect(Buffer.from(lines[2]!, 'base64').toString('hex')).toBe(records[records.length - 1]!.hash.slice(7));
    expect(parseCheckpoint(body)).toMatchObject({
      size: records.length,
      time: records[records.length - 1]!.recordedAt,
    });
    expect(last.note).toMatch(/\n\n— flotilla-audit [A-Za-z0-9+/=]+\n$/);
    expect(checkpointSize(last)).toBe(records.length);
  });
});

describe('verifyLog', () => {
  it('an intact log verifies against every checkpoint', () => {
    const { records, checkpoints } = signedLog();
    const result = verifyLog({ files: asFiles(records), checkpoints, verifiers: [verifier], origin: ORIGIN });
    expect(result).toMatchObject({ ok: true, records: records.length, checkpoints: checkpoints.length });
    expect(result.latest?.size).toBe(records.length);
  });

  it("the insider's rewrite (edit an actor, drop a record, re-hash) passes the bare chain but fails here, naming the first changed record", () => {
    const { records, checkpoints } = signedLog();
    const tampered = records
      .map((r) => (r.seq === 6 ? { ...r, actor: 'user:mallory' } : r))
      .filter((r) => r.seq !== 9);
    const files = asFiles(rehash(tampered));
    expect(verifyChain(files).ok).toBe(true);
    const result = verifyLog({ files, checkpoints, verifiers: [verifier] });
    expect(result.ok).toBe(false);
    expect(result.problem).toMatchObject({ kind: 'rewritten', file: FILE, line: 6, seq: 6, expectedSeq: 6 });
    expect(result.problem?.message).toContain(
      `record seq 6 (${FILE}:6, event ${records[5]!.id}) is not the record the writer signed`,
    );
    // Only the drop: the first record that differs is the one now sitting where seq 9 was.
    const dropped = verifyLog({
      files: asFiles(rehash(records.filter((r) => r.seq !== 9))),
      checkpoints,
      verifiers: [verifier],
    });
    expect(dropped.problem).toMatchObject({ kind: 'rewritten', line: 9, seq: 9 });
  });

  it('catches what checkpoints do not cover, truncation, forged and foreign checkpoints, and forks', () => {
    const { records, checkpoints } = signedLog();
    // Records appended after the last checkpoint (by someone without the key).
    const unsigned = verifyLog({
      files: asFiles(records),
      checkpoints: checkpoints.slice(0, -1),
      verifiers: [verifier],
    });
    expect(unsigned.problem).toMatchObject({
      kind: 'unsigned',
      seq: checkpointSize(checkpoints.at(-2)!.entry) + 1,
    });
    expect(
      verifyLog({ files: asFiles(records), checkpoints: [], verifiers: [verifier] }).problem,
    ).toMatchObject({
      kind: 'unsigned',
      seq: 1,
    });
    // The newest lines removed.
    expect(
      verifyLog({ files: asFiles(records.slice(0, -2)), checkpoints, verifiers: [verifier] }).problem,
    ).toMatchObject({ kind: 'truncated', expectedSeq: records.length - 1 });
    // A checkpoint signed with another key, or for another log.
    const mallory = generateNoteSigner('flotilla-audit').signer;
    const forged: CheckpointEntry = signCheckpoint(
      { origin: ORIGIN, time: new Date(), hashes: rehash(records).map((r) => r.hash), firstSeq: 1 },
      mallory,
    ).entry;
    expect(
      verifyLog({
        files: asFiles(records),
        checkpoints: [...checkpoints, { source: 'kept:forged', entry: forged }],
        verifiers: [verifier],
      }).problem,
    ).toMatchObject({ kind: 'bad-checkpoint', file: 'kept:forged' });
    expect(
      verifyLog({ files: asFiles(records), checkpoints, verifiers: [verifier], origin: 'other#main' }).problem
        ?.message,
    ).toContain('not "other#main"');
    // Hashes kept with a checkpoint swapped for others: the signed batch digest no longer matches.
    const swapped = {
      ...checkpoints[0]!,
      entry: { ...checkpoints[0]!.entry, hashes: checkpoints[1]!.entry.hashes! },
    };
    expect(
      verifyLog({ files: asFiles(records), checkpoints: [swapped], verifiers: [verifier] }).problem?.message,
    ).toContain('are not the ones it signed');
    // Two genuine checkpoints of diverging logs (split brain, or the key used to sign a rewrite).
    const fork = records.map((r) => (r.seq === 2 ? { ...r, actor: 'user:other' } : r));
    const forkCp = signCheckpoint(
      {
        origin: ORIGIN,
        time: new Date(),
        hashes: rehash(fork)
          .slice(0, 4)
          .map((r) => r.hash),
        firstSeq: 1,
      },
      writer,
    ).entry;
    expect(
      verifyLog({
        files: asFiles(records),
        checkpoints: [...checkpoints, { source: 'stream:7', entry: forkCp }],
        verifiers: [verifier],
      }).problem,
    ).toMatchObject({ kind: 'bad-checkpoint', seq: 2 });
  });

  it("an auditor's earlier checkpoint (head only) must be a prefix of today's log", () => {
    const { records, checkpoints } = signedLog();
    const old: KeptCheckpoint = { source: 'kept:q3.txt', entry: { note: checkpoints[1]!.entry.note } };
    expect(
      verifyLog({ files: asFiles(records), checkpoints: [...checkpoints, old], verifiers: [verifier] }).ok,
    ).toBe(true);
    // The repo's checkpoints were rewritten away, only the auditor's copy is left: the rewrite still shows.
    const rewritten = asFiles(
      rehash(records.map((r) => (r.seq === 3 ? { ...r, actor: 'user:mallory' } : r))),
    );
    const result = verifyLog({ files: rewritten, checkpoints: [old], verifiers: [verifier] });
    expect(result.problem).toMatchObject({ kind: 'rewritten', seq: 8, file: FILE, line: 8 });
    expect(result.problem?.message).toContain('kept:q3.txt');
  });
});
