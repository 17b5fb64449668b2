import { refuse } from './render-problem.ts';

/**
 * What one render may consume. Every limit exists because a config repo is untrusted input: a
 * writer must not be able to stall the planner or exhaust its memory with a commit.
 */
export interface RenderBudgets {
  /** Files (and kustomization loads) the render may touch, counted along every path of the graph. */
  maxFiles: number;
  /** Total bytes of input read from the repo. */
  maxBytes: number;
  /** Largest single file; checked with stat, before the file is read or parsed. */
  maxFileBytes: number;
  /** Objects in the rendered output. */
  maxObjects: number;
  /** Bytes of output from the renderer. */
  maxOutputBytes: number;
  /** Wall time of the whole render, walk and renderer included. */
  timeoutMs: number;
  /** Resident memory of the renderer child process; it is killed beyond this. */
  maxMemoryBytes: number;
}

export const DEFAULT_BUDGETS: Readonly<RenderBudgets> = Object.freeze({
  maxFiles: 20_000,
  maxBytes: 128 * 1024 * 1024,
  maxFileBytes: 8 * 1024 * 1024,
  maxObjects: 20_000,
  maxOutputBytes: 128 * 1024 * 1024,
  timeoutMs: 300_000,
  maxMemoryBytes: 1024 * 1024 * 1024,
});

export function resolveBudgets(overrides: Partial<RenderBudgets> | undefined): RenderBudgets {
  return { ...DEFAULT_BUDGETS, ...overrides };
}

const MiB = 1024 * 1024;
export const formatBytes = (n: number) =>
  n >= MiB ? `${(n / MiB).toFixed(n % MiB === 0 ? 0 : 1)} MiB` : `${n} bytes`;

/**
 * Counts what a render has consumed so far and refuses, naming the budget, the moment one is
 * exceeded. One meter per render; the walk and the renderer share its deadline.
 */
export class BudgetMeter {
  files = 0;
  bytes = 0;
  readonly deadline: number;

  constructor(
    readonly budgets: RenderBudgets,
    now = Date.now(),
  ) {
    this.deadline = now + budgets.timeoutMs;
  }

  /** Milliseconds left before the wall-time budget is spent. */
  remainingMs(): number {
    return Math.max(0, this.deadline - Date.now());
  }

  checkTime(file: string): void {
    if (Date.now() > this.deadline)
      refuse(
        file,
        'render.budget-time',
        `render exceeded its wall-time budget of ${this.budgets.timeoutMs} ms`,
      );
  }

  /** One more file (or kustomization load) touched. */
  countFile(file: string, line?: number, column?: number): void {
    this.files++;
    if (this.files > this.budgets.maxFiles)
      refuse(
        file,
        'render.budget-files',
        `render touches more than ${this.budgets.maxFiles} files (kustomizations counted once per path that reaches them)`,
        line,
        column,
      );
    this.checkTime(file);
  }

  /** A file of `size` bytes is about to be read: refuse by size before any byte is parsed. */
  countBytes(file: string, size: number, line?: number, column?: number): void {
    if (size > this.budgets.maxFileBytes)
      refuse(
        file,
        'render.budget-file-size',
        `file is ${formatBytes(size)}; the limit per file is ${formatBytes(this.budgets.maxFileBytes)}`,
        line,
        column,
      );
    this.bytes += size;
    if (this.bytes > this.budgets.maxBytes)
      refuse(
        file,
        'render.budget-bytes',
        `render reads more than ${formatBytes(this.budgets.maxBytes)} of input`,
        line,
        column,
      );
  }

  checkObjects(file: string, count: number): void {
    if (count > this.budgets.maxObjects)
      refuse(
        file,
        'render.budget-objects',
        `render produced ${count} objects; the limit is ${this.budgets.maxObjects}`,
      );
  }
}
