import { performance } from 'node:perf_hooks';
import { FlotillaError } from '@flotilla/errors';
import type { JsonKv } from './kv.ts';

/**
 * What a lease entry holds. No timestamps: a holder's wall clock means nothing to a contender on
 * another machine (skew ≥ TTL gave two leaders). Time is judged only from the KV revision and the
 * reader's own monotonic clock.
 */
interface LeaseRecord {
  owner: string;
  ttlMs: number;
  /** The revision of the write that acquired the lease: the fencing token every holder action carries. */
  token?: number;
}

/** A monotonic clock in milliseconds (never wall time): injectable so tests can pause a holder. */
export type MonotonicClock = () => number;
const monotonic: MonotonicClock = () => performance.now();

/** Thrown by {@link Lease.fence} when the caller no longer holds the lease: the action must not happen. */
export function leaseLost(key: string, owner: string): FlotillaError {
  return new FlotillaError('bus.lease-lost', `lease "${key}" is no longer held by ${owner}; not acting`, {
    disposition: 'wait',
  });
}

/**
 * A lease in NATS KV, held by compare-and-set on the entry's revision, in the manner of client-go's
 * leader election but without trusting any clock but one's own:
 *
 * - A contender takes the lease only after it has seen the *same* revision for a whole TTL on its
 *   own monotonic clock (the holder stopped renewing), or when there is no entry.
 * - A holder counts its TTL from the moment it *sent* its last successful write, so its claim
 *   always ends before any contender's view of that write can expire.
 * - Acquiring returns a fencing token (the KV revision of the acquiring write, monotonic for the
 *   bucket's lifetime, also across deletes). Every leader action carries it; receivers refuse a
 *   token lower than one they have seen, so a holder paused past its TTL cannot act after resuming.
 */
export class Lease {
  private revision: number | undefined;
  private heldUntil = 0;
  private fencingToken: number | undefined;
  /** The newest revision we saw of somebody else's entry, and when (our clock) we first saw it. */
  private observed: { revision: number; at: number } | undefined;

  constructor(
    private readonly kv: JsonKv<LeaseRecord>,
    readonly key: string,
    readonly owner: string,
    readonly ttlMs: number,
    private readonly now: MonotonicClock = monotonic,
  ) {}

  /** True while we hold it and our claim has not run out on our own clock. */
  get held(): boolean {
    return this.revision !== undefined && this.now() < this.heldUntil;
  }

  /** The fencing token of our current tenure; undefined when not held. */
  get token(): number | undefined {
    return this.held ? this.fencingToken : undefined;
  }

  /**
   * Call immediately before a leader action: returns the token to attach to it, or throws
   * `bus.lease-lost` when the claim ran out (e.g. the process was paused past its TTL).
   */
  fence(): number {
    const token = this.token;
    if (token === undefined) throw leaseLost(this.key, this.owner);
    return token;
  }

  /** Tries once; true when we hold the lease afterwards. */
  async acquire(): Promise<boolean> {
    if (this.held) return await this.renew();
    const sentAt = this.now();
    const current = await this.kv.get(this.key);
    try {
      let revision: number;
      if (!current) {
        revision = await this.kv.create(this.key, { owner: this.owner, ttlMs: this.ttlMs });
      } else if (current.value.owner === this.owner && current.revision === this.revision) {
        // Our own entry, unchanged since our last write: a late renewal, not a takeover.
        revision = await this.kv.update(this.key, this.record(this.fencingToken), current.revision);
        return this.won(revision, sentAt, this.fencingToken ?? revision);
      } else if (this.expired(current.revision, current.value.ttlMs)) {
        revision = await this.kv.update(this.key, { owner: this.owner, ttlMs: this.ttlMs }, current.revision);
      } else return false;
      return this.won(revision, sentAt, revision);
    } catch (err) {
      if (err instanceof FlotillaError && err.code === 'bus.kv-conflict') return false;
      throw err;
    }
  }

  /** Extends a held lease; false (and no longer held) when someone else took it. */
  async renew(): Promise<boolean> {
    if (this.revision === undefined) return false;
    const sentAt = this.now();
    try {
      const revision = await this.kv.update(this.key, this.record(this.fencingToken), this.revision);
      return this.won(revision, sentAt, this.fencingToken ?? revision);
    } catch (err) {
      if (!(err instanceof FlotillaError && err.code === 'bus.kv-conflict')) throw err;
      this.revision = undefined;
      this.fencingToken = undefined;
      return false;
    }
  }

  async release(): Promise<void> {
    if (this.revision === undefined) return;
    const rev = this.revision;
    this.revision = undefined;
    this.fencingToken = undefined;
    try {
      await this.kv.delete(this.key, rev);
    } catch {
      // Someone else already holds it: nothing to release.
    }
  }

  /** The owner as far as this reader can tell: an entry unchanged for a TTL on our clock has none. */
  async currentOwner(): Promise<string | undefined> {
    const current = await this.kv.get(this.key);
    if (!current) return undefined;
    if (current.value.owner === this.owner && current.revision === this.revision)
      return this.held ? this.owner : undefined;
    return this.expired(current.revision, current.value.ttlMs) ? undefined : current.value.owner;
  }

