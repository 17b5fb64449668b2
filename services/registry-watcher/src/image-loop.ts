import { messageOf } from '@flotilla/errors';
import { isOciError } from '@flotilla/oci';
import type { CheckResult, Trigger } from './image-checker.ts';
import type { TagHint } from './tag-diff.ts';
import type { WatchedImage } from './watched-image.ts';

const MAX_HINT_ATTEMPTS = 4;

export interface CheckFailure {
  code: string;
  message: string;
  retryAfterMs?: number;
}

export interface LoopOptions {
  image: WatchedImage;
  jitter: number;
  maxBackoffMs: number;
  /** First check after acquiring the lease: soon, but spread so a failover does not burst. */
  initialDelayMs: number;
  /** Runs one check, holding the registry's concurrency slot. */
  run(trigger: Trigger, hints: TagHint[]): Promise<CheckResult>;
  onSuccess(result: CheckResult, trigger: Trigger): void | Promise<void>;
  /** `failures` counts consecutive failures including this one. */
  onFailure(failure: CheckFailure, failures: number, trigger: Trigger): void | Promise<void>;
  random?: () => number;
}

/** Classify anything a check throws into the code/message/retryAfter an ImageScanFailed carries. */
export function toFailure(err: unknown): CheckFailure {
  if (isOciError(err)) {
    return {
      code: err.code,
      message: err.message,
      ...(err.details.retryAfterMs !== undefined ? { retryAfterMs: err.details.retryAfterMs } : {}),
    };
  }
  const code = (err as { code?: unknown })?.code;
  return { code: typeof code === 'string' ? code : 'INTERNAL', message: messageOf(err) };
}

/**
 * Delay before the next check: the interval with jitter when healthy; after failures an
 * exponential backoff from the interval (capped), never sooner than the registry's Retry-After.
 */
export function nextDelay(
  intervalMs: number,
  failures: number,
  opts: { jitter: number; maxBackoffMs: number; retryAfterMs?: number | undefined },
  random: () => number = Math.random,
): number {
  const base =
    failures === 0 ? intervalMs : Math.min(opts.maxBackoffMs, intervalMs * 2 ** Math.min(failures - 1, 20));
  const jittered = base * (1 + opts.jitter * (random() - 0.5));
  return Math.round(Math.max(jittered, opts.retryAfterMs ?? 0));
}

/**
 * The poll loop of one owned image. Checks never overlap: a webhook trigger during a check is
 * coalesced into one follow-up check carrying all hints.
 */
export class ImageLoop {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private pending: { trigger: Trigger; hints: TagHint[] } | undefined;
  private failures = 0;
  private retryAfterMs: number | undefined;
  /** Hints of failed checks, handed to the next one. */
  private readonly carried: TagHint[] = [];
  private stopped = false;

  constructor(private readonly opts: LoopOptions) {}

  get image(): WatchedImage {
    return this.opts.image;
  }

  start(): void {
    const random = this.opts.random ?? Math.random;
    this.schedule(Math.round(random() * this.opts.initialDelayMs));
  }

  /** Check now (webhook); hints name the pushed tags. */
  trigger(hints: TagHint[]): void {
    if (this.stopped) return;
    this.pending = {
      trigger: 'webhook',
      hints: [...(this.pending?.hints ?? []), ...this.carried.splice(0), ...hints],
    };
    // The registry asked us to wait (429 Retry-After): the backoff timer runs it, hints kept.
    if (this.retryAfterMs !== undefined) return;
    clearTimeout(this.timer);
    this.kick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.pending ??= { trigger: this.carried.length > 0 ? 'webhook' : 'poll', hints: [] };
      this.pending.hints.push(...this.carried.splice(0));
      this.kick();
    }, ms);
    this.timer.unref?.();
  }

  private kick(): void {
    if (this.running || this.stopped) return;
    this.running = this.drain().finally(() => {
      this.running = undefined;
      if (this.stopped) return;
      // A trigger that arrived while the last check ran; when rate-limited it waits for the timer.
      if (this.pending && this.retryAfterMs === undefined) this.kick();
      else
        this.schedule(
          nextDelay(
            this.opts.image.intervalMs,
            this.failures,
            {
              jitter: this.opts.jitter,
              maxBackoffMs: this.opts.maxBackoffMs,
              retryAfterMs: this.retryAfterMs,
            },
            this.opts.random,
          ),
        );
    });
  }

  /** Look again shortly (0.25, 0.5, 1, 2 s) for hints the registry has not applied yet. */
  private recheckLater(unsettled: TagHint[]): void {
    const again = unsettled.filter((h) => (h.attempt ?? 0) < MAX_HINT_ATTEMPTS);
    if (again.length === 0) return;
    const attempt = Math.max(...again.map((h) => h.attempt ?? 0));
    const timer = setTimeout(
      () => this.trigger(again.map((h) => ({ ...h, attempt: (h.attempt ?? 0) + 1 }))),
      250 * 2 ** attempt,
    );
    timer.unref?.();
  }

  private async drain(): Promise<void> {
    while (this.pending && !this.stopped) {
      const { trigger, hints } = this.pending;
      this.pending = undefined;
      try {
        const result = await this.opts.run(trigger, hints);
        this.failures = 0;
        this.retryAfterMs = undefined;
        await this.opts.onSuccess(result, trigger);
        this.recheckLater(result.unsettled);
      } catch (err) {
        this.failures++;
        const failure = toFailure(err);
        this.retryAfterMs = failure.retryAfterMs;
        await this.opts.onFailure(failure, this.failures, trigger);
        // Keep the hints of a failed webhook check for the next attempt, a bounded number of
        // times: whatever made this check fail must not make every later one fail too (the poll
        // still finds the tag once the registry shows it).
        this.carried.push(
          ...hints
            .filter((h) => (h.attempt ?? 0) < MAX_HINT_ATTEMPTS)
            .map((h) => ({ ...h, attempt: (h.attempt ?? 0) + 1 })),
        );
        break;
      }
    }
  }
}
