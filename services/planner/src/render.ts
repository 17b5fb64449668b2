// Rendering lives in @flotilla/render, shared with `flotilla render` so a team sees in CI exactly
// what the planner will render: the kustomization walk, the budgets and the sandboxed kubectl.
export {
  type RenderBudgets,
  type RenderCache,
  type RenderOptions,
  type RenderProblem,
  type RenderResult,
  renderCluster,
} from '@flotilla/render';
