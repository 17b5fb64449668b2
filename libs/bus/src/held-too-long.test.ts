import { describe, expect, it } from 'vitest';
import { heldTooLong } from './consumer.ts';

describe('heldTooLong', () => {
  const o = { maxDeliver: 8, backoffMs: [500, 2000, 5000, 15_000], maxHeldMs: 24 * 3600_000 };

  it('counts only deliveries past maxDeliver, each at the last backoff step', () => {
    expect(heldTooLong(8, o)).toBe(false);
    expect(heldTooLong(8 + 5759, o)).toBe(false); // 5759 × 15 s < 24 h
    expect(heldTooLong(8 + 5760, o)).toBe(true); // 5760 × 15 s = 24 h
  });

  it('a zero hold dead-letters at maxDeliver, as without holding', () => {
    expect(heldTooLong(8, { ...o, maxHeldMs: 0 })).toBe(true);
  });
});
