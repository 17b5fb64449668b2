import type { ClusterView, ImageView, PipelineView, PromotionView, StageView } from '@flotilla/api';
import { type ClusterWire, type DriftRecord, driftByCluster, rolloutState, syncText } from '@flotilla/cli';
import { canApprove, type Identity, parseDuration } from '@flotilla/policy';
import type { PipelineStatus } from './planner-adapter.ts';

// The view types are the console API's schemas (libs/api), which Fastify serializes the answer by.
export type { ClusterView, ImageView, PipelineView, PromotionView, StageView };

function images(list: PipelineStatus['stages'][number]['images']): ImageView[] {
  return list.map((i) => ({
    name: i.name ?? i.repository.split('/').pop() ?? i.repository,
    repository: i.repository,
    tag: i.tag ?? null,
    digest: i.digest,
  }));
}

const digests = (list: readonly { digest: string }[]) =>
  list
    .map((i) => i.digest)
    .sort()
    .join(',');

function cluster(c: ClusterWire, drift: Map<string, number> | undefined): ClusterView {
  const stale = !!c.desired && !!c.health?.bundleDigest && c.health.bundleDigest !== c.desired.bundleDigest;
  return {
    name: c.name,
    path: c.path,
    revision: c.applied?.revision ?? c.desired?.revision ?? null,
    planId: c.desired?.planId ?? null,
    sequence: c.desired?.sequence ?? null,
    bundleDigest: c.desired?.bundleDigest ?? null,
    sync: syncText(c),
    health: c.health?.status ?? 'unknown',
    healthStale: stale,
    drift: drift ? (drift.get(c.name) ?? 0) : null,
    appliedAt: c.applied?.at ?? null,
    lastError: c.lastError
      ? { code: c.lastError.code, message: c.lastError.message, at: c.lastError.at }
      : null,
    renderError: c.lastRenderError
      ? {
          file: c.lastRenderError.file,
          ...(c.lastRenderError.line ? { line: c.lastRenderError.line } : {}),
          code: c.lastRenderError.code,
          message: c.lastRenderError.message,
        }
      : null,
  };
}

/**
 * When promotion into `stage` becomes due by soak: the upstream stage runs images this stage
 * does not, every upstream cluster is healthy on its newest plan, and the soak is counted from
 * the last of them to become healthy (as the planner's `evaluatePromotion` counts it).
 */
export function soakUntil(
  stage: PipelineStatus['stages'][number],
  upstream: PipelineStatus['stages'][number] | undefined,
): string | null {
  if (!upstream || !stage.soak || stage.locked) return null;
  const soakMs = parseDuration(stage.soak);
  if (!soakMs) return null;
  if (upstream.images.length === 0 || digests(upstream.images) === digests(stage.images)) return null;
  let last = 0;
  for (const c of upstream.clusters) {
    const since = c.health?.status === 'healthy' ? Date.parse(c.health.healthySince ?? '') : Number.NaN;
    const onPlan = !c.desired || !c.health?.bundleDigest || c.health.bundleDigest === c.desired.bundleDigest;
    if (Number.isNaN(since) || !onPlan) return null;
    last = Math.max(last, since);
  }
  return upstream.clusters.length > 0 ? new Date(last + soakMs).toISOString() : null;
}

/** The planner's pipelines plus drift from the audit log, shaped for the overview page. */
export function pipelineViews(
  pipelines: readonly PipelineStatus[],
  drift: readonly DriftRecord[] | undefined,
  identity: Identity,
): PipelineView[] {
  const driftMap = drift ? driftByCluster(drift) : undefined;
  return pipelines.map((p) => ({
    name: p.pipeline,
    revision: p.revision,
    stages: p.stages.map((s, i) => {
      const approvers = Array.isArray(s.approvers) ? (s.approvers as string[]) : [];
      const mayApprove = canApprove(
        { name: s.name, clusters: [], promotion: { rule: s.rule, approvers } } as Parameters<
          typeof canApprove
        >[0],
        identity,
      );
      return {
        name: s.name,
        rule: s.rule,
        soak: s.soak ?? null,
        approvers,
        locked: s.locked,
        revision: s.revision,
        images: images(s.images),
        clusters: s.clusters.map((c) => cluster(c, driftMap)),
        promotions: s.promotions.map((pr) => ({
          id: pr.id,
          fromStage: pr.fromStage,
          toStage: pr.toStage,
          status: pr.status,
          rule: pr.rule,
          actor: pr.actor,
          images: images(pr.images),
          approvedBy: pr.approvedBy,
          createdAt: pr.createdAt,
          youMayApprove: pr.status === 'awaiting' && mayApprove,
        })),
        rollout: rolloutState(s),
        soakUntil: soakUntil(s, p.stages[i - 1]),
      };
    }),
  }));
}
