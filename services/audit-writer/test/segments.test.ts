import { join } from 'node:path';
import { generateNoteSigner, parseVerifierKey, verifierKeyString } from '@flotilla/trust';
import { describe, expect, it } from 'vitest';
import { AuditRepo, listDayFiles, readRepoCheckpoints, verifyAuditDir } from '../src/audit-repo.ts';
import { nextSegment, sortDayFiles } from '../src/chain.ts';
import { lockEvent, rand } from './helpers.ts';
import { repoFixture } from './repo-fixture.ts';

const fx = repoFixture('segments');
const event = (tag: string, i: number) => lockEvent(tag, i, 'segment test');

describe('segment names', () => {
  it('follow a day file and sort in chain order, before the next day', () => {
    const names = ['2026/11/30.jsonl'];
    for (let i = 0; i < 11; i++) names.push(nextSegment(names[names.length - 1] as string));
    expect(names.slice(0, 3)).toEqual([
      '2026/11/30.jsonl',
      '2026/11/30/000001.jsonl',
      '2026/11/30/000002.jsonl',
    ]);
    expect(names[11]).toBe('2026/11/30/000011.jsonl');
    const shuffled = ['2026/12/01.jsonl', ...[...names].reverse(), '2026/11/29/000004.jsonl'];
    expect(sortDayFiles(shuffled)).toEqual(['2026/11/29/000004.jsonl', ...names, '2026/12/01.jsonl']);
    expect(() => nextSegment('checkpoint')).toThrow(/not an audit log file/);
  });
});

describe('an audit repo with a small segment size', () => {
  it('moves to the next segment once a file is full; verify and a reopened clone see one chain', async () => {
    const name = rand('segments');
    await fx.git.createRepo(name);
    const { signer } = generateNoteSigner('flotilla-audit');
    const opts = {
      url: fx.git.fileUrl(name),
      branch: 'main',
      dir: join(fx.scratch, name),
      author: { name: 'Audit', email: 'audit@test.invalid' },
      segmentMaxBytes: 3000,
      checkpoint: { signer, origin: 'test.example/audit' },
    };
    const repo = await AuditRepo.open(opts, () => undefined);
    const day = new Date('2026-11-30T10:00:00Z');
    for (let batch = 0; batch < 4; batch++) {
      const events = Array.from({ length: 4 }, (_, i) => ({
        event: event(name, batch * 4 + i),
        streamSeq: batch * 4 + i + 1,
      }));
      const { records } = await repo.append(
        events,
        () => undefined,
        () => day,
      );
      expect(records).toHaveLength(4);
    }
    // Four records (about 2.8 kB) do not fill a 3,000-byte segment; eight do, so batch three starts the next.
    const files = await listDayFiles(opts.dir);
    expect(files).toEqual(['2026/11/30.jsonl', '2026/11/30/000001.jsonl']);
    const kept = await readRepoCheckpoints(opts.dir);
    expect(kept.map((k) => k.source)).toEqual([
      'repo:checkpoints/2026/11/30.jsonl:1',
      'repo:checkpoints/2026/11/30.jsonl:2',
      'repo:checkpoints/2026/11/30/000001.jsonl:1',
      'repo:checkpoints/2026/11/30/000001.jsonl:2',
    ]);
    const verifier = parseVerifierKey(verifierKeyString(signer.name, signer.publicKey));
    const result = await verifyAuditDir(opts.dir, {
      verifiers: [verifier],
      origin: 'test.example/audit',
    });
    expect(result).toMatchObject({ ok: true, records: 16, files: 2 });

    const seen: number[] = [];
    const reopened = await AuditRepo.open(opts, (rs) => seen.push(...rs.map((r) => r.seq)));
    expect(seen).toEqual(Array.from({ length: 16 }, (_, i) => i + 1));
    expect(reopened.lastSeq).toBe(16);
    expect(reopened.has(`${name}-15`)).toBe(true);
    // The reopened writer goes on after the newest segment, which is full too.
    await reopened.append(
      [{ event: event(name, 16), streamSeq: 17 }],
      () => undefined,
      () => day,
    );
    expect(await listDayFiles(opts.dir)).toEqual([
      '2026/11/30.jsonl',
      '2026/11/30/000001.jsonl',
      '2026/11/30/000002.jsonl',
    ]);
    expect(await verifyAuditDir(opts.dir, { verifiers: [verifier] })).toMatchObject({
      ok: true,
      records: 17,
    });
  });
});
