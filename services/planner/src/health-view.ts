import { messageOf } from '@flotilla/errors';
import type { ApplyFailed, ApplySucceeded, EventOf, HealthChanged } from '@flotilla/events';
import type { ClusterHealth, HealthStatus, Stage } from '@flotilla/policy';
import type { Logger } from '@flotilla/runtime';
import type { ClusterState, PlannerState } from './state.ts';

const HEALTH: Record<string, HealthStatus> = {
  Current: 'healthy',
  InProgress: 'progressing',
  Terminating: 'progressing',
  Failed: 'degraded',
  Unknown: 'unknown',
};

/**
 * What the clusters report, folded into the planner's view: applied plans, apply failures and
 * health per cluster, and the healthy states per stage that rollbacks go back to. Each `on*`
 * answers whether it changed the view (so promotions are worth re-evaluating).
 *
 * Times that soak is counted from are the planner's receive times, never the event's `time`:
 * soak ends by the planner's clock, and an applier whose clock is skewed (or an event redelivered
 * late) must not shorten it. Redelivery after a restart can only lengthen it.
 *
 * "The planner's clock" is one instance's: a receive time saved by another planner instance (the
 * leader before a failover, on another machine) is on a wall clock ours cannot be compared with.
 * One 30 s ahead of us would lengthen a soak we finish by a minute; one behind would shorten it,
 * or skip it. So a soak started on another clock is counted again from when this instance first
 * saw it: a failover can lengthen a soak in progress by what had already soaked, never shorten it.
 */
export class HealthView {
  constructor(
    private readonly state: PlannerState,
    private readonly log: Logger,
    /** The planner's clock (injectable for fixture tests). */
    private readonly now: () => Date = () => new Date(),
    /** Names this instance's clock in what it saves (its instance name). */
    private readonly clock = 'planner',
  ) {}

  /** Per cluster: a soak start saved on another clock, and when we first saw it on ours. */
  private readonly foreignSince = new Map<string, { saved: string; at: Date }>();

  known(cluster: string): ClusterState | undefined {
    return this.state.clusters.get(cluster);
  }

  async onApplySucceeded(e: EventOf<typeof ApplySucceeded>): Promise<boolean> {
    const c = this.known(e.data.cluster);
    if (!c) return false;
    c.applied = {
      revision: e.data.revision,
      bundleDigest: e.data.bundleDigest,
      planId: e.data.planId,
      at: e.time,
    };
    delete c.lastError;
    await this.state.saveCluster(c);
    return true;
  }

  async onApplyFailed(e: EventOf<typeof ApplyFailed>): Promise<boolean> {
    const c = this.known(e.data.cluster);
    if (!c) return false;
    c.lastError = {
      code: e.data.code,
      message: e.data.message,
      at: e.time,
      ...(e.data.revision ? { revision: e.data.revision } : {}),
    };
    if (e.data.bundleDigest && e.data.bundleDigest === c.desired?.bundleDigest) {
      c.health = {
        status: 'degraded',
        revision: c.desired.revision,
        bundleDigest: e.data.bundleDigest,
        since: this.now().toISOString(),
      };
    }
    await this.state.saveCluster(c);
    return true;
  }

  async onHealth(e: EventOf<typeof HealthChanged>): Promise<boolean> {
    const c = this.known(e.data.cluster);
    if (!c) return false;
    const status = HEALTH[e.data.status] ?? 'unknown';
    const bundleDigest =
      e.data.bundleDigest ?? (c.applied?.revision === e.data.revision ? c.applied.bundleDigest : undefined);
    const prev = c.health;
    const sameBundle = prev?.bundleDigest === bundleDigest && prev?.revision === e.data.revision;
    const received = this.now().toISOString();
    c.health = {
      status,
      revision: e.data.revision,
      since: received,
      ...(bundleDigest ? { bundleDigest } : {}),
    };
    if (status === 'healthy') {
      const kept = prev?.status === 'healthy' && sameBundle && prev.healthySince ? prev : undefined;
      if (kept?.healthySince) {
        c.health.healthySince = kept.healthySince;
        if (kept.healthyClock) c.health.healthyClock = kept.healthyClock;
      } else {
        c.health.healthySince = received;
        c.health.healthyClock = this.clock;
      }
    }
    await this.state.saveCluster(c);
    return true;
  }

  /**
   * What promotion logic sees for a cluster. Health of anything but the last published plan is
   * "progressing" (the new plan is rolling out). A cluster on its last plan counts as being on
   * the newest rendered revision, since later commits did not change what it runs.
   */
  report(clusterName: string): ClusterHealth | undefined {
    const c = this.known(clusterName);
    const h = c?.health;
    if (!c || !h) return undefined;
    const onDesired = c.desired
      ? h.bundleDigest
        ? h.bundleDigest === c.desired.bundleDigest
        : h.revision === c.desired.revision
      : false;
    if (!onDesired)
      return {
        cluster: clusterName,
        revision: h.revision,
        status: h.status === 'degraded' ? 'degraded' : 'progressing',
      };
    const out: ClusterHealth = {
      cluster: clusterName,
      revision: c.renderedRevision ?? h.revision,
      status: h.status,
    };
    if (h.healthySince) out.healthySince = this.onOurClock(clusterName, h.healthySince, h.healthyClock);
    return out;
  }

  /**
   * A soak start as a time on this instance's clock: ours as saved; another instance's (or one
   * saved before instances named their clock) from when we first saw it, since its wall clock may
   * be off ours by any amount.
   */
  private onOurClock(cluster: string, saved: string, clock: string | undefined): Date {
    if (clock === this.clock) return new Date(saved);
    const seen = this.foreignSince.get(cluster);
    if (seen?.saved === `${clock ?? ''} ${saved}`) return seen.at;
    const at = this.now();
    this.foreignSince.set(cluster, { saved: `${clock ?? ''} ${saved}`, at });
    return at;
  }

  /** cluster → content digest of its last plan: tells a real change from an unrelated commit. */
  contentOf(stage: Stage): Record<string, string> {
    const content: Record<string, string> = {};
    for (const c of stage.clusters) content[c.name] = this.known(c.name)?.desired?.contentDigest ?? '';
    return content;
  }

  /** Remembers a stage's state whenever all its clusters are healthy on their last plans. */
  recordHealthy(stage: Stage): void {
    const reports = stage.clusters.map((c) => this.report(c.name));
    if (reports.some((r) => r?.status !== 'healthy')) return;
    const content = this.contentOf(stage);
    const ss = this.state.stage(stage.name);
    const newest = ss.healthy[0];
    if (newest && sameContent(newest.content, content)) return;
    ss.healthy.unshift({
      revision: reports[0]?.revision ?? ss.revision ?? '',
      at: this.now().toISOString(),
      content,
      images: ss.images,
    });
    ss.healthy = ss.healthy.slice(0, 20);
    void this.state.saveStage(ss).catch((e) => this.log.warn({ err: messageOf(e) }, 'saving stage failed'));
  }
}

export function sameContent(a: Record<string, string>, b: Record<string, string>): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].every((k) => a[k] === b[k]);
}
