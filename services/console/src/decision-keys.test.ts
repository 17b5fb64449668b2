import { describe, expect, it } from 'vitest';
import { DecisionKeys, decisionAction, IDEMPOTENCY_KEY } from './decision-keys.ts';

describe('decision keys on the console page', () => {
  let n = 0;
  const keys = () => new DecisionKeys(() => `key-${++n}`);

  it('one key per decision, reused by its retries while the outcome is unknown', () => {
    const k = keys();
    const approve = decisionAction('approve', 'prod-1', 'looks good');
    const first = k.keyFor(approve);
    k.settled('unknown');
    expect(k.keyFor(approve)).toBe(first);
    k.settled('unknown');
    expect(k.keyFor(approve)).toBe(first);
    expect(first).toMatch(IDEMPOTENCY_KEY);
  });

  it('a new key once the decision was answered, or for another decision', () => {
    const k = keys();
    const approve = decisionAction('approve', 'prod-1', '');
    const first = k.keyFor(approve);
    k.settled('answered');
    const second = k.keyFor(approve);
    expect(second).not.toBe(first);
    // Another verb, promotion or comment is another decision.
    k.settled('unknown');
    expect(k.keyFor(decisionAction('reject', 'prod-1', ''))).not.toBe(second);
    expect(k.keyFor(decisionAction('reject', 'prod-2', ''))).not.toBe(second);
    const withText = k.keyFor(decisionAction('reject', 'prod-2', 'no'));
    expect(new Set([first, second, withText]).size).toBe(3);
  });
});
