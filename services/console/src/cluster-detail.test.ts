import { describe, expect, it } from 'vitest';
import type { AuditRecordWire } from './audit-client.ts';
import { clusterDetail, heldObjects } from './cluster-detail.ts';

const rec = (seq: number, event: string, data: Record<string, unknown>): AuditRecordWire => ({
  seq,
  id: `e${seq}`,
  type: `io.flotilla.${event}`,
  event,
  time: new Date(Date.UTC(2026, 10, 30, 4, 0, seq)).toISOString(),
  recordedAt: new Date(Date.UTC(2026, 10, 30, 4, 0, seq)).toISOString(),
  source: 'flotilla://planner/x',
  actor: 'service:planner',
  correlationid: 'c',
  data,
  hash: `sha256:${seq}`,
});

const held = (seq: number, changeId: string, diff: Record<string, string[]>) =>
  rec(seq, 'ChangeAwaitingApproval', {
    changeId,
    stage: 'prod',
    cluster: 'prod',
    revision: `${seq}`.repeat(40).slice(0, 40),
    fromRevision: 'a'.repeat(40),
    bundleDigest: `sha256:${'b'.repeat(64)}`,
    diff,
    commits: [
      { commit: 'c'.repeat(40), author: { name: 'Mallory', email: 'mallory@example.com' } },
      { commit: 'd'.repeat(40), author: { name: 'Mallory', email: 'mallory@example.com' } },
    ],
    approvers: ['alice', 'group:release-managers'],
  });

describe('held changes on the cluster page', () => {
  it('one row per object, sorted, saying what approving would do', () => {
    expect(
      heldObjects({
        added: ['v1/ConfigMap shop/flags'],
        removed: ['batch/CronJob shop/old'],
        changed: ['apps/Deployment shop/web'],
      }),
    ).toEqual([
      { object: 'apps/Deployment shop/web', change: 'changed' },
      { object: 'batch/CronJob shop/old', change: 'removed' },
      { object: 'v1/ConfigMap shop/flags', change: 'added' },
    ]);
    expect(heldObjects(undefined)).toEqual([]);
  });

  it('lists open changes newest first with authors, approvers and refusals; an approved one leaves', () => {
    const detail = clusterDetail('prod', [
      held(1, 'prod-c-1', { added: [], removed: [], changed: ['apps/Deployment shop/web'] }),
      held(2, 'prod-c-2', { added: ['v1/ConfigMap shop/flags'], removed: [], changed: [] }),
      rec(3, 'ChangeApprovalRefused', {
        changeId: 'prod-c-2',
        stage: 'prod',
        cluster: 'prod',
        by: 'user:mallory',
        code: 'separation-of-duties',
        reason: 'user:mallory authored or committed this change',
      }),
      rec(4, 'ChangeApproved', { changeId: 'prod-c-1', stage: 'prod', cluster: 'prod' }),
      // Another cluster's change is not this page's.
      { ...held(5, 'dev-c-1', { changed: ['x'] }), data: { changeId: 'dev-c-1', cluster: 'dev' } },
    ]);
    expect(detail.held).toHaveLength(1);
    expect(detail.held[0]).toMatchObject({
      changeId: 'prod-c-2',
      stage: 'prod',
      objects: [{ object: 'v1/ConfigMap shop/flags', change: 'added' }],
      authors: ['mallory@example.com'],
      approvers: ['alice', 'group:release-managers'],
      refusals: [{ by: 'user:mallory', code: 'separation-of-duties' }],
    });
  });
});

describe('last apply on the cluster page', () => {
  it('shows what the apiserver warned of with the apply that carried it; the next apply without warnings clears them', () => {
    const succeeded = (seq: number, warnings?: { object: string; message: string }[]) =>
      rec(seq, 'ApplySucceeded', {
        cluster: 'dev',
        planId: `dev-${seq}`,
        counts: { total: 2, applied: 2, unchanged: 0, pruned: 0 },
        durationMs: 40,
        ...(warnings ? { warnings } : {}),
      });
    const warning = {
      object: 'apps/Deployment shop/legacy',
      message:
        'spec.template.spec.nodeSelector[beta.kubernetes.io/os]: deprecated since v1.14; use "kubernetes.io/os" instead',
    };
    expect(clusterDetail('dev', [succeeded(1, [warning])]).apply?.warnings).toEqual([warning]);
    expect(clusterDetail('dev', [succeeded(1, [warning]), succeeded(2)]).apply).not.toHaveProperty(
      'warnings',
    );
  });
});
