/** A counting semaphore: at most `limit` holders at once, FIFO for the rest. */
export class Semaphore {
  private active = 0;
  private readonly queue: Array<() => void> = [];

  constructor(readonly limit: number) {}

  get waiting(): number {
    return this.queue.length;
  }

  async acquire(): Promise<() => void> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.queue.push(resolve));
    else this.active++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.queue.shift();
      // Hand the slot straight to the next waiter, so `active` never dips and lets a newcomer jump the queue.
      if (next) next();
      else this.active--;
    };
  }
}

/** One semaphore per registry host: a slow or rate-limiting registry does not hold up the others. */
export class RegistryLimiter {
  private readonly byHost = new Map<string, Semaphore>();

  constructor(private readonly perRegistry: number) {}

  acquire(registry: string): Promise<() => void> {
    let s = this.byHost.get(registry);
    if (!s) {
      s = new Semaphore(this.perRegistry);
      this.byHost.set(registry, s);
    }
    return s.acquire();
  }
}