  private record(token: number | undefined): LeaseRecord {
    return { owner: this.owner, ttlMs: this.ttlMs, ...(token === undefined ? {} : { token }) };
  }

  private won(revision: number, sentAt: number, token: number): true {
    this.revision = revision;
    this.fencingToken = token;
    this.heldUntil = sentAt + this.ttlMs;
    this.observed = undefined;
    return true;
  }

  /** Has this revision stood unchanged for its TTL, measured on our clock since we first saw it? */
  private expired(revision: number, ttlMs: number): boolean {
    const now = this.now();
    if (this.observed?.revision !== revision) {
      this.observed = { revision, at: now };
      return false;
    }
    return now - this.observed.at >= (Number.isFinite(ttlMs) && ttlMs > 0 ? ttlMs : this.ttlMs);
  }
}

export interface LeaseSetOptions {
  owner: string;
  ttlMs: number;
  /** The keys to compete for, re-read every cycle (config can change). */
  keys: () => string[];
  /**
   * Keys to keep watching without competing (e.g. those another member is preferred for): a
   * contender can only take a key once it has seen it unchanged for a whole TTL, so watching it
   * beforehand lets a key whose holder died move as soon as it becomes wanted, not a TTL later.
   */
  watch?: () => string[];
  /** Called with the fencing token of the new tenure. */
  onAcquired?: (key: string, token: number) => void | Promise<void>;
  onLost?: (key: string) => void | Promise<void>;
  onError?: (err: unknown) => void;
  /** Monotonic clock (tests inject one to simulate a paused process). */
  clock?: MonotonicClock;
}

/**
 * Shares a set of keys (repos, image repositories) among instances: every instance competes
 * for every key each cycle (TTL/3), renews what it holds, and reports gains and losses.
 */
export class LeaseSet {
  private readonly leases = new Map<string, Lease>();
  /**
   * Keys reported to onAcquired and not yet to onLost. Kept apart from `Lease.held`: a lease that
   * ran out locally before its renewal (a slow cycle) is no longer held, yet its owner still acts
   * on it until it is told, and must be told if someone else took it meanwhile.
   */
  private readonly announced = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private cycle: Promise<void> = Promise.resolve();
  private stopped = true;

  constructor(
    private readonly kv: JsonKv<LeaseRecord>,
    private readonly opts: LeaseSetOptions,
  ) {}

  held(): string[] {
    return [...this.leases.values()].filter((l) => l.held).map((l) => l.key);
  }

  holds(key: string): boolean {
    return this.leases.get(key)?.held ?? false;
  }

  /** The fencing token for an action on `key`; throws `bus.lease-lost` when not held right now. */
  fence(key: string): number {
    const lease = this.leases.get(key);
    if (!lease) throw leaseLost(key, this.opts.owner);
    return lease.fence();
  }

  async ownerOf(key: string): Promise<string | undefined> {
    return await this.lease(key).currentOwner();
  }

  private lease(key: string): Lease {
    let lease = this.leases.get(key);
    if (!lease) {
      lease = new Lease(this.kv, key, this.opts.owner, this.opts.ttlMs, this.opts.clock);
      this.leases.set(key, lease);
    }
    return lease;
  }

  start(): void {
    // The next cycle is scheduled only after this one finished: a slow cycle (many keys, a
    // loaded machine) must not overlap the next one and race its own renewals.
    const tick = () => {
      this.cycle = this.runCycle()
        .catch((err) => this.opts.onError?.(err))
        .finally(() => {
          if (!this.stopped) this.timer = setTimeout(tick, Math.max(200, Math.floor(this.opts.ttlMs / 3)));
        });
    };
    this.stopped = false;
    tick();
  }

  /** One round of acquire/renew; exposed so tests and startup need not wait for the timer. */
  async runCycle(): Promise<void> {
    const wanted = new Set(this.opts.keys());
    for (const key of wanted) {
      const lease = this.lease(key);
      const has = lease.held ? await lease.renew() : await lease.acquire();
      const token = lease.token;
      // A new tenure (a new token) is a new acquisition even if we never noticed losing the old one.
      if (has && token !== undefined && this.announced.get(key) !== token) {
        if (this.announced.has(key)) await this.opts.onLost?.(key);
        this.announced.set(key, token);
        await this.opts.onAcquired?.(key, token);
      }
      if (!has && this.announced.delete(key)) await this.opts.onLost?.(key);
    }
    const watched = new Set(this.opts.watch?.() ?? []);
    for (const key of watched)
      if (!wanted.has(key) && !this.leases.get(key)?.held) await this.lease(key).currentOwner();
    for (const [key, lease] of this.leases) {
      if (wanted.has(key)) continue;
      await lease.release();
      if (!watched.has(key)) this.leases.delete(key);
      if (this.announced.delete(key)) await this.opts.onLost?.(key);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.cycle;
    for (const lease of this.leases.values()) await lease.release();
    this.leases.clear();
    this.announced.clear();
  }
}

export type { LeaseRecord };
