// Rendering lives in @flotilla/render, shared with `flotilla render` so a team sees in CI exactly
// what the planner will render: the kustomization walk, the budgets and the sandboxed renderer
// (flotilla-kustomize, or kubectl kustomize where it was not built).
export {
  type RenderBudgets,
  type RenderCache,
  type RenderOptions,
  type RenderProblem,
  type RenderResult,
  renderCluster,
} from '@flotilla/render';
