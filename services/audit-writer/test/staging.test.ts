// The writer chains each event as it arrives (AuditRepo.stage), while the batch before it is being
// committed; a batch then writes the records as built. Whatever happens in between (a failed
// commit, a duplicate, a batch built the old way) the log stays one chain with no seq twice.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generateNoteSigner, parseVerifierKey, verifierKeyString } from '@flotilla/trust';
import { describe, expect, it } from 'vitest';
import { AuditRepo, verifyAuditDir } from '../src/audit-repo.ts';
import { lockEvent, rand } from './helpers.ts';
import { repoFixture } from './repo-fixture.ts';

const fx = repoFixture('staging');
const event = (tag: string, i: number) => lockEvent(tag, i, 'staging test');

describe('an audit repo staging events ahead of their commit', () => {
  it('commits staged records as built, survives a failed commit and duplicates, and verifies as one chain', async () => {
    const name = rand('staging');
    await fx.git.createRepo(name);
    const { signer } = generateNoteSigner('flotilla-audit');
    const dir = join(fx.scratch, name);
    const repo = await AuditRepo.open(
      {
        url: fx.git.fileUrl(name),
        branch: 'main',
        dir,
        author: { name: 'Audit', email: 'audit@test.invalid' },
        checkpoint: { signer, origin: 'test.example/audit' },
      },
      () => undefined,
    );
    const at = new Date('2026-11-30T10:00:00Z');
    const now = () => at;
    const staged = Array.from({ length: 6 }, (_, i) =>
      repo.stage({ event: event(name, i), streamSeq: i + 1 }, at),
    );
    expect(staged.map((s) => s.built?.record.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    // Staging an event again (a redelivery) hands back the same entry: one record, not two.
    expect(repo.stage({ event: event(name, 1), streamSeq: 2 }, at)).toBe(staged[1]);

    const first = await repo.append(staged.slice(0, 3), () => undefined, now);
    expect(first.records.map((r) => r.seq)).toEqual([1, 2, 3]);
    // Written as staged: the very records built at stage time.
    expect(first.records[0]).toBe(staged[0]?.built?.record);

    // A commit that fails (git's index is locked) leaves nothing behind; the retry succeeds.
    await writeFile(join(dir, '.git', 'index.lock'), '');
    await expect(repo.append(staged.slice(3, 5), () => undefined, now)).rejects.toThrow(/failed/);
    expect(repo.lastSeq).toBe(3);
    const late = repo.stage({ event: event(name, 6), streamSeq: 7 }, at);
    const retried = await repo.append(staged.slice(3, 5), () => undefined, now);
    expect(retried.records.map((r) => r.seq)).toEqual([4, 5]);

    // A batch of plain events (built at append) takes the next seqs; what is staged moves behind it.
    const plain = await repo.append([{ event: event(name, 7), streamSeq: 8 }], () => undefined, now);
    expect(plain.records.map((r) => r.seq)).toEqual([6]);
    const rest = await repo.append(
      [staged[5]!, late, repo.stage({ event: event(name, 3) }, at)],
      () => undefined,
      now,
    );
    expect(rest.records.map((r) => [r.seq, r.id])).toEqual([
      [7, `${name}-5`],
      [8, `${name}-6`],
    ]);
    expect(rest.duplicates).toBe(1);

    const verifier = parseVerifierKey(verifierKeyString(signer.name, signer.publicKey));
    expect(await verifyAuditDir(dir, { verifiers: [verifier], origin: 'test.example/audit' })).toMatchObject({
      ok: true,
      records: 8,
      checkpoints: 4,
    });
    // The next event staged continues after the committed head.
    expect(repo.stage({ event: event(name, 8) }, at).built?.record.seq).toBe(9);
  });

  it('builds a batch that spans midnight again, stamped with the commit time, so it lands in one day file', async () => {
    const name = rand('midnight');
    await fx.git.createRepo(name);
    const dir = join(fx.scratch, name);
    const repo = await AuditRepo.open(
      {
        url: fx.git.fileUrl(name),
        branch: 'main',
        dir,
        author: { name: 'Audit', email: 'audit@test.invalid' },
      },
      () => undefined,
    );
    const a = repo.stage({ event: event(name, 0) }, new Date('2026-11-30T23:59:59.900Z'));
    const b = repo.stage({ event: event(name, 1) }, new Date('2026-12-01T00:00:00.100Z'));
    const { records } = await repo.append(
      [a, b],
      () => undefined,
      () => new Date('2026-12-01T00:00:00.300Z'),
    );
    expect(records.map((r) => r.recordedAt)).toEqual([
      '2026-12-01T00:00:00.300Z',
      '2026-12-01T00:00:00.300Z',
    ]);
    expect(await verifyAuditDir(dir)).toMatchObject({ ok: true, records: 2, files: 1 });
  });
});
