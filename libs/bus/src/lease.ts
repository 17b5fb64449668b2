import { FlotillaError } from '@flotilla/errors';
import type { JsonKv } from './kv.ts';

interface LeaseRecord {
  owner: string;
  expiresAt: number;
  acquiredAt: number;
}

/**
 * A lease in NATS KV, held by compare-and-set on the entry's revision. Holders renew well
 * within the TTL; a holder that dies stops renewing and anyone may take the lease after
 * `expiresAt`. Clocks of instances are assumed to agree within a small fraction of the TTL.
 */
export class Lease {
  private revision: number | undefined;
  private expiresAt = 0;

  constructor(
    private readonly kv: JsonKv<LeaseRecord>,
    readonly key: string,
    readonly owner: string,
    readonly ttlMs: number,
  ) {}

  /** True while we hold it and it has not expired locally. */
  get held(): boolean {
    return this.revision !== undefined && Date.now() < this.expiresAt;
  }

  /** Tries once; true when we hold the lease afterwards. */
  async acquire(): Promise<boolean> {
    if (this.held) return await this.renew();
    const now = Date.now();
    const record: LeaseRecord = { owner: this.owner, acquiredAt: now, expiresAt: now + this.ttlMs };
    const current = await this.kv.get(this.key);
    try {
      if (!current) this.revision = await this.kv.create(this.key, record);
      else if (current.value.owner === this.owner || current.value.expiresAt <= now)
        this.revision = await this.kv.update(this.key, record, current.revision);
      else return false;
    } catch (err) {
      if (err instanceof FlotillaError && err.code === 'bus.kv-conflict') return false;
      throw err;
    }
    this.expiresAt = record.expiresAt;
    return true;
  }

  /** Extends a held lease; false (and no longer held) when someone else took it. */
  async renew(): Promise<boolean> {
    if (this.revision === undefined) return false;
    const now = Date.now();
    const record: LeaseRecord = { owner: this.owner, acquiredAt: now, expiresAt: now + this.ttlMs };
    try {
      this.revision = await this.kv.update(this.key, record, this.revision);
      this.expiresAt = record.expiresAt;
      return true;
    } catch (err) {
      if (!(err instanceof FlotillaError && err.code === 'bus.kv-conflict')) throw err;
      this.revision = undefined;
      return false;
    }
  }

  async release(): Promise<void> {
    if (this.revision === undefined) return;
    const rev = this.revision;
    this.revision = undefined;
    try {
      await this.kv.delete(this.key, rev);
    } catch {
      // Someone else already holds it: nothing to release.
    }
  }

  async currentOwner(): Promise<string | undefined> {
    const current = await this.kv.get(this.key);
    return current && current.value.expiresAt > Date.now() ? current.value.owner : undefined;
  }
}

export interface LeaseSetOptions {
  owner: string;
  ttlMs: number;
  /** The keys to compete for, re-read every cycle (config can change). */
  keys: () => string[];
  onAcquired?: (key: string) => void | Promise<void>;
  onLost?: (key: string) => void | Promise<void>;
  onError?: (err: unknown) => void;
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
  private readonly announced = new Set<string>();
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

  async ownerOf(key: string): Promise<string | undefined> {
    return await (
      this.leases.get(key) ?? new Lease(this.kv, key, this.opts.owner, this.opts.ttlMs)
    ).currentOwner();
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
      let lease = this.leases.get(key);
      if (!lease) {
        lease = new Lease(this.kv, key, this.opts.owner, this.opts.ttlMs);
        this.leases.set(key, lease);
      }
      const has = lease.held ? await lease.renew() : await lease.acquire();
      if (has && !this.announced.has(key)) {
        this.announced.add(key);
        await this.opts.onAcquired?.(key);
      }
      if (!has && this.announced.delete(key)) await this.opts.onLost?.(key);
    }
    for (const [key, lease] of this.leases) {
      if (wanted.has(key)) continue;
      await lease.release();
      this.leases.delete(key);
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
