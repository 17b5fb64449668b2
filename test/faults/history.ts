/**
 * What happened during a fault run, recorded as it happened (Jepsen's method): every client
 * operation with its outcome, every observation of its effect, every leader action with its
 * fencing token. The checker decides afterwards; nothing here judges.
 */

export type Outcome = 'ok' | 'fail' | 'unknown';

export interface Op {
  id: string;
  /** When the client invoked it (ms, the test process's clock: the one clock of the history). */
  invokedAt: number;
  /** `ok`: acknowledged; `fail`: definitely not done; `unknown`: maybe done (a timeout). */
  outcome: Outcome;
  completedAt?: number;
}

export interface Observation {
  opId: string;
  /** When the effect was seen. */
  at: number;
  /** Identity of the stored copy (stream sequence, commit sha): two keys for one op are a duplicate. */
  key: string;
}

export interface LeaderAction {
  /** Position in the durable order (stream sequence): what receivers see in this order. */
  order: number;
  token: number;
  actor: string;
  what: string;
}

export interface History {
  nemesis: string;
  faults: number;
  ops: Op[];
  observations: Observation[];
  leaderActions: LeaderAction[];
  /**
   * A later op's effect also carries an earlier one's (a newer commit renders all before it): an
   * acknowledged op never seen itself is then converged if a later op was seen, not lost.
   */
  cumulative?: boolean;
  /** Items set aside (dead-lettered) during the run: each is a loss unless an op covers it. */
  deadLettered?: number;
  /**
   * Objects of the last desired state that the system did not hold at the end (missing, or with
   * other content), as read back from it after the faults stopped: each one is a divergence.
   */
  diverged?: string[];
}

export class HistoryRecorder {
  readonly ops: Op[] = [];
  readonly observations: Observation[] = [];
  readonly leaderActions: LeaderAction[] = [];
  faults = 0;
  deadLettered = 0;
  /** Messages read by a second pass over the stream (when the live reader missed something). */
  rereads = 0;
  private readonly byId = new Map<string, Op>();

  constructor(
    readonly nemesis: string,
    private readonly now: () => number = () => performance.now(),
  ) {}

  invoke(id: string): Op {
    const op: Op = { id, invokedAt: this.now(), outcome: 'unknown' };
    this.ops.push(op);
    this.byId.set(id, op);
    return op;
  }

  complete(op: Op, outcome: Outcome): void {
    op.outcome = outcome;
    op.completedAt = this.now();
  }

  observe(opId: string, key: string): void {
    this.observations.push({ opId, key, at: this.now() });
  }

  seen(opId: string): boolean {
    return this.observations.some((o) => o.opId === opId);
  }

  leaderAction(a: LeaderAction): void {
    this.leaderActions.push(a);
  }

  fault(): void {
    this.faults++;
  }

  history(extra: Pick<History, 'cumulative' | 'diverged'> = {}): History {
    return {
      nemesis: this.nemesis,
      faults: this.faults,
      ops: [...this.ops],
      observations: [...this.observations],
      leaderActions: [...this.leaderActions],
      deadLettered: this.deadLettered,
      ...extra,
    };
  }
}
