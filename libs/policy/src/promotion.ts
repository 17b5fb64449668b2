import { parseDuration } from './duration.ts';
import { findStage, previousStage } from './pipeline.ts';
import type { Pipeline } from './pipeline-schema.ts';
import { isWithinWindow, nextWindowStart } from './time-window.ts';

export type HealthStatus = 'healthy' | 'progressing' | 'degraded' | 'unknown';

/** What one upstream cluster last reported. */
export interface ClusterHealth {
  cluster: string;
  /** Config revision (commit) the cluster has applied. */
  revision: string;
  status: HealthStatus;
  /** When it became healthy on `revision`; soak is counted from here. */
  healthySince?: Date;
}

export interface PromotionInput {
  pipeline: Pipeline;
  /** The stage to promote INTO; its upstream is the stage before it. */
  stage: string;
  upstreamHealth: readonly ClusterHealth[];
  now: Date;
  /** A locked (or rolled-back) stage takes no automated promotions. */
  locked?: boolean;
}

export type WaitCode =
  | 'upstream-unreported'
  | 'upstream-not-healthy'
  | 'upstream-revision-mismatch'
  | 'soak-unknown'
  | 'soaking'
  | 'outside-window';
export type BlockedCode =
  | 'unknown-stage'
  | 'no-upstream'
  | 'locked'
  | 'upstream-degraded'
  | 'window-never-opens';

export type PromotionDecision =
  | { action: 'wait'; code: WaitCode; reason: string; retryAt?: Date }
  | {
      action: 'propose';
      rule: 'auto' | 'manual';
      /** The upstream revision every upstream cluster is healthy on: what gets promoted. */
      revision: string;
    }
  | { action: 'blocked'; code: BlockedCode; reason: string };

/**
 * Should `stage` be offered its upstream's revision now? Pure: same input, same answer, so the
 * planner can re-run it on every health event and after a restart. `propose` with rule
 * `manual` means "ask for approval", never "commit".
 *
 * Rules, in order: the stage exists and is not locked; it has an upstream stage; every
 * upstream cluster has reported, none is degraded, all are healthy on the same revision;
 * that revision has soaked for the stage's `soak` counted from the LAST cluster to become
 * healthy (so every cluster soaked the full time); and `now` is inside a promotion window.
 */
export function evaluatePromotion(input: PromotionInput): PromotionDecision {
  const { pipeline, now } = input;
  const stage = findStage(pipeline, input.stage);
  if (!stage)
    return blocked('unknown-stage', `stage "${input.stage}" is not in pipeline ${pipeline.metadata.name}`);
  if (input.locked)
    return blocked('locked', `stage "${stage.name}" is locked; unlock it to resume promotions`);
  const upstream = previousStage(pipeline, stage);
  if (!upstream) {
    return blocked(
      'no-upstream',
      `stage "${stage.name}" is the first stage: it receives image updates, not promotions`,
    );
  }

  const byCluster = new Map<string, ClusterHealth>();
  for (const h of input.upstreamHealth) byCluster.set(h.cluster, h);
  const reports: ClusterHealth[] = [];
  const missing: string[] = [];
  for (const c of upstream.clusters) {
    const h = byCluster.get(c.name);
    if (h) reports.push(h);
    else missing.push(c.name);
  }
  if (missing.length > 0) {
    return wait(
      'upstream-unreported',
      `no health report yet from ${upstream.name} cluster(s) ${missing.join(', ')}`,
    );
  }
  const degraded = reports.filter((h) => h.status === 'degraded');
  if (degraded.length > 0) {
    return blocked(
      'upstream-degraded',
      `${upstream.name} is degraded on ${degraded.map((h) => `${h.cluster}@${short(h.revision)}`).join(', ')}`,
    );
  }
  const unhealthy = reports.filter((h) => h.status !== 'healthy');
  if (unhealthy.length > 0) {
    return wait(
      'upstream-not-healthy',
      `waiting for ${upstream.name} to be healthy: ${unhealthy.map((h) => `${h.cluster} is ${h.status}`).join(', ')}`,
    );
  }
  const revisions = [...new Set(reports.map((h) => h.revision))];
  const revision = revisions[0] as string;
  if (revisions.length > 1) {
    return wait(
      'upstream-revision-mismatch',
      `${upstream.name} clusters are on different revisions: ${reports.map((h) => `${h.cluster}@${short(h.revision)}`).join(', ')}`,
    );
  }

  const promo = stage.promotion ?? { rule: 'auto' as const };
  const soakMs = promo.soak === undefined ? 0 : (parseDuration(promo.soak) ?? 0);
  if (soakMs > 0) {
    const unknown = reports.filter(
      (h) => !(h.healthySince instanceof Date) || Number.isNaN(h.healthySince.getTime()),
    );
    if (unknown.length > 0) {
      return wait(
        'soak-unknown',
        `soak ${promo.soak} cannot be counted: ${unknown.map((h) => h.cluster).join(', ')} did not say since when it is healthy`,
      );
    }
    const since = Math.max(...reports.map((h) => (h.healthySince as Date).getTime()));
    const due = since + soakMs;
    if (now.getTime() < due) {
      return wait(
        'soaking',
        `${upstream.name} healthy on ${short(revision)} since ${new Date(since).toISOString()}; soak ${promo.soak} ends ${new Date(due).toISOString()}`,
        new Date(due),
      );
    }
  }

  if (!isWithinWindow(promo.windows, now)) {
    const next = nextWindowStart(promo.windows, now);
    if (!next)
      return blocked('window-never-opens', `stage "${stage.name}" has promotion windows that never open`);
    return wait(
      'outside-window',
      `outside the promotion windows of stage "${stage.name}"; next opens ${next.toISOString()}`,
      next,
    );
  }
  return { action: 'propose', rule: promo.rule, revision };
}

function wait(code: WaitCode, reason: string, retryAt?: Date): PromotionDecision {
  return retryAt ? { action: 'wait', code, reason, retryAt } : { action: 'wait', code, reason };
}

function blocked(code: BlockedCode, reason: string): PromotionDecision {
  return { action: 'blocked', code, reason };
}

function short(revision: string): string {
  return /^[0-9a-f]{40,64}$/.test(revision) ? revision.slice(0, 12) : revision;
}
