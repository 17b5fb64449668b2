import { performance } from 'node:perf_hooks';
import type { MonotonicClock } from './lease.ts';

/**
 * How long each KV key has shown the same revision, on the reader's own monotonic clock: the
 * leases' way of telling a writer that stopped from one that renews, without comparing the
 * writer's wall clock with ours (skew ≥ TTL made a live writer look dead, or a dead one live).
 * A key seen for the first time counts as just written: we cannot know how old it is.
 */
export class RevisionAges {
  private readonly seen = new Map<string, { revision: number; at: number }>();

  constructor(private readonly now: MonotonicClock = () => performance.now()) {}

  /** Milliseconds (our clock) since `key` was first seen at `revision`; 0 for a new revision. */
  observe(key: string, revision: number): number {
    const now = this.now();
    const s = this.seen.get(key);
    if (s?.revision !== revision) {
      this.seen.set(key, { revision, at: now });
      return 0;
    }
    return now - s.at;
  }

  /** True while `key` has changed revision within the last `ttlMs`. */
  live(key: string, revision: number, ttlMs: number): boolean {
    return this.observe(key, revision) < ttlMs;
  }

  /** Forget keys that are gone, so the map does not grow with departed writers. */
  retain(keys: Iterable<string>): void {
    const keep = new Set(keys);
    for (const k of this.seen.keys()) if (!keep.has(k)) this.seen.delete(k);
  }
}
