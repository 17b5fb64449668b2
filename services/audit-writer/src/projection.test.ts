import { catalog } from '@flotilla/events';
import { describe, expect, it } from 'vitest';
import { type AuditRecord, buildRecord, GENESIS_HASH } from './chain.ts';
import { formatNote } from './config-notes.ts';
import { buildExport, toCsv, verifyExportHash } from './export.ts';
import { AuditIndex, approverIsNotAuthor } from './projection.ts';
import { promotionEvents, sampleEvents } from './sample-events.ts';

const S = 'b'.repeat(40);
const P = 'f'.repeat(40);

function indexOf(events: ReturnType<typeof sampleEvents>): AuditIndex {
  let prevHash = GENESIS_HASH;
  const records: AuditRecord[] = events.map((e, i) => {
    const r = buildRecord(e, { seq: i + 1, prevHash, recordedAt: new Date('2026-11-26T13:00:00Z') });
    prevHash = r.hash;
    return r;
  });
  const index = new AuditIndex();
  index.apply(records);
  return index;
}

describe('AuditIndex and the production-change export', () => {
  const index = indexOf([
    ...sampleEvents('s'),
    ...promotionEvents({ tag: 't1', sourceSha: S, commitSha: P }),
  ]);

  it('lists the prod change with commit, author, approver, plan digest and apply times', () => {
    const doc = buildExport(index, {
      productionStages: ['prod'],
      auditLog: { records: 34, headSeq: 34, headHash: 'sha256:x' },
      now: new Date('2026-11-27T00:00:00Z'),
    });
    expect(doc.metadata).toMatchObject({ recordCount: 1, generatedAt: '2026-11-27T00:00:00.000Z' });
    expect(doc.changes).toHaveLength(1);
    expect(doc.changes[0]).toMatchObject({
      changeType: 'promotion',
      cluster: 'prod-eu',
      stage: 'prod',
      configCommit: P,
      sourceRevision: S,
      commitAuthor: 'Flotilla Planner <planner@flotilla.invalid>',
      changeAuthor: 'Bob <bob@example.com>',
      approvers: ['user:alice'],
      approvedBeforeDeploy: true,
      approverIsNotAuthor: true,
      planDigest: `sha256:${'c'.repeat(64)}`,
      applyResult: 'succeeded',
      applyStartedAt: '2026-11-26T12:00:06.000Z',
      applyFinishedAt: '2026-11-26T12:00:07.500Z',
      health: 'Current',
    });
    expect(verifyExportHash(doc)).toBe(true);
    expect(verifyExportHash({ ...doc, changes: [] })).toBe(false);
    const csv = toCsv(doc.changes).split('\r\n');
    expect(csv[0]).toContain('configCommit');
    expect(csv[1]).toContain('Bob <bob@example.com>');
    expect(csv[1]).toContain('user:alice');
  });

  it('filters the export by period and counts only production stages', () => {
    const meta = { records: 0, headSeq: 0, headHash: null };
    expect(
      buildExport(index, { productionStages: ['prod'], since: '2026-11-27T00:00:00.000Z', auditLog: meta })
        .changes,
    ).toHaveLength(0);
    expect(
      buildExport(index, { productionStages: ['dev'], auditLog: meta }).changes.map((c) => c.cluster),
    ).toEqual(['dev']);
  });

  it('answers what is where and history filters', () => {
    expect(index.where.get('prod-eu')).toMatchObject({
      stage: 'prod',
      applied: { revision: P },
      health: { status: 'Current' },
    });
    expect(index.history({ stage: 'prod', type: 'ApplySucceeded' }).map((r) => r.cluster)).toEqual([
      'prod-eu',
    ]);
    expect(index.history({ actor: 'user:alice', type: 'PromotionApproved' })).toHaveLength(2);
    expect(index.history({ until: '2026-11-26T11:00:00.000Z' })).toHaveLength(catalog.length);
  });

  it('formats the git note of a config commit', () => {
    const note = formatNote(P, index.deployments.get(P)!.values(), index.promotionForCommit(P));
    expect(note).toContain(
      `cluster=prod-eu stage=prod plan=prod-eu-t1 digest=sha256:${'c'.repeat(64)} result=succeeded`,
    );
    expect(note).toContain('health=Current');
    expect(note).toContain('approved-by=user:alice');
  });

  it('compares approver and author identities across systems', () => {
    expect(approverIsNotAuthor('user:alice', { name: 'Alice', email: 'alice@example.com' })).toBe(false);
    expect(approverIsNotAuthor('user:alice', { name: 'Bob', email: 'bob@example.com' })).toBe(true);
  });
});
