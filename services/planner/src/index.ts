export { identify, registerApi } from './api.ts';
export { type ApiToken, Config } from './config.ts';
export { ConfigRepo } from './config-repo.ts';
export { HISTORY_SUBJECTS, readHistory } from './history.ts';
export { type FoundImage, parseImageReference, readMarkedImages, rewriteImages } from './image-refs.ts';
export { type Outcome, Planner, type PlannerOptions } from './planner.ts';
export { type RenderProblem, type RenderResult, renderCluster } from './render.ts';
export { LEADER_BUCKET, type PlannerHandle, repoNameOf, startPlanner } from './service.ts';
export { PlannerState, promotionId } from './state.ts';
