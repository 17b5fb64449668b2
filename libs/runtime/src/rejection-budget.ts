// Refusing a request is free; publishing an event about it is not. A flood of bad requests
// (webhooks with a wrong signature, API calls with a stolen or stale token) must not flood the
// event stream and the audit log, so the events about refusals are rationed per key.

/** Fixed one-minute windows per key: at most `limit` admitted in each. */
export class RejectionBudget {
  private readonly windows = new Map<string, { start: number; count: number; suppressed: number }>();

  constructor(
    private readonly limit: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Admits one; says how many were suppressed in the key's previous window when a new one opens. */
  take(key: string): { admitted: boolean; suppressedBefore: number } {
    const now = this.now();
    const w = this.windows.get(key);
    if (!w || now - w.start >= 60_000) {
      this.windows.set(key, { start: now, count: 1, suppressed: 0 });
      return { admitted: this.limit > 0, suppressedBefore: w?.suppressed ?? 0 };
    }
    if (++w.count <= this.limit) return { admitted: true, suppressedBefore: 0 };
    w.suppressed++;
    return { admitted: false, suppressedBefore: 0 };
  }
}
