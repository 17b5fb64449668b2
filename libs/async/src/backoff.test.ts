import { describe, expect, it } from 'vitest';
import { Backoff, backoffDelay, backoffStep, parseRetryAfter, retryDelay } from './backoff.ts';

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-11-20T10:00:00Z');
  it('reads delta-seconds', () => {
    expect(parseRetryAfter('3', now)).toBe(3000);
    expect(parseRetryAfter(' 0 ', now)).toBe(0);
  });
  it('reads HTTP dates relative to now, never negative', () => {
    expect(parseRetryAfter('Fri, 20 Nov 2026 10:00:07 GMT', now)).toBe(7000);
    expect(parseRetryAfter('Fri, 20 Nov 2026 09:59:00 GMT', now)).toBe(0);
  });
  it('ignores junk', () => {
    expect(parseRetryAfter(null, now)).toBeUndefined();
    expect(parseRetryAfter('', now)).toBeUndefined();
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter('-1', now)).toBeUndefined();
  });
});

describe('backoff', () => {
  const policy = { baseMs: 100, maxMs: 1000 };
  it('grows exponentially with jitter in [step/2, step] and is capped', () => {
    expect(backoffDelay(0, policy, () => 0)).toBe(50);
    expect(backoffDelay(0, policy, () => 1)).toBe(100);
    expect(backoffDelay(2, policy, () => 0)).toBe(200);
    expect(backoffDelay(2, policy, () => 1)).toBe(400);
    expect(backoffDelay(10, policy, () => 1)).toBe(1000);
    expect(backoffStep(1000, policy)).toBe(1000);
    for (let i = 0; i < 100; i++) {
      const d = backoffDelay(3, policy);
      expect(d).toBeGreaterThanOrEqual(400);
      expect(d).toBeLessThanOrEqual(800);
    }
  });
  it('jitter 0 is deterministic; jitter 1 may reach zero', () => {
    expect(backoffDelay(1, { ...policy, jitter: 0 }, () => 0.3)).toBe(200);
    expect(backoffDelay(1, { ...policy, jitter: 1 }, () => 0)).toBe(0);
  });
  it('prefers Retry-After, adds small jitter, refuses waits beyond the cap', () => {
    const p = { ...policy, maxRetryAfterMs: 30_000 };
    expect(retryDelay(0, 2000, p, () => 0)).toBe(2000);
    expect(retryDelay(5, 2000, p, () => 1)).toBe(2100);
    expect(retryDelay(0, p.maxRetryAfterMs + 1, p)).toBeUndefined();
    expect(retryDelay(1, undefined, p, () => 0)).toBe(100);
  });
  it('a Backoff counts failures, grows, honours Retry-After and starts over after a success', () => {
    const b = new Backoff({ ...policy, jitter: 0 });
    expect([b.next(), b.next(), b.next()]).toEqual([100, 200, 400]);
    expect(b.attempts).toBe(3);
    expect(b.next(5000)).toBe(5000);
    b.reset();
    expect(b.attempts).toBe(0);
    expect(b.next()).toBe(100);
  });
});
