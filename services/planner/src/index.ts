export { registerApi } from './api.ts';
export { parseRecipients } from './cluster-bundles.ts';
export { Config } from './config.ts';
export { ConfigRepo } from './config-repo.ts';
export { HISTORY_SUBJECTS, readHistory } from './history.ts';
export { type FoundImage, parseImageReference, readMarkedImages, rewriteImages } from './image-refs.ts';
export { isOperationError, OperationError, type OperationFailure } from './operation-error.ts';
export { PlannerOperations } from './operations.ts';
export {
  MAX_PIPELINE_BYTES,
  type PipelineFilesRead,
  pipelineSetOf,
  readPipelineFiles,
} from './pipeline-files.ts';
export { Planner, type PlannerOptions } from './planner.ts';
export { type RenderProblem, type RenderResult, renderCluster } from './render.ts';
export { LEADER_BUCKET, type PlannerHandle, repoNameOf, startPlanner } from './service.ts';
export { PlannerState, promotionId } from './state.ts';
