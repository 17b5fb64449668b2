import { RetryLoop } from '@flotilla/async';
import type { Workspace } from '@flotilla/git';

export interface PusherOptions {
  /** A Workspace of its own on the audit clone, so a slow remote never queues behind commits. */
  ws: Workspace;
  retryMinMs: number;
  retryMaxMs: number;
  /**
   * At least this long between the starts of two pushes (0: push after every commit). Commits
   * made meanwhile go in the next push. A push costs the same whatever it carries (a git push,
   * pack-objects searching deltas for the segment's new blob, the remote unpacking it), so under
   * load one every few hundred ms took CPU the commits needed; events are acked on the local
   * commit, so this only bounds how far the remote copy trails (see `lag()`).
   */
  minIntervalMs?: number;
  onPushed?: (seq: number) => void;
  onFailed?: (err: unknown, attempt: number) => void;
}

/**
 * Pushes the audit branch in the background, after a commit but at most once per `minIntervalMs`,
 * with exponential backoff while the remote is unreachable. Records are safe once committed locally (events are acked then), so
 * the push only bounds how long the remote copy lags; that lag is what `lag()` reports.
 */
export class Pusher {
  /** Commits not known to be on the remote: (last seq of the commit, when it was committed). */
  private unpushed: Array<{ seq: number; at: number }> = [];
  private pushedSeq = 0;
  private attempt = 0;
  private readonly loop: RetryLoop;

  constructor(private readonly opts: PusherOptions) {
    this.loop = new RetryLoop({
      hasWork: () => this.unpushed.length > 0,
      step: () => this.pushOnce(),
      backoff: { baseMs: opts.retryMinMs, maxMs: opts.retryMaxMs },
      minIntervalMs: opts.minIntervalMs ?? 0,
    });
  }

  /** `pushedSeq`: the newest seq known to be on the remote (from the remote head's trailers). */
  start(pushedSeq: number, committedSeq: number): void {
    this.pushedSeq = pushedSeq;
    if (committedSeq > pushedSeq) this.unpushed.push({ seq: committedSeq, at: Date.now() });
    this.loop.start();
  }

  committed(seq: number, at = Date.now()): void {
    this.unpushed.push({ seq, at });
    this.kick();
  }

  kick(): void {
    this.loop.kick();
  }

  lag(now = Date.now()): { records: number; seconds: number } {
    const last = this.unpushed[this.unpushed.length - 1];
    const first = this.unpushed[0];
    if (!last || !first) return { records: 0, seconds: 0 };
    return { records: last.seq - this.pushedSeq, seconds: Math.max(0, (now - first.at) / 1000) };
  }

  /** One push of everything committed so far; true when the remote has it. */
  async pushOnce(): Promise<boolean> {
    const target = this.unpushed[this.unpushed.length - 1]?.seq;
    if (target === undefined) return true;
    try {
      // retries: 0 — never rebase the audit chain onto someone else's commits: a rejected push
      // means two writers forked the log, which needs a human, not an automatic merge.
      await this.opts.ws.push({ retries: 0 });
      this.attempt = 0;
      // Anything committed while the push ran may or may not be in it: count only up to target.
      this.pushedSeq = Math.max(this.pushedSeq, target);
      this.unpushed = this.unpushed.filter((u) => u.seq > target);
      this.opts.onPushed?.(target);
      return true;
    } catch (err) {
      this.attempt++;
      this.opts.onFailed?.(err, this.attempt);
      return false;
    }
  }

  /** Stops the loop; one last push attempt so a graceful shutdown leaves the remote current. */
  async stop(finalPush = true): Promise<void> {
    await this.loop.stop();
    if (finalPush && this.unpushed.length > 0) await this.pushOnce().catch(() => false);
  }

  get lastError(): string | undefined {
    return this.attempt > 0 ? `push failing (${this.attempt} attempts)` : undefined;
  }
}
