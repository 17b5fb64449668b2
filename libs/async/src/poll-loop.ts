import { FlotillaError, messageOf } from '@flotilla/errors';
import { backoffStep } from './backoff.ts';

export type Trigger = 'poll' | 'webhook';

/** A failed check, as a watcher reports it (GitSourceFailed, ImageScanFailed). */
export interface CheckFailure {
  code: string;
  message: string;
  /** Retrying cannot fix it (bad credentials): reported at once. */
  stalled: boolean;
  /** The source asked us to wait this long (HTTP 429/503 Retry-After). */
  retryAfterMs?: number;
  /** The error's details (safe for events), e.g. what the source itself answered (`registryCode`). */
  details?: Record<string, unknown>;
}

export interface PollLoopOptions<H> {
  intervalMs: number;
  /** Each wait is the interval × (1 ± jitter/2), so sources configured alike drift apart. */
  jitter: number;
  maxBackoffMs: number;
  /** The first check comes within this long of start: soon, but spread so a failover does not burst. */
  initialDelayMs: number;
  /** The one thing a watcher supplies: look at the source once. Hints say what a webhook named. */
  check(trigger: Trigger, hints: H[]): Promise<void>;
  /** The code of a failure that is not a FlotillaError. */
  unknownCode: string;
  /** An error that is not a failure (another instance took the source over mid-check). */
  ignore?(err: unknown): boolean;
  /** Every failure (metrics, a log line), after its report if any; `failures` counts this one. */
  onFailure?(failure: CheckFailure, failures: number, trigger: Trigger): void;
  /** The first success after failures. */
  onRecovered?(failures: number): void;
  /**
   * A failure worth an event: a new code once it is stalled or has lasted `reportAfter` checks, and
   * the same code again every `remindEveryMs`. A report that throws is tried again on the next failure.
   */
  report?(failure: CheckFailure, failures: number): Promise<void>;
  reportAfter?: number;
  remindEveryMs?: number;
  /** Hints of a failed check to hand to the next one (default: dropped; the next poll finds the change). */
  carry?(hints: H[]): H[];
  /**
   * First retry of a failed check that carries hints: a webhook named something, so it is looked at
   * again soon (doubling per failure) rather than a poll interval later. Default 1 s.
   */
  carriedRetryMs?: number;
  random?: () => number;
  now?: () => number;
}

const DEFAULT_REMIND_MS = 10 * 60_000;

/**
 * A `carry` for hints that count their own attempts: each is tried again up to `max` times, so a
 * hint that makes every check fail cannot hold the loop on its short retry cadence.
 */
export function carryAttempts<H extends { attempt?: number }>(max: number): (hints: H[]) => H[] {
  return (hints) =>
    hints.filter((h) => (h.attempt ?? 0) < max).map((h) => ({ ...h, attempt: (h.attempt ?? 0) + 1 }));
}

/**
 * Delay before the next check: the jittered interval while healthy; after failures an exponential
 * backoff from the interval (capped), or from `carriedRetryMs` when a webhook's hints are waiting
 * for the retry, never sooner than the source's Retry-After.
 */
export function pollDelayMs(
  o: {
    intervalMs: number;
    jitter: number;
    maxBackoffMs: number;
    failures: number;
    retryAfterMs?: number;
    /** Set when the failed check carries hints: back off from this instead of the interval. */
    carriedRetryMs?: number;
  },
  random: () => number = Math.random,
): number {
  const from = Math.min(o.carriedRetryMs ?? o.intervalMs, o.intervalMs);
  const base =
    o.failures === 0 ? o.intervalMs : backoffStep(o.failures - 1, { baseMs: from, maxMs: o.maxBackoffMs });
  const jittered = base * (1 + (random() - 0.5) * o.jitter);
  return Math.round(Math.max(jittered, o.retryAfterMs ?? 0));
}

/** Any thrown value as a failure: a FlotillaError keeps its code, disposition and Retry-After. */
export function toCheckFailure(err: unknown, unknownCode: string): CheckFailure {
  if (err instanceof FlotillaError) {
    const retryAfterMs = err.details.retryAfterMs;
    return {
      code: err.code,
      message: err.message,
      stalled: err.disposition === 'stall',
      ...(typeof retryAfterMs === 'number' ? { retryAfterMs } : {}),
      details: err.details,
    };
  }
  return { code: unknownCode, message: messageOf(err), stalled: false };
}

