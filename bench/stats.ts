import { cpus, loadavg } from 'node:os';

// The figures and lines bench reports share, so two reports that say "p50" or "median" mean the
// same number.

/** The median: the middle value, or the mean of the two middle values of an even count. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/** Nearest-rank percentile: the smallest sample with at least `p` % of the samples at or below it. */
export function percentile(xs: readonly number[], p: number): number {
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
