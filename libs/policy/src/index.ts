// @flotilla/policy: the pure decisions the planner makes. No I/O, no clocks (callers pass `now`).

export { parseDuration } from './duration.ts';
export {
  applyImageUpdate,
  findMarkers,
  type ImageUpdate,
  type ImageUpdateChange,
  type ImageUpdateResult,
  type Marker,
  type MarkerField,
  parseMarkerValue,
} from './image-setters.ts';
export {
  formatPipelineIssue,
  issueAt,
  loadPipeline,
  type ParsePipelineResult,
  type PipelineIssue,
  type PipelineIssueCode,
  parsePipeline,
} from './parse-pipeline.ts';
export {
  canApprove,
  clustersOf,
  findStage,
  firstStage,
  type Identity,
  nextStage,
  previousStage,
  stageOfCluster,
  stageOrder,
} from './pipeline.ts';
export {
  type Cluster,
  type ImageSpec,
  type Pipeline,
  PipelineSchema,
  type Promotion,
  type Stage,
  type Tenant,
} from './pipeline-schema.ts';
export {
  type DeclaredPipeline,
  isPipelineFile,
  MAX_PIPELINES,
  PIPELINES_DIR,
  type PipelineFile,
  type PipelineSet,
  parsePipelineSet,
  type RefusedPipeline,
  ROOT_PIPELINE_FILE,
} from './pipeline-set.ts';
export { POLICY_ERROR_CODES, PolicyError, type PolicyErrorCode } from './policy-error.ts';
export {
  type BlockedCode,
  type ClusterHealth,
  evaluatePromotion,
  type HealthStatus,
  type PromotionDecision,
  type PromotionInput,
  type WaitCode,
} from './promotion.ts';
export {
  isOpenPromotion,
  next as nextPromotion,
  OPEN_PROMOTION,
  type PromotedImage,
  type PromotionEffect,
  type PromotionInput as PromotionStepInput,
  type PromotionRecord,
  type PromotionRefusal,
  type PromotionStatus,
  type PromotionStep,
  UNDECIDED_PROMOTION,
} from './promotion-state.ts';
export {
  formatRoleGrant,
  hasRole,
  hasRoleIn,
  isStageOperator,
  parseRoleGrant,
  ROLES,
  type Role,
  type RoleGrant,
  type RoleScope,
} from './roles.ts';
export {
  type Comparator,
  parseSemverRange,
  parseTagVersion,
  type RangeOperator,
  type SemverRange,
  satisfiesRange,
} from './semver-range.ts';
export {
  type ChangeCommit,
  changePeople,
  commitsBy,
  type GitPerson,
  isSamePerson,
} from './separation-of-duties.ts';
export {
  compileTagPattern,
  compileTagPolicy,
  expandTemplate,
  type SelectedTag,
  type SortOrder,
  selectLatestTag,
  type TagFilter,
  type TagPolicy,
  type TagPolicyChoice,
  type TagSelector,
} from './tag-policy.ts';
export { isWithinWindow, nextWindowStart, type TimeWindow, type Weekday } from './time-window.ts';
