import type { Inventory } from '@flotilla/kube';
import { generateSigningKey, type PlanData, signPlan } from '@flotilla/trust';
import { describe, expect, it } from 'vitest';
import { ApplyError } from './apply-error.ts';
import { checkReplay, mustRecordNoop, verifyPlan } from './plan-checks.ts';

const key = generateSigningKey('k1');
const plan = (sequence: number, digest = `sha256:${'a'.repeat(64)}`, epoch?: number): PlanData =>
  signPlan(
    {
      ...(epoch === undefined ? {} : { epoch }),
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
const inv = (sequence: number, planId: string, digest: string, epoch?: number): Inventory => ({
  name: 'i',
  cluster: 'dev',
  sequence,
  ...(epoch === undefined ? {} : { epoch }),
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

  it('orders plans by (epoch, sequence): a new leader or a planner that lost its state is not refused forever', () => {
    const digest = `sha256:${'a'.repeat(64)}`;
    // The planner lost its KV state: sequences restart at 1 under a higher epoch.
    expect(checkReplay(plan(1, digest, 42), inv(57, 'dev-57', digest, 7))).toBe('new');
    // Inventories written before epochs count as epoch 0.
    expect(checkReplay(plan(1, digest, 3), inv(57, 'dev-57', digest))).toBe('new');
    expect(checkReplay(plan(1, digest, 42), inv(1, 'dev-1', digest, 42))).toBe('redelivery');
    // A paused old leader resumes and publishes under its stale epoch: refused, whatever its sequence.
    expect(codeOf(() => checkReplay(plan(900, digest, 7), inv(1, 'dev-1', digest, 42)))).toBe(
      'plan.replayed:true',
    );
    // An epoch is part of the signed plan: changing it breaks the signature.
    const opts = { cluster: 'dev', trustedKeys: [key.trusted], requireSigned: true };
    expect(codeOf(() => verifyPlan({ ...plan(1, digest, 7), epoch: 99 }, opts))).toBe(
      'plan.bad-signature:true',
    );
  });
});

describe('mustRecordNoop: which no-op plans the inventory must record', () => {
  const entries = { 'v1/ConfigMap a/x': { v: 'v1', h: 'h1', m: 'm1' } };
  const recorded = (epoch?: number): Inventory => ({
    ...inv(5, 'dev-5', `sha256:${'a'.repeat(64)}`, epoch),
    revision: 'c'.repeat(40),
    entries,
  });
  const other = `sha256:${'f'.repeat(64)}`;

  it('skips another plan of the same epoch whose objects and live markers equal the inventory', () => {
    expect(mustRecordNoop(plan(6, other), recorded(), 'new', { ...entries })).toBe(false);
    expect(mustRecordNoop(plan(6, other, 3), recorded(3), 'new', { ...entries })).toBe(false);
  });

  it('records a plan further ahead: one in between (a failure retried later) must count as a replay', () => {
    expect(mustRecordNoop(plan(7, other), recorded(), 'new', { ...entries })).toBe(true);
    expect(mustRecordNoop(plan(8, other, 3), recorded(3), 'new', { ...entries })).toBe(true);
  });

  it('skips each next plan after no-ops answered unrecorded; records one past a gap in them', () => {
    // 6 and 7 were answered as no-ops of the recorded objects, not written: 8 follows them.
    expect(mustRecordNoop(plan(8, other), recorded(), 'new', { ...entries }, 7)).toBe(false);
    expect(mustRecordNoop(plan(8, other, 3), recorded(3), 'new', { ...entries }, 7)).toBe(false);
    // 8 not answered so (a failure to be retried): 9 is recorded, so a retry of 8 is a replay.
    expect(mustRecordNoop(plan(9, other), recorded(), 'new', { ...entries }, 7)).toBe(true);
    // A redelivery of an unrecorded one follows nothing answered: recorded.
    expect(mustRecordNoop(plan(7, other), recorded(), 'new', { ...entries }, 7)).toBe(true);
    // The recorded plan outranks a stale run (written since): counted from the inventory.
    expect(mustRecordNoop(plan(6, other), recorded(), 'new', { ...entries }, 3)).toBe(false);
    // A moved marker or a new epoch is recorded whatever came before.
    const e = entries['v1/ConfigMap a/x'];
    expect(
      mustRecordNoop(plan(8, other), recorded(), 'new', { 'v1/ConfigMap a/x': { ...e, m: 'm2' } }, 7),
    ).toBe(true);
    expect(mustRecordNoop(plan(8, other, 4), recorded(3), 'new', { ...entries }, 7)).toBe(true);
  });

  it('records a new epoch: the fencing token must outrank the old planner from then on', () => {
    expect(mustRecordNoop(plan(1, other, 4), recorded(3), 'new', { ...entries })).toBe(true);
    expect(mustRecordNoop(plan(1, other, 1), recorded(), 'new', { ...entries })).toBe(true);
  });

  it('records a moved live marker, a changed hash or apiVersion, and an added or dropped entry', () => {
    const e = entries['v1/ConfigMap a/x'];
    expect(mustRecordNoop(plan(6, other), recorded(), 'new', { 'v1/ConfigMap a/x': { ...e, m: 'm2' } })).toBe(
      true,
    );
    expect(mustRecordNoop(plan(6, other), recorded(), 'new', { 'v1/ConfigMap a/x': { ...e, h: 'h2' } })).toBe(
      true,
    );
    expect(mustRecordNoop(plan(6, other), recorded(), 'new', { 'v1/ConfigMap a/x': { ...e, v: 'v2' } })).toBe(
      true,
    );
    expect(mustRecordNoop(plan(6, other), recorded(), 'new', {})).toBe(true);
    expect(
      mustRecordNoop(plan(6, other), recorded(), 'new', {
        ...entries,
        'v1/ConfigMap a/y': { v: 'v1', h: 'h' },
      }),
    ).toBe(true);
  });

  it('records a plan finishing an interrupted apply, and the first plan of an inventory', () => {
    const applying = { ...recorded(), applying: { planId: 'dev-6', sequence: 6 } };
    expect(mustRecordNoop(plan(6, other), applying, 'new', { ...entries })).toBe(true);
    expect(mustRecordNoop(plan(6, other), applying, 'redelivery', { ...entries })).toBe(true);
    expect(mustRecordNoop(plan(1, other), undefined, 'new', {})).toBe(true);
  });

  it('does not write again for a redelivery of the recorded plan', () => {
    expect(mustRecordNoop(plan(5), recorded(), 'redelivery', { ...entries })).toBe(false);
  });
});
