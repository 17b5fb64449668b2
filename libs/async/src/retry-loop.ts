import { Backoff, type BackoffPolicy } from './backoff.ts';

export interface RetryLoopOptions {
  /** True while there is something to do; otherwise the loop idles until `kick()`. */
  hasWork: () => boolean;
  /** One attempt at the work: true when it succeeded (go on at once), false to back off. */
  step: () => Promise<boolean>;
  backoff: BackoffPolicy;
  /** Longest idle sleep when there is no work and nobody kicks (default 60 s). */
  idleMs?: number;
  /**
   * At least this long from the start of one attempt to the start of the next (default 0: at
   * once). Work arriving meanwhile waits and goes in the next attempt, whatever kicks it gets:
   * for work whose cost is per attempt, not per item (a git push). `stop()` ends the wait.
   */
  minIntervalMs?: number;
  random?: () => number;
}

/**
 * A background worker that drains a queue against something that may be away (a Git remote, a
 * NATS stream): attempts in a row while they succeed, the shared backoff after a failure, an idle
 * sleep when empty, and `kick()` to wake it at once when work arrives.
 */
export class RetryLoop {
  private readonly backoff: Backoff;
  private wake: (() => void) | undefined;
  /** Ends a `minIntervalMs` pause; only `stop()` calls it (kicks must not shorten the pause). */
  private wakePaused: (() => void) | undefined;
  private lastAttemptAt = Number.NEGATIVE_INFINITY;
  private running = false;
  private loop: Promise<void> | undefined;

  constructor(private readonly o: RetryLoopOptions) {
    this.backoff = new Backoff(o.backoff, o.random);
  }

  /** Consecutive failed attempts (0 after a success). */
  get failures(): number {
    return this.backoff.attempts;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  kick(): void {
    this.wake?.();
  }

  /** Stops after the attempt in progress, if any. */
  async stop(): Promise<void> {
    this.running = false;
    this.kick();
    this.wakePaused?.();
    await this.loop;
  }

  private sleep(ms: number, kickable = true): Promise<void> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        clearTimeout(timer);
        if (kickable) this.wake = undefined;
        else this.wakePaused = undefined;
        resolve();
      };
      timer = setTimeout(done, ms);
      if (kickable) this.wake = done;
      else this.wakePaused = done;
    });
  }

  private async run(): Promise<void> {
    while (this.running) {
      if (!this.o.hasWork()) {
        await this.sleep(this.o.idleMs ?? 60_000);
        continue;
      }
      const pause = this.lastAttemptAt + (this.o.minIntervalMs ?? 0) - Date.now();
      if (pause > 0) {
        await this.sleep(pause, false);
        continue;
      }
      this.lastAttemptAt = Date.now();
      if (await this.o.step().catch(() => false)) this.backoff.reset();
      else if (this.running) await this.sleep(this.backoff.next());
    }
  }
}
