import { describe, expect, it } from 'vitest';
import type { AuditRecordWire } from './audit-client.ts';
import { leadTimes } from './lead-time.ts';

let seq = 0;
const at = (s: number) => new Date(Date.UTC(2026, 10, 26, 10, 0, 0) + s * 1000).toISOString();
const r = (event: string, t: number, data: Record<string, unknown>): AuditRecordWire => ({
  seq: ++seq,
  id: `e${seq}`,
  type: event,
  event,
  time: at(t),
  recordedAt: at(t),
  source: 's',
  actor: 'a',
  correlationid: 'c',
  data,
  hash: 'h',
});
const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;
const clusters = new Map([
  ['dev', 'dev'],
  ['prod-eu', 'prod'],
]);

describe('leadTimes', () => {
  it('measures push → first successful apply of the commit that brought the digest, per stage', () => {
    const records = [
      r('ImageTagDetected', 0, { image: 'r/web', tag: '1.4.7', digest: D1 }),
      r('ImageUpdateCommitted', 2, { stage: 'dev', image: 'r/web', tag: '1.4.7', digest: D1, commit: 'c1' }),
      // An apply of an older revision in dev does not count.
      r('ApplySucceeded', 3, { cluster: 'dev', revision: 'c0' }),
      r('ApplySucceeded', 5, { cluster: 'dev', revision: 'c1' }),
      r('ApplySucceeded', 6, { cluster: 'dev', revision: 'c1' }),
      r('PromotionCommitted', 60, { toStage: 'prod', commit: 'c2', images: [{ digest: D1 }] }),
      r('ApplyFailed', 61, { cluster: 'prod-eu', code: 'apply.forbidden' }),
      r('ApplySucceeded', 90, { cluster: 'prod-eu', revision: 'c2' }),
      // A push the policy never took reaches no stage and is left out.
      r('ImageTagDetected', 100, { image: 'r/web', tag: '2.0.0', digest: D2 }),
      r('RollbackCommitted', 120, { stage: 'prod', toRevision: 'c0ffee00000000', by: 'user:alice' }),
      r('HealthChanged', 130, { cluster: 'dev', status: 'degraded' }),
    ];
    const out = leadTimes(records.reverse(), clusters, ['dev', 'prod']);
    expect(out.stages).toEqual(['dev', 'prod']);
    expect(out.releases).toEqual([
      {
        digest: D1,
        image: 'r/web',
        tag: '1.4.7',
        pushedAt: at(0),
        stages: { dev: { at: at(5), leadMs: 5000 }, prod: { at: at(90), leadMs: 90_000 } },
      },
    ]);
    expect(out.markers.map((m) => [m.kind, m.stage, m.detail])).toEqual([
      ['apply-failed', 'prod', 'prod-eu: apply.forbidden'],
      ['rollback', 'prod', 'rolled back to c0ffee000000 by user:alice'],
      ['degraded', 'dev', 'dev degraded'],
    ]);
  });

  it('ignores an apply in a cluster of another stage than the commit was for', () => {
    const records = [
      r('ImageTagDetected', 0, { image: 'r/web', tag: '1', digest: D1 }),
      r('ImageUpdateCommitted', 1, { stage: 'dev', digest: D1, commit: 'c1' }),
      r('ApplySucceeded', 2, { cluster: 'prod-eu', revision: 'c1' }),
    ];
    expect(leadTimes(records, clusters, ['dev', 'prod']).releases).toEqual([]);
  });
});