/**
 * The poll loop of one owned source (a repo, an image). Checks never overlap: a trigger during a
 * check becomes one follow-up check carrying every hint since; while the source asks us to wait
 * (Retry-After), triggers wait for the timer with their hints kept. Failures back off and are
 * reported by one policy for every watcher.
 */
export class PollLoop<H = never> {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private pending: { trigger: Trigger; hints: H[] } | undefined;
  private carried: H[] = [];
  private failureCount = 0;
  private retryAfterMs: number | undefined;
  private reported: { code: string; at: number } | undefined;
  private stopped = false;
  private readonly random: () => number;
  private readonly now: () => number;

  constructor(private readonly o: PollLoopOptions<H>) {
    this.random = o.random ?? Math.random;
    this.now = o.now ?? Date.now;
  }

  get consecutiveFailures(): number {
    return this.failureCount;
  }

  start(): void {
    this.schedule(Math.round(this.random() * this.o.initialDelayMs));
  }

  /** Check now (a webhook). Resolves when the check that covers this trigger has run. */
  trigger(hints: H[] = []): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.pending = { trigger: 'webhook', hints: [...(this.pending?.hints ?? []), ...hints] };
    if (this.running || this.retryAfterMs !== undefined) return this.running ?? Promise.resolve();
    return this.kick();
  }

  /** Stops polling; resolves when a check in flight has finished. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.pending ??= { trigger: this.carried.length > 0 ? 'webhook' : 'poll', hints: [] };
      void this.kick();
    }, ms);
    this.timer.unref?.();
  }

  private kick(): Promise<void> {
    if (this.running) return this.running;
    if (this.stopped) return Promise.resolve();
    clearTimeout(this.timer);
    this.running = this.drain().finally(() => {
      this.running = undefined;
      if (this.stopped) return;
      // A trigger that arrived during the last check runs now, unless the source asked us to wait.
      if (this.pending && this.retryAfterMs === undefined) void this.kick();
      else
        this.schedule(
          pollDelayMs(
            {
              intervalMs: this.o.intervalMs,
              jitter: this.o.jitter,
              maxBackoffMs: this.o.maxBackoffMs,
              failures: this.failureCount,
              ...(this.retryAfterMs !== undefined ? { retryAfterMs: this.retryAfterMs } : {}),
              ...(this.carried.length > 0 ? { carriedRetryMs: this.o.carriedRetryMs ?? 1000 } : {}),
            },
            this.random,
          ),
        );
    });
    return this.running;
  }

  private async drain(): Promise<void> {
    while (this.pending && !this.stopped) {
      const trigger = this.pending.trigger;
      const hints = [...this.carried.splice(0), ...this.pending.hints];
      this.pending = undefined;
      try {
        await this.o.check(trigger, hints);
        if (this.failureCount > 0) this.o.onRecovered?.(this.failureCount);
        this.failureCount = 0;
        this.retryAfterMs = undefined;
        this.reported = undefined;
      } catch (err) {
        if (this.o.ignore?.(err)) continue;
        await this.fail(toCheckFailure(err, this.o.unknownCode), trigger);
        // Bounded by the watcher: whatever made this check fail must not make every later one fail.
        this.carried.push(...(this.o.carry?.(hints) ?? []));
        break;
      }
    }
  }

  private async fail(failure: CheckFailure, trigger: Trigger): Promise<void> {
    this.failureCount++;
    this.retryAfterMs = failure.retryAfterMs;
    await this.reportIfDue(failure);
    // After the report: a counter advanced here means the event is out.
    this.o.onFailure?.(failure, this.failureCount, trigger);
  }

  private async reportIfDue(failure: CheckFailure): Promise<void> {
    if (!this.o.report) return;
    const now = this.now();
    const last = this.reported;
    const due =
      last?.code !== failure.code
        ? failure.stalled || this.failureCount >= (this.o.reportAfter ?? 1)
        : now - last.at >= (this.o.remindEveryMs ?? DEFAULT_REMIND_MS);
    if (!due) return;
    try {
      await this.o.report(failure, this.failureCount);
      this.reported = { code: failure.code, at: now };
    } catch {
      // The watcher logs it; the next failure tries again.
    }
  }
}
