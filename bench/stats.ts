import { cpus, loadavg } from 'node:os';

// The one definition of the figures bench reports share, so that two reports saying "median" or
// "p99" mean the same number. Every bench under bench/ imports these rather than its own copy
// (copies had drifted: some took the upper of the two middle values as the median).

/**
 * The median: the middle value of an odd count, the mean of the two middle values of an even
 * count (the conventional definition). NaN for no samples, so an empty series shows as NaN in a
 * report rather than as a plausible 0.
 */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/**
 * Nearest-rank percentile, `p` in 0–100: the smallest sample with at least `p` % of the samples
 * at or below it (the sample at rank ⌈p/100 · n⌉; p = 0 gives the minimum). Always one of the
 * samples, never an interpolation, so p50 of an even count is the lower middle value and may
 * differ from `median`. NaN for no samples.
 */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] as number;
}

/** `n` with `digits` decimals (one by default). */
export const fmt = (n: number, digits = 1): string => n.toFixed(digits);

/** Table cells `p50 ms | p90 ms | …` of latencies in ms. */
export const percentileCells = (ms: readonly number[], ps: readonly number[] = [50, 90, 99]): string =>
  ps.map((p) => `${fmt(percentile(ms, p))} ms`).join(' | ');

/** "N cores, load average at the end a / b / c": what every report says of the machine it ran on. */
export const machineLine = (): string =>
  `${cpus().length} cores, load average at the end ${loadavg()
    .map((l) => fmt(l))
    .join(' / ')}`;
