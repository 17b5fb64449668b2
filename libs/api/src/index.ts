export {
  type AuditHistoryQuery,
  AuditRecord,
  allAuditRoutes,
  auditRoutes,
  History,
  Verify,
} from './audit.ts';
export { ErrorBody } from './common.ts';
export { defineRoute, type Method, type RouteDefinition, routeSchema } from './define-route.ts';
export { openApiDocument } from './openapi.ts';
export {
  ApproveBody,
  allPlannerRoutes,
  ChangeApprovalBody,
  ClusterDiff,
  ClusterStatus,
  FieldChange,
  HistoryQuery,
  ImageRef,
  PipelineList,
  PipelineStatus,
  PLANNER_PREFIX,
  PromotionStatus,
  plannerRoutes,
  ReasonBody,
  RejectBody,
  RenderedDiffAnswer,
  RollbackBody,
  StageStatus,
  Whoami,
} from './planner.ts';
export {
  allGitWatcherRoutes,
  allRegistryWatcherRoutes,
  gitWatcherRoutes,
  HOOKS_PREFIX,
  registryWatcherRoutes,
} from './watchers.ts';
