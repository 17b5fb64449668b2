import { performance } from 'node:perf_hooks';
import { FlotillaError, messageOf } from '@flotilla/errors';
import type { KubeObject } from '@flotilla/manifests';
import { CORE_RESOURCES, type KubeClient } from './kube-client.ts';
import { isKubeApiError } from './kube-errors.ts';

export interface LeaderLeaseOptions {
  namespace: string;
  name: string;
  identity: string;
  /** How long a holder's claim lasts without renewal. Default 15 s. */
  durationSeconds?: number;
  /** Renew / retry period. Default a third of the duration. */
  renewEveryMs?: number;
  onAcquired?: () => void | Promise<void>;
  /**
   * `released`: we gave it up in {@link LeaderLease.stop} (a clean shutdown, nothing wrong);
   * `lost`: another holder has it, or our claim ran out before we could renew it.
   */
  onLost?: (reason: 'lost' | 'released') => void | Promise<void>;
  onError?: (err: unknown) => void;
  /** Monotonic clock in ms (never wall time); tests inject one to simulate a paused process. */
  clock?: () => number;
}

interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

/** RFC 3339 with microseconds, as `MicroTime` fields expect. */
const microTime = (d = new Date()) => d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

/**
 * Leader election on a `coordination.k8s.io/v1` Lease (client-go's scheme): the holder renews
 * `renewTime`; anyone may take over a lease not renewed within its duration. Every write carries
 * the resourceVersion it read, so two candidates can never both win.
 *
 * No clock but our own is trusted, as in client-go: `renewTime` is written for people reading the
 * Lease, but a contender judges expiry from how long it has seen the same resourceVersion on its own
 * monotonic clock, and the holder counts its claim from when it sent its last successful write. The
 * fencing token of a tenure is `leaseTransitions` after our takeover (monotonic per Lease).
 */
export class LeaderLease {
  private timer: NodeJS.Timeout | undefined;
  private leader = false;
  private stopped = false;
  private running: Promise<void> = Promise.resolve();
  /** Our clock when we sent the last write that succeeded. */
  private renewedAt = 0;
  private token: number | undefined;
  /** The resourceVersion of somebody else's Lease we last saw, and when (our clock) we first saw it. */
  private observed: { version: string; at: number } | undefined;

  constructor(
    private readonly client: KubeClient,
    private readonly opts: LeaderLeaseOptions,
  ) {}

  private now(): number {
    return (this.opts.clock ?? performance.now.bind(performance))();
  }

  /** True while we hold the Lease and our claim has not run out on our own clock. */
  get isLeader(): boolean {
    return this.leader && this.now() < this.renewedAt + this.duration * 1000;
  }

  /**
   * Call right before a leader action: the fencing token to attach, or `kube.lease-lost` when our
   * claim has run out (a process paused past the duration must not act when it resumes).
   */
  fence(): number {
    if (!this.isLeader || this.token === undefined)
      throw new FlotillaError(
        'kube.lease-lost',
        `lease ${this.opts.namespace}/${this.opts.name} is not held by ${this.opts.identity}; not acting`,
        { disposition: 'wait' },
      );
    return this.token;
  }

  private get duration(): number {
    return this.opts.durationSeconds ?? 15;
  }

  start(): void {
    const period = this.opts.renewEveryMs ?? Math.floor((this.duration * 1000) / 3);
    const tick = () => {
      this.running = this.tryOnce()
        .then(() => undefined)
        .catch((err) => this.opts.onError?.(err))
        .finally(() => {
          if (!this.stopped) this.timer = setTimeout(tick, period);
        });
    };
    tick();
  }

  /** Stops renewing and releases the lease if we hold it, so a standby takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
    if (this.leader) {
      try {
        const lease = await this.read();
        if (lease && (lease.spec as LeaseSpec | undefined)?.holderIdentity === this.opts.identity) {
          const spec = lease.spec as LeaseSpec;
          lease.spec = {
            ...spec,
            holderIdentity: undefined,
            leaseDurationSeconds: 1,
            renewTime: microTime(new Date(0)),
          };
          await this.client.replace(CORE_RESOURCES.lease, lease);
        }
      } catch (err) {
        this.opts.onError?.(err);
      }
      await this.setLeader(false, 'released');
    }
  }

  private async read(): Promise<KubeObject | undefined> {
    return await this.client.get(CORE_RESOURCES.lease, {
      group: 'coordination.k8s.io',
      kind: 'Lease',
      namespace: this.opts.namespace,
      name: this.opts.name,
    });
  }

  private async setLeader(value: boolean, reason: 'lost' | 'released' = 'lost'): Promise<void> {
    if (value === this.leader) return;
    this.leader = value;
    if (!value) this.token = undefined;
    if (value) await this.opts.onAcquired?.();
    else await this.opts.onLost?.(reason);
  }

  /** Has another holder's Lease stood unchanged for its duration, on our clock since we first saw it? */
  private expired(lease: KubeObject, spec: LeaseSpec): boolean {
    const version = `${lease.metadata?.resourceVersion ?? ''}/${spec.holderIdentity ?? ''}/${spec.renewTime ?? ''}`;
    const now = this.now();
    if (this.observed?.version !== version) {
      this.observed = { version, at: now };
      return false;
    }
    return now - this.observed.at >= (spec.leaseDurationSeconds ?? this.duration) * 1000;
  }

  /** One round: create, renew, take over an expired lease, or observe another holder. */
  async tryOnce(): Promise<boolean> {
    const now = new Date();
    const sentAt = this.now();
    const me = this.opts.identity;
    try {
      const lease = await this.read();
      if (!lease) {
        await this.client.create(CORE_RESOURCES.lease, {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: this.opts.name, namespace: this.opts.namespace },
          spec: {
            holderIdentity: me,
            leaseDurationSeconds: this.duration,
            acquireTime: microTime(now),
            renewTime: microTime(now),
            leaseTransitions: 0,
          },
        });
        this.renewedAt = sentAt;
        this.token = 0;
        await this.setLeader(true);
        return true;
      }
      const spec = (lease.spec ?? {}) as LeaseSpec;
      if (spec.holderIdentity && spec.holderIdentity !== me && !this.expired(lease, spec)) {
        await this.setLeader(false);
        return false;
      }
      const takeover = spec.holderIdentity !== me;
      lease.spec = {
        ...spec,
        holderIdentity: me,
        leaseDurationSeconds: this.duration,
        renewTime: microTime(now),
        ...(takeover
          ? { acquireTime: microTime(now), leaseTransitions: (spec.leaseTransitions ?? 0) + 1 }
          : {}),
      };
      await this.client.replace(CORE_RESOURCES.lease, lease);
      this.renewedAt = sentAt;
      this.observed = undefined;
      if (takeover || this.token === undefined) this.token = (lease.spec as LeaseSpec).leaseTransitions ?? 0;
      await this.setLeader(true);
      return true;
    } catch (err) {
      // Lost a race (someone else wrote first): not the leader this round.
      if (isKubeApiError(err, 'kube.conflict') || isKubeApiError(err, 'kube.already-exists')) {
        await this.setLeader(false);
        return false;
      }
      // Could not renew: once our claim has run out, another replica may act; so must we stop.
      if (this.leader && this.renewedAt + this.duration * 1000 < this.now()) await this.setLeader(false);
      throw new Error(`lease ${this.opts.namespace}/${this.opts.name}: ${messageOf(err)}`, { cause: err });
    }
  }
}
