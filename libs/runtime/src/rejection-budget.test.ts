import { describe, expect, it } from 'vitest';
import { RejectionBudget } from './index.ts';

describe('RejectionBudget', () => {
  it('admits `limit` per key per minute, then reports how many it held back when the next window opens', () => {
    let now = 0;
    const budget = new RejectionBudget(2, () => now);
    const first = Array.from({ length: 5 }, () => budget.take('401').admitted);
    expect(first).toEqual([true, true, false, false, false]);
    // Another key has its own window.
    expect(budget.take('403').admitted).toBe(true);
    now = 59_999;
    expect(budget.take('401')).toEqual({ admitted: false, suppressedBefore: 0 });
    now = 60_000;
    expect(budget.take('401')).toEqual({ admitted: true, suppressedBefore: 4 });
  });

  it('a limit of 0 publishes nothing', () => {
    const budget = new RejectionBudget(0, () => 0);
    expect(budget.take('k').admitted).toBe(false);
  });
});
