export { BudgetMeter, DEFAULT_BUDGETS, type RenderBudgets, resolveBudgets } from './budgets.ts';
export { KUSTOMIZATION_FILES, type KustomizationWalk, walkKustomization } from './kustomization-walk.ts';
export {
  cachedKustomizePath,
  FLOTILLA_KUSTOMIZE,
  type KustomizeRenderer,
  kustomizeArgs,
  resolveKustomizeRenderer,
} from './kustomize-renderer.ts';
export { listPlainYaml, type PlainFile } from './plain-walk.ts';
export { isRemoteReference, remoteReason } from './remote-reference.ts';
export {
  type RenderCache,
  type RenderOptions,
  type RenderResult,
  type RenderStats,
  renderCluster,
} from './render-cluster.ts';
export { problem, type RenderCode, RenderFailure, type RenderProblem } from './render-problem.ts';
export { type RepoScope, resolveReference } from './repo-files.ts';
export {
  detectIsolation,
  type Isolation,
  resolveExecutable,
  runSandboxed,
  type SandboxOptions,
  type SandboxResult,
  sandboxEnv,
} from './sandbox.ts';
