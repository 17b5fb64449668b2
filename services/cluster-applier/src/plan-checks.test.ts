import type { Inventory } from '@flotilla/kube';
import { generateSigningKey, type PlanData, signPlan } from '@flotilla/trust';
import { describe, expect, it } from 'vitest';
import { ApplyError } from './apply-error.ts';
import { checkReplay, verifyPlan } from './plan-checks.ts';

const key = generateSigningKey('k1');
const plan = (sequence: number, digest = `sha256:${'a'.repeat(64)}`): PlanData =>
  signPlan(
    {
      planId: `dev-${sequence}`,
      cluster: 'dev',
      stage: 'dev',
      repo: 'config',
      revision: 'b'.repeat(40),
      path: 'clusters/dev',
      sequence,
      bundle: { digest, size: 1, objects: 1, bucket: 'flotilla-bundles' },
      createdAt: '2026-11-26T00:00:00.000Z',
    },
    key.signing,
  );
const inv = (sequence: number, planId: string, digest: string): Inventory => ({
  name: 'i',
  cluster: 'dev',
  sequence,
  planId,
  digest,
  entries: {},
});
const codeOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return err instanceof ApplyError ? `${err.code}:${err.nothingApplied}` : 'other';
  }
  return 'ok';
};

describe('plan checks', () => {
  const opts = { cluster: 'dev', trustedKeys: [key.trusted], requireSigned: true };

  it('accepts a plan signed by a trusted key, refuses others with the reason', () => {
    expect(codeOf(() => verifyPlan(plan(1), opts))).toBe('ok');
    const { signature: _s, ...unsigned } = plan(1);
    expect(codeOf(() => verifyPlan(unsigned, opts))).toBe('plan.unsigned:true');
    expect(codeOf(() => verifyPlan({ ...plan(1), sequence: 7 }, opts))).toBe('plan.bad-signature:true');
    expect(codeOf(() => verifyPlan(plan(1), { ...opts, trustedKeys: [] }))).toBe('plan.unknown-key:true');
    expect(codeOf(() => verifyPlan(plan(1), { ...opts, cluster: 'prod' }))).toBe('plan.wrong-cluster:true');
    expect(codeOf(() => verifyPlan(unsigned, { ...opts, requireSigned: false }))).toBe('ok');
  });

  it('newer plans are new, the same plan again is a redelivery, anything older is a replay', () => {
    const p = plan(5);
    expect(checkReplay(p, undefined)).toBe('new');
    expect(checkReplay(p, inv(4, 'dev-4', p.bundle.digest))).toBe('new');
    expect(checkReplay(p, inv(5, 'dev-5', p.bundle.digest))).toBe('redelivery');
    expect(codeOf(() => checkReplay(p, inv(6, 'dev-6', p.bundle.digest)))).toBe('plan.replayed:true');
    // Same sequence, other content: not the plan we applied.
    expect(
      codeOf(() => checkReplay(plan(5, `sha256:${'c'.repeat(64)}`), inv(5, 'dev-5', p.bundle.digest))),
    ).toBe('plan.replayed:true');
  });
});
