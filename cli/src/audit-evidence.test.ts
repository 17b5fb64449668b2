import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { type AuditRecord, canonicalJson, dayFile, recordLine, signCheckpoint } from '@flotilla/audit-writer';
import { chainRecords, promotionEvents } from '@flotilla/audit-writer/sample-events';
import { generateNoteSigner, verifierKeyString } from '@flotilla/trust';
import { afterAll, describe, expect, it } from 'vitest';
import { capture } from '../test/capture-io.ts';
import { EXIT } from './exit-codes.ts';
import { runCli } from './program.ts';

const writer = generateNoteSigner('flotilla-audit').signer;
const KEY = verifierKeyString('flotilla-audit', writer.publicKey);
const tmp = mkdtempSync(join(tmpdir(), 'flotilla-evidence-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** An audit repo work tree as the writer leaves it: day files and signed checkpoints per batch. */
function auditDir(name: string): { dir: string; records: AuditRecord[] } {
  const dir = join(tmp, name);
  const events = [
    ...promotionEvents({ tag: 'a', sourceSha: 'a'.repeat(40), commitSha: 'b'.repeat(40) }),
    ...promotionEvents({
      tag: 'b',
      sourceSha: 'c'.repeat(40),
      commitSha: 'd'.repeat(40),
      start: Date.parse('2026-11-26T15:00:00.000Z'),
    }),
  ];
  const records = chainRecords(events, Date.parse('2026-11-26T16:00:00Z'));
  const write = (path: string, text: string) => {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text, { flag: 'a' });
  };
  for (const r of records) write(dayFile(new Date(r.recordedAt)), recordLine(r));
  for (let first = 1; first <= records.length; first += 5) {
    const batch = records.slice(first - 1, first + 4);
    const { entry } = signCheckpoint(
      { origin: 'audit.example/log', time: new Date(), hashes: batch.map((r) => r.hash), firstSeq: first },
      writer,
    );
    write(`checkpoints/${dayFile(new Date(batch[0]!.recordedAt))}`, `${canonicalJson(entry)}\n`);
  }
  return { dir, records };
}

describe('flotilla audit evidence', () => {
  it('cuts a package from a verified clone, one change or all, and verify-evidence checks it with the key alone', async () => {
    const { dir } = auditDir('good');
    const out = join(tmp, 'evidence.json');
    const io = capture();
    expect(await runCli(['audit', 'evidence', '--dir', dir, '--key', KEY, '--out', out], io, {})).toBe(
      EXIT.ok,
    );
    const pkg = JSON.parse(readFileSync(out, 'utf8'));
    expect(pkg.metadata).toMatchObject({
      kind: 'flotilla.change-evidence.v1',
      recordCount: 2,
      stages: ['prod'],
    });
    expect(pkg.changes.map((c: { classification: string }) => c.classification)).toEqual([
      'standard',
      'standard',
    ]);
    expect(io.errText.join('\n')).toMatch(/2 production changes: 2 standard, 0 emergency, 0 rollback/);

    const ok = capture();
    expect(await runCli(['audit', 'verify-evidence', out, '--key', KEY], ok, {})).toBe(EXIT.ok);
    expect(ok.outText.join('\n')).toMatch(/^ok: 2 changes, \d+ records proven by \d+ signed checkpoints/);

    const one = join(tmp, 'one.json');
    expect(
      await runCli(
        ['audit', 'evidence', 'c'.repeat(12), '--dir', dir, '--key', KEY, '--out', one],
        capture(),
        {},
      ),
    ).toBe(EXIT.ok);
    expect(
      JSON.parse(readFileSync(one, 'utf8')).changes.map((c: { configCommit: string }) => c.configCommit),
    ).toEqual(['d'.repeat(40)]);
    expect(
      await runCli(['audit', 'evidence', 'f'.repeat(12), '--dir', dir, '--key', KEY], capture(), {}),
    ).toBe(EXIT.failure);

    // The approver swapped in the exported file: refused, naming the record.
    const tampered = join(tmp, 'tampered.json');
    writeFileSync(
      tampered,
      readFileSync(out, 'utf8').replaceAll('"approver": "user:alice"', '"approver": "user:mallory"'),
    );
    const bad = capture();
    expect(await runCli(['audit', 'verify-evidence', tampered, '--key', KEY], bad, {})).toBe(EXIT.failure);
    expect(bad.outText.join('\n')).toMatch(
      /INVALID:[\s\S]*PromotionApproved\): its content does not match its hash/,
    );
  });

  it('refuses to cut evidence from a clone that does not verify, and needs the key', async () => {
    const { dir, records } = auditDir('rewritten');
    const file = join(dir, dayFile(new Date(records[0]!.recordedAt)));
    writeFileSync(
      file,
      readFileSync(file, 'utf8').replace('"approver":"user:alice"', '"approver":"user:bob"'),
    );
    const io = capture();
    expect(await runCli(['audit', 'evidence', '--dir', dir, '--key', KEY], io, {})).toBe(EXIT.failure);
    expect(io.errText.join('\n')).toMatch(/TAMPERED/);
    expect(await runCli(['audit', 'evidence', '--dir', dir], capture(), {})).toBe(EXIT.usage);
    expect(
      await runCli(['audit', 'verify-evidence', join(tmp, 'nope.json'), '--key', KEY], capture(), {}),
    ).toBe(EXIT.usage);
  });
});
