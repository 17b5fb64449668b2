import { describe, expect, it } from 'vitest';
import type { AuditRecord } from './chain.ts';
import { GapTracker, initialFloor } from './gaps.ts';

const rec = (seq: number, streamSeq?: number, extra: Partial<AuditRecord> = {}): AuditRecord =>
  ({
    seq,
    id: `e${seq}`,
    event: 'StageLockChanged',
    data: {},
    ...(streamSeq ? { streamSeq } : {}),
    ...extra,
  }) as AuditRecord;

describe('GapTracker', () => {
  it('keeps a floor under contiguous sequences and lists the holes above it', () => {
    const t = new GapTracker(0, 'audit');
    for (const s of [1, 2, 3, 6, 7, 10]) t.account(s);
    expect(t.floor).toBe(3);
    expect(t.holes(12)).toEqual([
      { from: 4, to: 5 },
      { from: 8, to: 9 },
      { from: 11, to: 12 },
    ]);
    expect(t.holes(5)).toEqual([{ from: 4, to: 5 }]);
    t.accountRange(4, 5);
    expect(t.floor).toBe(7);
    t.accountRange(8, 9);
    expect(t.floor).toBe(10);
    expect(t.pending).toBe(0);
    expect(t.holes(10)).toEqual([]);
  });

  it('reads recorded sequences, reported gaps and our own dead letters from records', () => {
    const t = new GapTracker(0, 'audit');
    t.apply([
      rec(1, 1),
      rec(2, undefined, { event: 'AuditGapDetected', data: { fromSeq: 2, toSeq: 4 } }),
      rec(3, 6),
      rec(4, 7, { event: 'DeadLettered', data: { consumer: 'audit', streamSequence: 5 } }),
      rec(5, 9, { event: 'DeadLettered', data: { consumer: 'planner', streamSequence: 8 } }),
    ]);
    expect(t.floor).toBe(7);
    expect(t.holes(9)).toEqual([{ from: 8, to: 8 }]);
  });

  it('resumes from 0 for a log recorded with stream sequences, below the lowest for a legacy one', () => {
    expect(initialFloor([])).toBe(0);
    expect(initialFloor([rec(1, 40), rec(2, 39)])).toBe(0);
    expect(initialFloor([rec(1), rec(2, 41), rec(3, 40)])).toBe(39);
    expect(initialFloor([rec(1), rec(2)])).toBeUndefined();
  });
});
