import { type Disposition, FlotillaError } from '@flotilla/errors';

export interface ObjectProblem {
  object: string;
  code?: string;
  reason: string;
}

/**
 * A plan that cannot be applied (or only partly). Becomes one `ApplyFailed` event: code, message,
 * which objects and why, and whether anything was written.
 */
export class ApplyError extends FlotillaError {
  constructor(
    code: string,
    message: string,
    readonly objects: ObjectProblem[],
    readonly nothingApplied: boolean,
    disposition: Disposition = 'stall',
    cause?: unknown,
  ) {
    super(code, message, { disposition, cause });
    this.name = 'ApplyError';
  }
}

/** "3 objects: a (reason); b (reason); …" for messages; the full list goes in `objects`. */
export function summarize(problems: readonly ObjectProblem[], max = 3): string {
  const head = problems
    .slice(0, max)
    .map((p) => `${p.object}: ${p.reason}`)
    .join('; ');
  return problems.length > max ? `${head}; and ${problems.length - max} more` : head;
}
