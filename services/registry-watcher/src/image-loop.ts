import { backoffDelay, type CheckFailure, carryAttempts, PollLoop, type Trigger } from '@flotilla/async';
import type { CheckResult } from './image-checker.ts';
import type { TagHint } from './tag-diff.ts';
import type { WatchedImage } from './watched-image.ts';

const MAX_HINT_ATTEMPTS = 4;

export interface ImageLoopOptions {
  image: WatchedImage;
  jitter: number;
  maxBackoffMs: number;
  /** First check after acquiring the lease: soon, but spread so a failover does not burst. */
  initialDelayMs: number;
  /** Runs one check, holding the registry's concurrency slot. */
  run(trigger: Trigger, hints: TagHint[]): Promise<CheckResult>;
  onSuccess(result: CheckResult, trigger: Trigger): void;
  /** Every failure, after its ImageScanFailed if one was due; `failures` includes this one. */
  onFailure(failure: CheckFailure, failures: number, trigger: Trigger): void;
  /** Publishes ImageScanFailed: once per distinct problem, and a reminder now and then. */
  report(failure: CheckFailure): Promise<void>;
  random?: () => number;
}

/** Hints that may be tried again, their attempt counted: a bad hint cannot poison every later check. */
const again = carryAttempts<TagHint>(MAX_HINT_ATTEMPTS);

/**
 * The shared poll loop around one image's check. What is the registry's own: hints name pushed
 * tags; a failed check's hints go to the next one a bounded number of times, which the loop runs
 * soon (1, 2, 4, 8 s) rather than a poll interval later; hints the registry has not applied yet
 * are looked at again shortly (0.25, 0.5, 1, 2 s).
 */
export function imageLoop(o: ImageLoopOptions): PollLoop<TagHint> {
  const loop: PollLoop<TagHint> = new PollLoop<TagHint>({
    intervalMs: o.image.intervalMs,
    jitter: o.jitter,
    maxBackoffMs: o.maxBackoffMs,
    initialDelayMs: o.initialDelayMs,
    unknownCode: 'registry-watcher.check-failed',
    ...(o.random ? { random: o.random } : {}),
    check: async (trigger, hints) => {
      const result = await o.run(trigger, hints);
      o.onSuccess(result, trigger);
      const unsettled = again(result.unsettled);
      if (unsettled.length === 0) return;
      const attempt = Math.max(...unsettled.map((h) => h.attempt ?? 1)) - 1;
      setTimeout(
        () => void loop.trigger(unsettled),
        backoffDelay(attempt, { baseMs: 250, maxMs: 30_000 }, o.random),
      ).unref?.();
    },
    carry: again,
    onFailure: o.onFailure,
    reportAfter: 1,
    report: (failure) => o.report(failure),
  });
  return loop;
}
