export {
  type AuditHistoryQuery,
  AuditRecord,
  allAuditRoutes,
  auditRoutes,
  History,
  Verify,
} from './audit.ts';
export { ErrorBody } from './common.ts';
export {
  allConsoleAuthRoutes,
  allConsoleRoutes,
  CONSOLE_API_PREFIX,
  consoleAuthRoutes,
  consoleRoutes,
  DecisionBody,
  SessionAnswer,
  SignedIn,
  Timeline,
  TimelineRecord,
  UpstreamError,
} from './console.ts';
export { defineRoute, type Method, type RouteDefinition, routeSchema } from './define-route.ts';
export { openApiDocument } from './openapi.ts';
export {
  ApproveBody,
  allPlannerRoutes,
  ChangeApprovalBody,
  ClusterDiff,
  ClusterStatus,
  FieldChange,
  HeldChange,
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
  GitWebhookAccepted,
  GitWebhookIgnored,
  gitWatcherRoutes,
  HOOKS_PREFIX,
  ImageWebhookAccepted,
  registryWatcherRoutes,
} from './watchers.ts';
