export interface BatcherOptions<T> {
  /** Flush once this many items wait. */
  maxItems: number;
  /**
   * A flush takes at most this many of the items waiting (default `maxItems`). Larger lets a
   * backlog (items that piled up during the previous flush) go in fewer, larger batches.
   */
  maxBatchItems?: number;
  /** …or once the oldest waiting item has waited this long. */
  maxDelayMs: number;
  /** Writes a batch; its promise settles every item of the batch. One flush runs at a time. */
  flush: (items: T[]) => Promise<void>;
}

interface Waiting<T> {
  item: T;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit: callers `await submit(item)` and are released together when the batch that
 * holds their item is written. Items arriving during a flush form the next batch, so under load
 * batches grow towards `maxItems` and the cost of one commit is shared by many events.
 */
export class Batcher<T> {
  private pending: Array<Waiting<T>> = [];
  private firstAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private closed = false;

  constructor(private readonly opts: BatcherOptions<T>) {}

  get waiting(): number {
    return this.pending.length;
  }

  submit(item: T): Promise<void> {
    if (this.closed) return Promise.reject(new Error('batcher is closed'));
    return new Promise<void>((resolve, reject) => {
      if (this.pending.length === 0) this.firstAt = Date.now();
      this.pending.push({ item, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.flushing || this.pending.length === 0) return;
    const waited = Date.now() - this.firstAt;
    if (this.pending.length >= this.opts.maxItems || waited >= this.opts.maxDelayMs) {
      this.flushNow();
      return;
    }
    if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.schedule();
      }, this.opts.maxDelayMs - waited);
    }
  }

  private flushNow(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.pending.splice(0, Math.max(this.opts.maxItems, this.opts.maxBatchItems ?? 0));
    if (this.pending.length > 0) this.firstAt = Date.now();
    this.flushing = (async () => {
      try {
        await this.opts.flush(batch.map((w) => w.item));
        for (const w of batch) w.resolve();
      } catch (err) {
        for (const w of batch) w.reject(err);
      }
    })().finally(() => {
      this.flushing = undefined;
      this.schedule();
    });
  }

  /** Writes whatever waits and resolves when nothing is pending or in flight. */
  async drain(): Promise<void> {
    for (;;) {
      if (this.flushing) await this.flushing;
      else if (this.pending.length > 0) this.flushNow();
      else return;
    }
  }

  /** Refuses new items, writes what waits. */
  async close(): Promise<void> {
    this.closed = true;
    await this.drain();
  }
}
