/**
 * Go-style durations (`30s`, `5m`, `1h30m`, `1.5h`, `250ms`), the format Flux and Kargo users
 * already write for intervals and soak times. Days are deliberately absent (as in Go): a
 * "day" is ambiguous across DST changes, `24h` is not.
 */
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const WHOLE = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h))+$/;
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;

/** Milliseconds, or null when `text` is not a duration. `0` alone is accepted (no wait). */
export function parseDuration(text: string): number | null {
  if (typeof text !== 'string') return null;
  if (text === '0') return 0;
  if (!WHOLE.test(text)) return null;
  let total = 0;
  for (const [, n, unit] of text.matchAll(PART)) total += Number(n) * (UNIT_MS[unit as string] as number);
  return Number.isFinite(total) ? Math.round(total) : null;
}
