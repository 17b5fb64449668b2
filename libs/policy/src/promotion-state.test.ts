import { describe, expect, it } from 'vitest';
import {
  isOpenPromotion,
  next,
  type PromotionEffect,
  type PromotionInput,
  type PromotionRecord,
  type PromotionStatus,
} from './promotion-state.ts';

const record = (over: Partial<PromotionRecord> = {}): PromotionRecord => ({
  id: 'prod-0123456789abcdef',
  fromStage: 'uat',
  toStage: 'prod',
  revision: 'a'.repeat(40),
  images: [
    {
      name: 'web',
      repository: 'registry.example/shop/web',
      tag: '1.2.3',
      digest: `sha256:${'1'.repeat(64)}`,
    },
  ],
  rule: 'manual',
  status: 'proposed',
  actor: 'service:planner',
  approvedBy: [],
  refusals: [],
  createdAt: '2025-03-05T10:00:00.000Z',
  updatedAt: '2025-03-05T10:00:00.000Z',
  ...over,
});

const types = (effects: PromotionEffect[]) => effects.map((e) => e.type);
const approve = (actor = 'user:carol', stageLocked = false): PromotionInput => ({
  type: 'approve',
  actor,
  stageLocked,
});

describe('next (promotion transitions)', () => {
  // [name, record, input, status after, effects in order]
  const table: Array<[string, Partial<PromotionRecord>, PromotionInput, PromotionStatus, string[]]> = [
    [
      'manual proposal waits for approval',
      {},
      { type: 'advance' },
      'awaiting',
      ['publish-proposed', 'save', 'publish-awaiting'],
    ],
    [
      'auto proposal goes straight to the commit',
      { rule: 'auto' },
      { type: 'advance' },
      'committing',
      ['publish-proposed', 'save', 'commit'],
    ],
    [
      'manual proposal carrying an approval is committed',
      { approvedBy: ['user:carol'] },
      { type: 'advance' },
      'committing',
      ['publish-proposed', 'save', 'commit'],
    ],
    [
      'awaiting re-announces itself on resume',
      { status: 'awaiting' },
      { type: 'advance' },
      'awaiting',
      ['publish-awaiting'],
    ],
    [
      'approved resumes into the commit',
      { status: 'approved', approvedBy: ['user:carol'] },
      { type: 'advance' },
      'committing',
      ['save', 'commit'],
    ],
    [
      'committing resumes the commit',
      { status: 'committing' },
      { type: 'advance' },
      'committing',
      ['commit'],
    ],
    ['committed stays committed', { status: 'committed' }, { type: 'advance' }, 'committed', []],
    [
      'approval records, announces, then commits',
      { status: 'awaiting' },
      approve(),
      'committing',
      ['save', 'publish-approved', 'save', 'commit'],
    ],
    [
      'retried approval of an approved promotion carries on',
      { status: 'approved', approvedBy: ['user:carol'] },
      approve(),
      'committing',
      ['save', 'commit'],
    ],
    [
      'retried approval of a committed promotion answers the same',
      { status: 'committed', approvedBy: ['user:carol'] },
      approve(),
      'committed',
      [],
    ],
    [
      'rejection of an awaiting promotion',
      { status: 'awaiting' },
      { type: 'reject', actor: 'user:carol', reason: 'no' },
      'rejected',
      ['save', 'publish-rejected'],
    ],
    [
      'unauthorised decision is recorded, status unchanged',
      { status: 'awaiting' },
      {
        type: 'refuse',
        actor: 'user:bob',
        reason: 'may not approve promotions into prod',
        at: '2025-03-05T10:01:00.000Z',
      },
      'awaiting',
      ['save', 'publish-rejected'],
    ],
    [
      'a newer proposal replaces an awaiting one',
      { status: 'awaiting' },
      { type: 'supersede', by: 'prod-x' },
      'cancelled',
      ['save'],
    ],
    [
      'a newer proposal does not replace an approved one',
      { status: 'approved' },
      { type: 'supersede', by: 'prod-x' },
      'approved',
      [],
    ],
    [
      'a lock cancels an approved promotion',
      { status: 'approved' },
      { type: 'cancel', reason: 'stage locked by user:alice' },
      'cancelled',
      ['save'],
    ],
    [
      'a lock leaves a finished promotion alone',
      { status: 'rejected' },
      { type: 'cancel', reason: 'locked' },
      'rejected',
      [],
    ],
    [
      'the commit lands',
      { status: 'committing' },
      { type: 'committed', commit: 'c'.repeat(40) },
      'committed',
      ['save', 'publish-committed'],
    ],
    [
      'nothing to commit ends as noop',
      { status: 'committing' },
      { type: 'nothing-to-commit', reason: 'prod already runs these images' },
      'noop',
      ['save'],
    ],
    [
      'a late commit report for a cancelled promotion changes nothing',
      { status: 'cancelled' },
      { type: 'committed', commit: 'c'.repeat(40) },
      'cancelled',
      [],
    ],
  ];
  it.each(table)('%s', (_name, over, input, status, effects) => {
    const before = record(over);
    const frozen = structuredClone(before);
    const step = next(before, input);
    expect(step.record.status).toBe(status);
    expect(types(step.effects)).toEqual(effects);
    expect(step.refused).toBeUndefined();
    expect(before).toEqual(frozen); // pure: the input record is not modified
  });

  const refusals: Array<[string, Partial<PromotionRecord>, PromotionInput, string]> = [
    ['approving a rejected promotion', { status: 'rejected' }, approve(), 'not-awaiting'],
    ['approving into a locked stage', { status: 'awaiting' }, approve('user:carol', true), 'locked'],
    [
      'rejecting a committed promotion',
      { status: 'committed' },
      { type: 'reject', actor: 'user:carol', reason: 'no' },
      'not-awaiting',
    ],
  ];
  it.each(refusals)('refuses %s', (_name, over, input, code) => {
    const before = record(over);
    const step = next(before, input);
    expect(step.refused?.code).toBe(code);
    expect(step.record).toBe(before);
    expect(step.effects).toEqual([]);
  });

  it('names the correlation once, at the proposal, and keeps it', () => {
    const step = next(record(), { type: 'advance' });
    expect(step.effects[0]).toEqual({
      type: 'publish-proposed',
      correlationId: 'prod-0123456789abcdef-proposed',
    });
    expect(step.record.correlationId).toBe('prod-0123456789abcdef-proposed');
    const kept = next(record({ correlationId: 'upstream-corr' }), { type: 'advance' });
    expect(kept.record.correlationId).toBe('upstream-corr');
  });

  it('records who approved, who rejected and why, and refusals with their time', () => {
    const approved = next(record({ status: 'awaiting' }), {
      ...approve(),
      comment: 'ship it',
    } as PromotionInput);
    expect(approved.record.approvedBy).toEqual(['user:carol']);
    expect(approved.effects[1]).toEqual({
      type: 'publish-approved',
      approver: 'user:carol',
      comment: 'ship it',
    });
    const rejected = next(record({ status: 'awaiting' }), {
      type: 'reject',
      actor: 'user:carol',
      reason: 'broken',
    });
    expect(rejected.record).toMatchObject({ rejectedBy: 'user:carol', reason: 'broken' });
    const refused = next(record({ status: 'awaiting' }), {
      type: 'refuse',
      actor: 'user:bob',
      reason: 'may not approve promotions into prod',
      at: '2025-03-05T10:01:00.000Z',
    });
    expect(refused.record.refusals).toEqual([
      { by: 'user:bob', at: '2025-03-05T10:01:00.000Z', reason: 'may not approve promotions into prod' },
    ]);
    expect(refused.effects[1]).toMatchObject({
      reason: 'user:bob may not approve promotions into prod',
      kind: 'unauthorised',
    });
  });

  it('agrees with isOpenPromotion on what is open', () => {
    const all: PromotionStatus[] = [
      'proposed',
      'awaiting',
      'approved',
      'committing',
      'committed',
      'rejected',
      'noop',
      'cancelled',
    ];
    for (const status of all) {
      const cancelled =
        next(record({ status }), { type: 'cancel', reason: 'x' }).record.status === 'cancelled';
      expect(cancelled && status !== 'cancelled').toBe(isOpenPromotion(status));
    }
  });
});
