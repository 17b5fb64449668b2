import { describe, expect, it } from 'vitest';
import { median, percentile, percentileCells } from './stats.ts';

// Fixtures for the one definition every bench reports with; a bench's "median" or "p99" is only
// comparable to another's if these hold.
describe('median', () => {
  it('is the middle value of an odd count, whatever the order', () => {
    expect(median([9, 1, 5])).toBe(5);
    expect(median([7])).toBe(7);
  });

  it('is the mean of the two middle values of an even count (not the upper one)', () => {
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([10, 20])).toBe(15);
  });

  it('is NaN for no samples, not a plausible 0', () => {
    expect(median([])).toBeNaN();
  });

  it('leaves its input unsorted', () => {
    const xs = [3, 1, 2];
    median(xs);
    expect(xs).toEqual([3, 1, 2]);
  });
});

describe('percentile (nearest rank)', () => {
  const hundred = Array.from({ length: 100 }, (_, i) => 100 - i); // 100 down to 1: unsorted input

  it('is the sample at rank ⌈p/100 · n⌉', () => {
    expect(percentile(hundred, 50)).toBe(50);
    expect(percentile(hundred, 90)).toBe(90);
    expect(percentile(hundred, 99)).toBe(99);
    expect(percentile([15, 20, 35, 40, 50], 30)).toBe(20);
    expect(percentile([15, 20, 35, 40, 50], 40)).toBe(20);
    expect(percentile([15, 20, 35, 40, 50], 41)).toBe(35);
  });

  it('is always one of the samples: p50 of an even count is the lower middle value', () => {
    expect(percentile([1, 2, 3, 4], 50)).toBe(2);
    expect(median([1, 2, 3, 4])).toBe(2.5);
  });

  it('is the minimum at p0 and the maximum at p100', () => {
    expect(percentile([3, 1, 2], 0)).toBe(1);
    expect(percentile([3, 1, 2], 100)).toBe(3);
  });

  it('is NaN for no samples', () => {
    expect(percentile([], 99)).toBeNaN();
  });

  it('formats report cells from the same definition', () => {
    expect(percentileCells(hundred)).toBe('50.0 ms | 90.0 ms | 99.0 ms');
  });
});
