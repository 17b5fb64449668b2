import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadPipeline } from './parse-pipeline.ts';
import { type ClusterHealth, evaluatePromotion, type PromotionInput } from './promotion.ts';

const pipeline = loadPipeline(
  readFileSync(new URL('./fixtures/pipelines/shop.yaml', import.meta.url), 'utf8'),
);
const REV = 'a'.repeat(40);
const OTHER = 'b'.repeat(40);
// Wednesday 2025-03-05 10:00 UTC = 11:00 in Berlin: inside prod's window.
const NOW = new Date('2025-03-05T10:00:00Z');
const ago = (ms: number) => new Date(NOW.getTime() - ms);

const healthy = (cluster: string, since: Date = ago(3_600_000), revision = REV): ClusterHealth => ({
  cluster,
  revision,
  status: 'healthy',
  healthySince: since,
});

const input = (over: Partial<PromotionInput>): PromotionInput => ({
  pipeline,
  stage: 'test',
  upstreamHealth: [healthy('dev')],
  now: NOW,
  locked: false,
  ...over,
});

describe('evaluatePromotion', () => {
  it('proposes auto promotion once the upstream soaked', () => {
    expect(evaluatePromotion(input({}))).toEqual({ action: 'propose', rule: 'auto', revision: REV });
  });

  it('waits while soaking and says when to retry', () => {
    const d = evaluatePromotion(input({ upstreamHealth: [healthy('dev', ago(10_000))] }));
    expect(d).toMatchObject({ action: 'wait', code: 'soaking' });
    expect(d.action === 'wait' && d.retryAt?.toISOString()).toBe('2025-03-05T10:00:20.000Z');
  });

  it('counts soak from the last upstream cluster to become healthy', () => {
    const d = evaluatePromotion(
      input({
        stage: 'prod',
        upstreamHealth: [healthy('uat-eu', ago(7_200_000)), healthy('uat-us', ago(1_800_000))],
      }),
    );
    // uat → prod has no soak of its own, so it proposes; uat's own 1h30m soak applies to uat.
    expect(d).toEqual({ action: 'propose', rule: 'manual', revision: REV });
    const uat = evaluatePromotion(input({ stage: 'uat', upstreamHealth: [healthy('test', ago(5_000_000))] }));
    expect(uat).toMatchObject({
      action: 'wait',
      code: 'soaking',
      retryAt: new Date(NOW.getTime() + 400_000),
    });
  });

  it('needs every upstream cluster healthy on the same revision', () => {
    expect(evaluatePromotion(input({ stage: 'prod', upstreamHealth: [healthy('uat-eu')] }))).toMatchObject({
      action: 'wait',
      code: 'upstream-unreported',
      reason: expect.stringContaining('uat-us'),
    });
    expect(
      evaluatePromotion(
        input({
          stage: 'prod',
          upstreamHealth: [healthy('uat-eu'), healthy('uat-us', ago(3_600_000), OTHER)],
        }),
      ),
    ).toMatchObject({ action: 'wait', code: 'upstream-revision-mismatch' });
    expect(
      evaluatePromotion(
        input({
          stage: 'prod',
          upstreamHealth: [healthy('uat-eu'), { cluster: 'uat-us', revision: REV, status: 'progressing' }],
        }),
      ),
    ).toMatchObject({
      action: 'wait',
      code: 'upstream-not-healthy',
      reason: expect.stringContaining('uat-us is progressing'),
    });
  });

  it('a degraded upstream blocks', () => {
    expect(
      evaluatePromotion(input({ upstreamHealth: [{ cluster: 'dev', revision: REV, status: 'degraded' }] })),
    ).toMatchObject({ action: 'blocked', code: 'upstream-degraded' });
  });

  it('ignores reports from clusters outside the upstream stage', () => {
    expect(
      evaluatePromotion(input({ upstreamHealth: [healthy('dev'), healthy('prod-eu', NOW, OTHER)] })),
    ).toMatchObject({
      action: 'propose',
    });
  });

  it('locked blocks before anything else', () => {
    expect(evaluatePromotion(input({ locked: true, upstreamHealth: [] }))).toMatchObject({
      action: 'blocked',
      code: 'locked',
    });
  });

  it('the first stage and unknown stages are not promotion targets', () => {
    expect(evaluatePromotion(input({ stage: 'dev' }))).toMatchObject({
      action: 'blocked',
      code: 'no-upstream',
    });
    expect(evaluatePromotion(input({ stage: 'staging' }))).toMatchObject({
      action: 'blocked',
      code: 'unknown-stage',
    });
  });

  it('manual stages propose with rule manual inside the window, and wait outside it', () => {
    const upstream = [healthy('uat-eu'), healthy('uat-us')];
    expect(evaluatePromotion(input({ stage: 'prod', upstreamHealth: upstream }))).toEqual({
      action: 'propose',
      rule: 'manual',
      revision: REV,
    });
    // Friday 10:00 UTC: outside; next window Monday 09:00 Berlin.
    const friday = new Date('2025-03-07T10:00:00Z');
    const d = evaluatePromotion(input({ stage: 'prod', upstreamHealth: upstream, now: friday }));
    expect(d).toMatchObject({
      action: 'wait',
      code: 'outside-window',
      retryAt: new Date('2025-03-10T08:00:00Z'),
    });
  });

  it('cannot count soak without healthySince', () => {
    expect(
      evaluatePromotion(input({ upstreamHealth: [{ cluster: 'dev', revision: REV, status: 'healthy' }] })),
    ).toMatchObject({
      action: 'wait',
      code: 'soak-unknown',
    });
  });

  it('never proposes before the soak has elapsed for every cluster (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -60_000, max: 4 * 3_600_000 }),
        fc.constantFrom<ClusterHealth['status']>('healthy', 'progressing', 'degraded', 'unknown'),
        fc.boolean(),
        (healthyFor, status, locked) => {
          const upstreamHealth: ClusterHealth[] = [{ ...healthy('test', ago(healthyFor)), status }];
          const d = evaluatePromotion(input({ stage: 'uat', upstreamHealth, locked }));
          if (d.action === 'propose') return !locked && status === 'healthy' && healthyFor >= 5_400_000;
          if (d.action === 'wait' && d.retryAt) return d.retryAt.getTime() > NOW.getTime();
          return d.action === 'blocked' ? locked || status === 'degraded' : true;
        },
      ),
    );
  });
});
