import { FlotillaError } from '@flotilla/errors';

/** Every refusal and failure a render can report; one registry so callers can switch on them. */
export type RenderCode =
  | 'render.path-missing'
  | 'render.path-traversal'
  | 'render.absolute-path'
  | 'render.remote-reference'
  | 'render.plugin'
  | 'render.helm-refused'
  | 'render.symlink-cycle'
  | 'render.kustomization-cycle'
  | 'render.kustomization-invalid'
  | 'render.kustomization-unknown-field'
  | 'render.kustomize-failed'
  | 'render.budget-files'
  | 'render.budget-bytes'
  | 'render.budget-file-size'
  | 'render.budget-objects'
  | 'render.budget-output'
  | 'render.budget-time'
  | 'render.budget-memory';

/** Why a cluster could not be rendered, precise enough to fix it: repo-relative file and line. */
export interface RenderProblem {
  file: string;
  line?: number;
  column?: number;
  /** A {@link RenderCode}, or a `manifest.*` code from the manifest parser. */
  code: string;
  message: string;
}

/**
 * A render refused or failed. Bad input never improves by retrying, so it stalls; the problem
 * (file, line, code) is what goes into `RenderFailed`.
 */
export class RenderFailure extends FlotillaError {
  constructor(readonly problem: RenderProblem) {
    super(problem.code, problem.message, {
      disposition: 'stall',
      details: { ...problem },
    });
    this.name = 'RenderFailure';
  }
}

export function problem(
  file: string,
  code: RenderCode | (string & {}),
  message: string,
  line?: number,
  column?: number,
): RenderProblem {
  const p: RenderProblem = { file, code, message };
  if (line !== undefined) p.line = line;
  if (column !== undefined) p.column = column;
  return p;
}

export function refuse(
  file: string,
  code: RenderCode | (string & {}),
  message: string,
  line?: number,
  column?: number,
): never {
  throw new RenderFailure(problem(file, code, message, line, column));
}
