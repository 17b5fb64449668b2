/**
 * The one backoff: exponential steps from `baseMs`, capped at `maxMs`, with jitter, and a
 * server's Retry-After winning over the computed step. Pure functions (randomness and the clock
 * are parameters) plus a small stateful `Backoff` for retry loops, so every caller waits the same
 * way and the policy is unit-tested without sleeping.
 */

export interface BackoffPolicy {
  /** First step in ms (the delay before the first retry, before jitter). */
  baseMs: number;
  /** Cap for one step in ms. */
  maxMs: number;
  /**
   * Share of each step that is random: the delay is drawn from [step × (1 − jitter), step].
   * 0.5 ("equal jitter", the default) spreads a crowd of retrying clients out while never
   * collapsing to zero delay; 0 is deterministic.
   */
  jitter?: number;
}

/** The un-jittered step before retry `attempt` (0 for the first retry): base × 2^attempt, capped. */
export function backoffStep(attempt: number, policy: Pick<BackoffPolicy, 'baseMs' | 'maxMs'>): number {
  return Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(Math.max(0, attempt), 30));
}

/** The jittered delay before retry `attempt` (0 for the first retry). */
export function backoffDelay(
  attempt: number,
  policy: BackoffPolicy,
  random: () => number = Math.random,
): number {
  const step = backoffStep(attempt, policy);
  const jitter = Math.min(1, Math.max(0, policy.jitter ?? 0.5));
  return Math.round(step * (1 - jitter) + random() * step * jitter);
}

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

/**
 * Delay before the next attempt: the server's Retry-After wins when present (plus a little jitter
 * so a crowd of clients does not return in the same millisecond), else the backoff delay.
 * Undefined when the server asks for longer than `maxRetryAfterMs` (the caller should give up
 * with a `wait` error rather than block).
 */
export function retryDelay(
  attempt: number,
  retryAfterMs: number | undefined,
  policy: BackoffPolicy & { maxRetryAfterMs: number },
  random: () => number = Math.random,
): number | undefined {
  if (retryAfterMs !== undefined) {
    if (retryAfterMs > policy.maxRetryAfterMs) return undefined;
    return retryAfterMs + Math.round(random() * Math.min(250, policy.baseMs));
  }
  return backoffDelay(attempt, policy, random);
}

/** A retry loop's state: `next()` after each failure gives the delay to wait, `reset()` after a success. */
export class Backoff {
  private failures = 0;

  constructor(
    private readonly policy: BackoffPolicy,
    private readonly random: () => number = Math.random,
  ) {}

  /** Consecutive failures so far. */
  get attempts(): number {
    return this.failures;
  }

  /** Records a failure and returns how long to wait before the next attempt (never below Retry-After). */
  next(retryAfterMs?: number): number {
    const delay = backoffDelay(this.failures, this.policy, this.random);
    this.failures++;
    return Math.max(delay, retryAfterMs ?? 0);
  }

  reset(): void {
    this.failures = 0;
  }
}
