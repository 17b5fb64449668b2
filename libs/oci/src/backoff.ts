/**
 * Retry-After parsing and backoff. Pure functions (the clock and randomness are parameters),
 * so the policy is unit-tested without sleeping.
 */

/** Retry-After is either delta-seconds or an HTTP date; returns milliseconds, or undefined if unusable. */
export function parseRetryAfter(
  value: string | null | undefined,
  now: number = Date.now(),
): number | undefined {
  if (value == null) return undefined;
  const v = value.trim();
  if (v === '') return undefined;
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  // HTTP dates always name a month; this keeps Date.parse from reading "-1" as a year.
  if (!/[a-z]{3}/i.test(v)) return undefined;
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

export interface BackoffPolicy {
  /** Total attempts including the first (default 4). */
  attempts: number;
  /** First backoff step in ms (default 250). */
  baseDelayMs: number;
  /** Cap for one computed backoff step (default 8 s). */
  maxDelayMs: number;
  /** Longest Retry-After we are willing to sleep inside one call (default 30 s); longer → error with `wait`. */
  maxRetryAfterMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = {
  attempts: 4,
  baseDelayMs: 250,
  maxDelayMs: 8000,
  maxRetryAfterMs: 30_000,
};

/**
 * Exponential backoff with "equal jitter": half the step is fixed, half random, so retries of many
 * watchers spread out but never collapse to zero delay. `attempt` is 0 for the first retry.
 */
export function backoffDelay(
  attempt: number,
  policy: BackoffPolicy,
  random: () => number = Math.random,
): number {
  const step = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt));
  return Math.round(step / 2 + random() * (step / 2));
}

/**
 * Delay before the next attempt: the server's Retry-After wins when present (plus a little jitter
 * so a crowd of clients does not return in the same millisecond), else computed backoff.
 * Returns undefined when the server asks for longer than we are willing to block.
 */
export function retryDelay(
  attempt: number,
  retryAfterMs: number | undefined,
  policy: BackoffPolicy,
  random: () => number = Math.random,
): number | undefined {
  if (retryAfterMs !== undefined) {
    if (retryAfterMs > policy.maxRetryAfterMs) return undefined;
    return retryAfterMs + Math.round(random() * Math.min(250, policy.baseDelayMs));
  }
  return backoffDelay(attempt, policy, random);
}
