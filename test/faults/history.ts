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

/** A change entering a stage (the first stage's image commit, or a promotion), in durable order. */
export interface StageEntry {
  /** Stream sequence of the event that reported it: the order receivers see. */
  order: number;
  pipeline: string;
  /** What moves through the stages (an image digest). */
  change: string;
  stage: string;
  /** The promotion that did it (absent for the first stage). */
  promotionId?: string;
}

/** An approval as the system recorded it (`PromotionApproved`). */
export interface Approval {
  order: number;
  promotionId: string;
  approver: string;
}

/** One record of the audit log, as read back from it. */
export interface AuditEntry {
  seq: number;
  /** The recorded event's id. */
  id: string;
  prevHash: string;
  hash: string;
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
  /** Stages of each pipeline in order, and whether entering each one needs an approval. */
  stages?: Record<string, { name: string; approval: boolean }[]>;
  /** Every stage entry observed (checked: no stage skipped, no gated stage without its approval). */
  stageEntries?: StageEntry[];
  approvals?: Approval[];
  /**
   * The audit log read back at the end, in file order, and the event ids it must hold (every
   * acknowledged event of the run): each exactly once, the chain unbroken.
   */
  audit?: { records: AuditEntry[]; expected: string[] };
  /**
   * Behaviour the scenario required and did not see (a service that stayed ready on a full disk,
   * did not resume): each fails the run.
   */
  violations?: string[];
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

  readonly stageEntries: StageEntry[] = [];
  readonly approvals: Approval[] = [];

  enterStage(e: StageEntry): void {
    this.stageEntries.push(e);
  }

  approve(a: Approval): void {
    this.approvals.push(a);
  }

  history(extra: Pick<History, 'cumulative' | 'diverged' | 'stages' | 'audit' | 'violations'> = {}): History {
    return {
      nemesis: this.nemesis,
      faults: this.faults,
      ops: [...this.ops],
      observations: [...this.observations],
      leaderActions: [...this.leaderActions],
      deadLettered: this.deadLettered,
      ...(this.stageEntries.length > 0 ? { stageEntries: [...this.stageEntries] } : {}),
      ...(this.approvals.length > 0 ? { approvals: [...this.approvals] } : {}),
      ...extra,
    };
  }
}
