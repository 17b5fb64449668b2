/** The host a git remote talks to, for the per-host concurrency limit (`local` for file:// and paths). */
export function remoteHost(url: string): string {
  const scp = /^(?:[^@/]+@)?([^:/]+):(?!\/)/.exec(url);
  if (scp && !/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) return scp[1]!.toLowerCase();
  try {
    const u = new URL(url);
    if (u.protocol === 'file:') return 'local';
    return u.host.toLowerCase() || 'local';
  } catch {
    return 'local';
  }
}

/** A counting semaphore per host: at most `limit` git processes talk to one server at once. */
export class HostLimiter {
  private readonly active = new Map<string, number>();
  private readonly waiting = new Map<string, Array<() => void>>();

  constructor(private readonly limit: number) {}

  async run<T>(host: string, fn: () => Promise<T>): Promise<T> {
    await this.acquire(host);
    try {
      return await fn();
    } finally {
      this.release(host);
    }
  }

  private acquire(host: string): Promise<void> {
    const n = this.active.get(host) ?? 0;
    if (n < this.limit) {
      this.active.set(host, n + 1);
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const q = this.waiting.get(host) ?? [];
      q.push(resolve);
      this.waiting.set(host, q);
    });
  }

  private release(host: string): void {
    const next = this.waiting.get(host)?.shift();
    // The slot passes straight to the next waiter, so the count stays the same.
    if (next) {
      next();
      return;
    }
    const n = (this.active.get(host) ?? 1) - 1;
    if (n <= 0) this.active.delete(host);
    else this.active.set(host, n);
  }

  /** Processes currently running against `host` (for tests and metrics). */
  inFlight(host: string): number {
    return this.active.get(host) ?? 0;
  }
}
