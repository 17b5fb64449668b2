/**
 * At most `limit` tasks at once, started in submission order. Shared by work that runs in
 * several queues side by side (each pipeline's renders) so together they stay within what the
 * machine can run (kubectl processes), while no queue waits for another's whole backlog.
 */
export class Semaphore {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`semaphore limit ${limit} is not ≥ 1`);
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    const release = await this.acquire();
    try {
      return await task();
    } finally {
      release();
    }
  }

  /**
   * A slot held until the returned release is called (once; later calls do nothing): for work
   * that learns only part-way whether it needs one, or holds it across several steps.
   */
  async acquire(): Promise<() => void> {
    if (this.active >= this.limit) await new Promise<void>((r) => this.waiting.push(r));
    else this.active++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      // Hand the slot straight to the next waiter, so a newcomer cannot overtake it.
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    };
  }

  /** Tasks running now. */
  get running(): number {
    return this.active;
  }
}
