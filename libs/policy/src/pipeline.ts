import type { Cluster, Pipeline, Stage } from './pipeline-schema.ts';
import type { RoleGrant } from './roles.ts';

/** Who is asking: a user name and the groups the API's token mapping gives them. */
export interface Identity {
  name: string;
  groups?: readonly string[];
  /** What the token file grants (roles.ts); none means no role at all. */
  roles?: readonly RoleGrant[];
}

type StageRef = string | Pick<Stage, 'name'>;

const nameOf = (s: StageRef): string => (typeof s === 'string' ? s : s.name);

/** Stage names in promotion order. */
export function stageOrder(pipeline: Pipeline): string[] {
  return pipeline.spec.stages.map((s) => s.name);
}

/** The stage that receives image updates directly. */
export function firstStage(pipeline: Pipeline): Stage {
  const first = pipeline.spec.stages[0];
  if (!first) throw new RangeError('pipeline has no stages'); // parsePipeline guarantees at least one
  return first;
}

export function findStage(pipeline: Pipeline, stage: StageRef): Stage | null {
  const name = nameOf(stage);
  return pipeline.spec.stages.find((s) => s.name === name) ?? null;
}

/** The stage promoted to after `stage`, or null for the last stage (or an unknown name). */
export function nextStage(pipeline: Pipeline, stage: StageRef): Stage | null {
  const i = pipeline.spec.stages.findIndex((s) => s.name === nameOf(stage));
  return i < 0 ? null : (pipeline.spec.stages[i + 1] ?? null);
}

/** The stage `stage` is promoted from, or null for the first stage (or an unknown name). */
export function previousStage(pipeline: Pipeline, stage: StageRef): Stage | null {
  const i = pipeline.spec.stages.findIndex((s) => s.name === nameOf(stage));
  return i <= 0 ? null : (pipeline.spec.stages[i - 1] ?? null);
}

export function clustersOf(stage: Stage): Cluster[] {
  return stage.clusters;
}

/** The stage a cluster belongs to (cluster names are unique across a pipeline). */
export function stageOfCluster(pipeline: Pipeline, cluster: string): Stage | null {
  return pipeline.spec.stages.find((s) => s.clusters.some((c) => c.name === cluster)) ?? null;
}

/**
 * May `identity` approve a promotion into `stage`? Only stages with rule `manual` take
 * approvals; an approver entry is a user name or `group:<group>`. Matching is exact and
 * case-sensitive: identities come from the API's token mapping, not from free text.
 */
export function canApprove(stage: Stage, identity: Identity): boolean {
  const promo = stage.promotion;
  if (promo?.rule !== 'manual' || !identity.name) return false;
  const groups = new Set(identity.groups ?? []);
  return (promo.approvers ?? []).some((a) =>
    a.startsWith('group:') ? groups.has(a.slice('group:'.length)) : a === identity.name,
  );
}
