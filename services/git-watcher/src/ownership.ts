import { createHash } from 'node:crypto';
import { type Bus, type JsonKv, type LeaseSet, preferredOwner, RevisionAges } from '@flotilla/bus';
import { messageOf } from '@flotilla/errors';
import type { Logger } from '@flotilla/runtime';

interface Member {
  instance: string;
  /**
   * The writer's wall-clock expiry. Still written for instances of the previous release during a
   * rolling upgrade; never read: liveness is judged by revision on our own clock (RevisionAges).
   */
  expiresAt?: number;
  ttlMs?: number;
  /** Digest of the member's repo list: only instances with the same list share by hashing. */
  repos: string;
}

export interface OwnershipOptions {
  instance: string;
  ttlMs: number;
  leaseBucket: string;
  membersBucket: string;
  /** Spread repos over live instances instead of letting the first one take them all. */
  balance: boolean;
  repos: () => string[];
  onAcquired: (repo: string) => void;
  onLost: (repo: string) => void;
  /** After every lease cycle: the place to reconcile what runs with what is held. */
  onCycle?: () => void;
  /** Monotonic clock for member liveness (tests inject one). */
  clock?: () => number;
  logger: Logger;
}

/**
 * Which instance watches which repo. Leases in NATS KV make one live instance the owner of each
 * repo; an instance that dies stops renewing and the others take its repos after the TTL. With
 * `balance`, instances also announce themselves in a members bucket and each competes only for the
 * repos that rendezvous hashing gives it among the live members, so N instances share the work.
 */
export class Ownership {
  private leases: LeaseSet | undefined;
  private members: JsonKv<Member> | undefined;
  private live: string[];
  private timer: NodeJS.Timeout | undefined;
  private leaseTimer: NodeJS.Timeout | undefined;
  private leaseCycle: Promise<void> = Promise.resolve();
  private stopped = false;
  private refreshing: Promise<void> = Promise.resolve();
  private readonly ages: RevisionAges;

  constructor(
    private readonly bus: Bus,
    private readonly o: OwnershipOptions,
  ) {
    this.live = [o.instance];
    this.ages = new RevisionAges(o.clock);
  }

  async start(): Promise<void> {
    if (this.o.balance) {
      this.members = await this.bus.kv<Member>(this.o.membersBucket);
      await this.refreshMembers();
      const tick = () => {
        this.refreshing = this.refreshMembers().catch((err) =>
          this.o.logger.warn({ err: messageOf(err) }, 'membership refresh failed'),
        );
        this.timer = setTimeout(tick, Math.max(200, Math.floor(this.o.ttlMs / 3)));
      };
      this.timer = setTimeout(tick, Math.max(200, Math.floor(this.o.ttlMs / 3)));
    }
    this.leases = await this.bus.leaseSet(this.o.leaseBucket, {
      owner: this.o.instance,
      ttlMs: this.o.ttlMs,
      keys: () => this.wanted(),
      // Not awaited: a lease cycle must never wait for a fetch, or renewals of other repos would lapse.
      onAcquired: (repo) => this.o.onAcquired(repo),
      onLost: (repo) => this.o.onLost(repo),
      onError: (err) => this.o.logger.warn({ err: messageOf(err) }, 'lease cycle failed'),
    });
    // Cycles are chained here rather than with LeaseSet.start(), whose fixed timer lets a slow cycle
    // (many repos, a loaded server) overlap the next one and race its own renewals.
    const leases = this.leases;
    const cycle = async () => {
      this.leaseCycle = leases
        .runCycle()
        .catch((err) => this.o.logger.warn({ err: messageOf(err) }, 'lease cycle failed'))
        .then(() => this.o.onCycle?.());
      await this.leaseCycle;
      if (!this.stopped) this.leaseTimer = setTimeout(cycle, Math.max(200, Math.floor(this.o.ttlMs / 3)));
    };
    await cycle();
  }

  private wanted(): string[] {
    const repos = this.o.repos();
    if (!this.o.balance) return repos;
    return repos.filter((r) => preferredOwner(r, this.live) === this.o.instance);
  }

  private async refreshMembers(): Promise<void> {
    const kv = this.members;
    if (!kv) return;
    const repos = createHash('sha256')
      .update([...this.o.repos()].sort().join('\n'))
      .digest('hex');
    // Each put is a new revision: that, not a timestamp, is what tells the others we are alive.
    await kv.put(this.o.instance, {
      instance: this.o.instance,
      expiresAt: Date.now() + this.o.ttlMs,
      ttlMs: this.o.ttlMs,
      repos,
    });
    // During a rolling config change, old and new instances form two groups that each spread their
    // repos among themselves; leases still give every repo exactly one owner across both.
    const live: string[] = [];
    const keys = await kv.keys();
    for (const key of keys) {
      const m = await kv.get(key);
      // A member is live while its entry keeps changing revision within its TTL, timed on our own
      // monotonic clock: a skewed clock on either side cannot make it look dead or alive.
      if (m && this.ages.live(key, m.revision, m.value.ttlMs ?? this.o.ttlMs) && m.value.repos === repos)
        live.push(m.value.instance);
    }
    this.ages.retain(keys);
    if (!live.includes(this.o.instance)) live.push(this.o.instance);
    live.sort();
    if (live.join() !== this.live.join())
      this.o.logger.info({ members: live }, 'git-watcher members changed; rebalancing repos');
    this.live = live;
  }

  holds(repo: string): boolean {
    return this.leases?.holds(repo) ?? false;
  }

  held(): string[] {
    return this.leases?.held() ?? [];
  }

  get started(): boolean {
    return this.leases !== undefined;
  }

  /** Graceful: leave the members list and release every lease, so others take over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.leaseTimer);
    await this.leaseCycle;
    await this.refreshing;
    await this.leases?.stop();
    if (this.members) await this.members.delete(this.o.instance).catch(() => {});
  }
}
