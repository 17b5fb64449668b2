import { type Bus, type JsonKv, Lease, type LeaseRecord, type LeaseSet, preferredOwner } from '@flotilla/bus';
import { messageOf } from '@flotilla/errors';
import type { Logger } from '@flotilla/runtime';

export interface ShardsOptions {
  bus: Bus;
  /** The lease bucket (the leader's: fencing tokens stay monotonic across both modes). */
  bucket: string;
  instance: string;
  ttlMs: number;
  /** Member slots; each has its own durable consumer (nats-resources.ts). */
  slots: number;
  /** The pipelines to share out, re-read every cycle (the newest revision's). */
  pipelines: () => string[];
  /** This instance took member slot `slot` (bind its consumer) or lost it (null: unbind). */
  onSlot: (slot: number | null) => Promise<void>;
  /** Not awaited by the lease cycle: a handover renders, renewals must not wait for it. */
  onAcquired: (pipeline: string) => void;
  onLost: (pipeline: string) => void;
  logger: Logger;
}

/** The lease key of a pipeline (in the leader bucket, beside the single-mode `planner` key). */
export const pipelineLeaseKey = (pipeline: string) => `pipeline.${pipeline}`;
const slotKey = (slot: number) => `slot.${slot}`;

/**
 * Which planner instance serves which pipeline (`lease.mode: sharded`).
 *
 * Membership is a lease too: each instance holds one of `slots` member slots, and the live
 * members are the slots whose holder still renews, judged like every lease here by an unchanged
 * KV revision for a TTL on the reader's own clock (no wall clocks compared). A slot also names the
 * instance's durable consumer, so every instance sees every commit, tag and report, and a
 * replacement that takes a dead instance's slot picks up what it left unacknowledged.
 *
 * Each pipeline has its own lease. Rendezvous hashing of the pipeline name over the live slots
 * says which instance competes for it (the git-watcher's balancing); when a member joins or
 * leaves, only its share moves. The lease's fencing token is the epoch of that pipeline's plans
 * and commits: a new holder's outrank the old one's at every applier.
 */
export class PlannerShards {
  private readonly slotLeases: Lease[];
  private leases: LeaseSet | undefined;
  private slot: number | undefined;
  private live: string[] = [];
  private timer: NodeJS.Timeout | undefined;
  private cycle: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(
    slotKv: JsonKv<LeaseRecord>,
    private readonly o: ShardsOptions,
  ) {
    this.slotLeases = Array.from(
      { length: o.slots },
      (_, i) => new Lease(slotKv, slotKey(i), o.instance, o.ttlMs),
    );
  }

  static async open(o: ShardsOptions): Promise<PlannerShards> {
    return new PlannerShards(await o.bus.kv<LeaseRecord>(o.bucket), o);
  }

  /** The member slot held now (its consumer is bound), if any. */
  get memberSlot(): number | undefined {
    return this.slot;
  }

  /** Live member slots as last seen. */
  members(): string[] {
    return [...this.live];
  }

  holds(pipeline: string): boolean {
    return this.leases?.holds(pipelineLeaseKey(pipeline)) ?? false;
  }

  /** The fencing token for an action on `pipeline`; throws `bus.lease-lost` when not held now. */
  fence(pipeline: string): number {
    if (!this.leases) throw new Error('shards not started');
    return this.leases.fence(pipelineLeaseKey(pipeline));
  }

  async start(): Promise<void> {
    this.leases = await this.o.bus.leaseSet(this.o.bucket, {
      owner: this.o.instance,
      ttlMs: this.o.ttlMs,
      keys: () => this.wanted().map(pipelineLeaseKey),
      // Every pipeline is watched, so one whose holder died moves as soon as that member is seen
      // gone (both went unrenewed for the same TTL), not a second TTL later.
      watch: () => this.o.pipelines().map(pipelineLeaseKey),
      onAcquired: (key) => this.o.onAcquired(key.slice('pipeline.'.length)),
      onLost: (key) => this.o.onLost(key.slice('pipeline.'.length)),
      onError: (err) => this.o.logger.warn({ err: messageOf(err) }, 'pipeline lease cycle failed'),
    });
    // One cycle at a time, the next scheduled after this one ends (a slow cycle must not race
    // its own renewals): membership first, then the pipeline leases it decides.
    const tick = async () => {
      this.cycle = this.runCycle().catch((err) =>
        this.o.logger.warn({ err: messageOf(err) }, 'shard cycle failed'),
      );
      await this.cycle;
      if (!this.stopped) this.timer = setTimeout(tick, Math.max(200, Math.floor(this.o.ttlMs / 3)));
    };
    await tick();
  }

  /** One round: hold a member slot, see who else is live, compete for our share of pipelines. */
  async runCycle(): Promise<void> {
    await this.holdSlot();
    const live: string[] = [];
    for (let i = 0; i < this.slotLeases.length; i++) {
      const owner = i === this.slot ? this.o.instance : await (this.slotLeases[i] as Lease).currentOwner();
      if (owner !== undefined) live.push(slotKey(i));
    }
    if (live.join() !== this.live.join())
      this.o.logger.info(
        { members: live, slot: this.slot },
        'planner members changed; sharing pipelines again',
      );
    this.live = live;
    await this.leases?.runCycle();
  }

  private async holdSlot(): Promise<void> {
    if (this.slot !== undefined) {
      if (await (this.slotLeases[this.slot] as Lease).acquire()) return;
      this.o.logger.warn({ slot: this.slot }, 'lost planner member slot');
      this.slot = undefined;
      await this.o.onSlot(null);
    }
    for (let i = 0; i < this.slotLeases.length; i++) {
      if (!(await (this.slotLeases[i] as Lease).acquire())) continue;
      this.slot = i;
      this.o.logger.info({ slot: i }, 'holding planner member slot');
      await this.o.onSlot(i);
      return;
    }
    this.o.logger.warn(
      { slots: this.slotLeases.length },
      'every planner member slot is taken; serving nothing',
    );
  }

  /** Our share: the pipelines rendezvous hashing gives our slot among the live ones. */
  private wanted(): string[] {
    if (this.slot === undefined) return [];
    const me = slotKey(this.slot);
    return this.o.pipelines().filter((p) => preferredOwner(p, this.live) === me);
  }

  /** Graceful: release every pipeline and the slot, so the others take over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.cycle;
    await this.leases?.stop();
    if (this.slot !== undefined) await (this.slotLeases[this.slot] as Lease).release();
    this.slot = undefined;
  }
}
