/**
 * When each step of one plan's apply ended, in milliseconds since the plan was taken up: logged
 * with `plan applied`, so a slow apply says where its time went (bundle, dry-run, the gap before
 * the first write, each stage, the inventory) without a tracing backend, and bench/applier/mttp.ts
 * reads it to break MTTP down by phase (#20). Offsets rather than durations: steps that overlap
 * (the ownership check runs beside the dry-run) stay readable, and gaps between steps show.
 */
export class PhaseClock {
  private readonly t0: number;
  private readonly ends: Record<string, number> = {};

  constructor(private readonly now: () => number = () => performance.now()) {
    this.t0 = now();
  }

  /** Records that `phase` ended now (a phase marked twice keeps its last end). */
  mark(phase: string): void {
    this.ends[phase] = Math.round(this.now() - this.t0);
  }

  /** Phase → ms since start, in the order the phases were first marked. */
  toJSON(): Record<string, number> {
    return { ...this.ends };
  }
}
