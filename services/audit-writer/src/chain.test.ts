import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { catalog } from '@flotilla/events';
import { describe, expect, it } from 'vitest';
import {
  type AuditFile,
  type AuditRecord,
  buildRecord,
  dayFile,
  fileLines,
  GENESIS_HASH,
  hashRecord,
  lineHashOk,
  recordLine,
  verifyChain,
} from './chain.ts';
import { sampleEvents } from './sample-events.ts';

const fixtureDir = join(import.meta.dirname, 'fixtures', 'chain');
const fixture = (): AuditFile[] =>
  ['2026/11/26.jsonl', '2026/11/27.jsonl'].map((path) => ({
    path,
    text: readFileSync(join(fixtureDir, path), 'utf8'),
  }));

const edit = (files: AuditFile[], path: string, fn: (lines: string[]) => string[]): AuditFile[] =>
  files.map((f) => (f.path === path ? { path, text: `${fn(fileLines(f.text)).join('\n')}\n` } : f));

describe('record building', () => {
  it('reproduces the golden fixture byte for byte (the format of existing logs never changes)', () => {
    let prevHash = GENESIS_HASH;
    const texts = new Map<string, string>();
    // The fixture holds the catalog as it was when written; events added since come after it.
    const written = fixture().reduce((n, f) => n + fileLines(f.text).length, 0);
    sampleEvents()
      .slice(0, written)
      .forEach((event, i) => {
        const recordedAt = new Date(Date.parse('2026-11-26T23:59:50.000Z') + i * 1000);
        const r = buildRecord(event, { seq: i + 1, prevHash, recordedAt });
        prevHash = r.hash;
        texts.set(dayFile(recordedAt), (texts.get(dayFile(recordedAt)) ?? '') + recordLine(r));
      });
    expect(Object.fromEntries(texts)).toEqual(Object.fromEntries(fixture().map((f) => [f.path, f.text])));
  });

  it('covers every catalog event with auditor fields and a hash over everything but the hash', () => {
    const records = fixture().flatMap((f) => fileLines(f.text).map((l) => JSON.parse(l) as AuditRecord));
    expect(records.map((r) => r.event)).toEqual(catalog.map((d) => d.name));
    for (const r of records) expect(hashRecord(r)).toBe(r.hash);
    const byName = Object.fromEntries(records.map((r) => [r.event, r]));
    expect(byName.PlanCreated).toMatchObject({
      cluster: 'dev',
      stage: 'dev',
      planId: 'dev-1',
      result: 'planned',
    });
    expect(byName.PlanCreated?.digest).toMatch(/^sha256:c{64}$/);
    expect(byName.PromotionCommitted).toMatchObject({
      stage: 'prod',
      approvers: ['user:alice'],
      fromStage: 'uat',
    });
    expect(byName.ApplyFailed).toMatchObject({ cluster: 'dev', result: 'failed', code: 'apply.forbidden' });
    expect(byName.HealthChanged).toMatchObject({ result: 'Current' });
    expect(byName.DeadLettered).toMatchObject({ result: 'dead-lettered', code: 'handler.failed' });
    expect(byName.GitCommitDetected).toMatchObject({ author: 'Alice <alice@example.com>' });
    expect(records[0]?.prevHash).toBe(GENESIS_HASH);
  });

  it('day files are UTC dates', () => {
    expect(dayFile(new Date('2026-01-02T23:59:59.999Z'))).toBe('2026/01/02.jsonl');
  });
});

describe('a line hashes to its record', () => {
  const lines = fixture().flatMap((f) => fileLines(f.text));
  const parse = (l: string) => JSON.parse(l) as AuditRecord;

  it('as written, and re-serialised with the same content (the full check answers then)', () => {
    for (const line of lines) {
      expect(lineHashOk(line, parse(line))).toBe(true);
      const pretty = JSON.stringify(parse(line), null, 2);
      expect(lineHashOk(pretty, parse(pretty))).toBe(true);
    }
  });

  it('never once its content changed, however the hash member is placed or repeated', () => {
    const line = lines.find((l) => parse(l).event === 'PromotionCommitted') as string;
    const r = parse(line);
    const member = `,"hash":${JSON.stringify(r.hash)}`;
    const edited = line.replace('"user:alice"', '"user:mallory"');
    expect(lineHashOk(edited, parse(edited))).toBe(false);
    // The hash member repeated: found twice, so the full check decides.
    const twice = edited.replace(/}$/, `${member}}`);
    expect(lineHashOk(twice, parse(twice))).toBe(false);
    expect(hashRecord(parse(line))).toBe(r.hash);
  });
});

describe('verifyChain', () => {
  it('accepts the intact fixture across file boundaries', () => {
    const r = verifyChain(fixture());
    expect(r).toMatchObject({ ok: true, files: 2, records: catalog.length, head: { seq: catalog.length } });
  });

  it('names an edited line', () => {
    const files = edit(fixture(), '2026/11/27.jsonl', (lines) => {
      lines[2] = lines[2]!.replace('"cluster":"dev"', '"cluster":"prod"');
      return lines;
    });
    expect(verifyChain(files).problem).toMatchObject({
      kind: 'edited',
      file: '2026/11/27.jsonl',
      line: 3,
      seq: 13,
    });
  });

  it('names an edit whose hash was recomputed (the link to the next record breaks)', () => {
    const files = edit(fixture(), '2026/11/26.jsonl', (lines) => {
      const r = JSON.parse(lines[4]!) as AuditRecord;
      r.actor = 'user:mallory';
      r.hash = hashRecord(r);
      lines[4] = recordLine(r).trimEnd();
      return lines;
    });
    expect(verifyChain(files).problem).toMatchObject({
      kind: 'edited',
      file: '2026/11/26.jsonl',
      line: 6,
      seq: 6,
    });
  });

  it('names a removed line', () => {
    const files = edit(fixture(), '2026/11/26.jsonl', (lines) => lines.filter((_, i) => i !== 3));
    expect(verifyChain(files).problem).toMatchObject({
      kind: 'removed',
      file: '2026/11/26.jsonl',
      line: 4,
      seq: 5,
      expectedSeq: 4,
    });
  });

  it('names swapped lines', () => {
    const files = edit(fixture(), '2026/11/27.jsonl', (lines) => {
      [lines[5], lines[6]] = [lines[6]!, lines[5]!];
      return lines;
    });
    const p = verifyChain(files).problem;
    expect(p).toMatchObject({
      kind: 'reordered',
      file: '2026/11/27.jsonl',
      line: 6,
      seq: 17,
      expectedSeq: 16,
    });
    expect(p?.message).toContain('2026/11/27.jsonl:7');
  });

  it('names a line that is not a record', () => {
    const files = edit(fixture(), '2026/11/26.jsonl', (lines) => {
      lines[1] = '{"seq": 2, "oops"';
      return lines;
    });
    expect(verifyChain(files).problem).toMatchObject({ kind: 'malformed', line: 2 });
  });

  it('uses the commit anchor to catch removal of the newest records', () => {
    const all = fixture();
    const last = JSON.parse(fileLines(all[1]!.text).at(-1)!) as AuditRecord;
    const truncated = edit(all, '2026/11/27.jsonl', (lines) => lines.slice(0, -2));
    expect(verifyChain(truncated).ok).toBe(true);
    expect(verifyChain(truncated, { seq: last.seq, hash: last.hash }).problem).toMatchObject({
      kind: 'truncated',
      expectedSeq: last.seq - 1,
    });
    expect(verifyChain(all, { seq: last.seq, hash: last.hash }).ok).toBe(true);
  });
});
