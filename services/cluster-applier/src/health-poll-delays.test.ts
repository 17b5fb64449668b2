import { describe, expect, it } from 'vitest';
import { healthPollDelays } from './steps.ts';

describe('healthPollDelays', () => {
  it('checks soon after the apply, then doubles up to pollMs and stays there', () => {
    const delay = healthPollDelays(2000);
    expect([0, 1, 2, 3, 4, 5, 6, 20].map(delay)).toEqual([100, 200, 400, 800, 1600, 2000, 2000, 2000]);
  });

  it('never waits longer than pollMs, even when pollMs is below the first delay', () => {
    expect([0, 1, 5].map(healthPollDelays(50))).toEqual([50, 50, 50]);
    expect([0, 1, 2, 3].map(healthPollDelays(500))).toEqual([100, 200, 400, 500]);
  });

  it('stays finite for any number of attempts (no overflow into Infinity or NaN)', () => {
    expect(healthPollDelays(2000)(10_000)).toBe(2000);
  });
});
