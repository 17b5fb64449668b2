// The life of one promotion as a pure state machine: `next(record, input)` says what the record
// becomes and which effects (save, publish, commit) the planner must carry out, in order. The
// planner only executes effects; every rule about which status may follow which lives here, so
// "which promotions are open" has one answer.

export type PromotionStatus =
  | 'proposed'
  | 'awaiting'
  | 'approved'
  | 'committing'
  | 'committed'
  | 'rejected'
  | 'noop'
  | 'cancelled';

/** Promotions still moving: resumed after a restart, cancelled by a lock. */
export const OPEN_PROMOTION: ReadonlySet<PromotionStatus> = new Set([
  'proposed',
  'awaiting',
  'approved',
  'committing',
]);

/** Promotions nobody acted on yet: a newer proposal for the same stage replaces them. */
export const UNDECIDED_PROMOTION: ReadonlySet<PromotionStatus> = new Set(['proposed', 'awaiting']);

export const isOpenPromotion = (status: PromotionStatus): boolean => OPEN_PROMOTION.has(status);

/** An image as promoted (structurally the events' ImageRef; policy does not depend on events). */
export interface PromotedImage {
  name?: string;
  repository: string;
  tag?: string;
  digest: string;
}

export interface PromotionRecord {
  id: string;
  fromStage: string;
  toStage: string;
  /** Upstream revision whose images are promoted. */
  revision: string;
  images: PromotedImage[];
  rule: 'auto' | 'manual';
  status: PromotionStatus;
  /** Who started it: `service:planner` for automatic ones, `user:<name>` for promote-now. */
  actor: string;
  approvedBy: string[];
  /** Refused decisions (unauthorised approvers), kept with the promotion. */
  refusals: Array<{ by: string; at: string; reason: string }>;
  rejectedBy?: string;
  reason?: string;
  commit?: string;
  correlationId?: string;
  /**
   * The API requests that decided it (idempotency keys, as the planner records them) and when;
   * a retry is answered from here while the key lives. Bare tags: records written before keys
   * expired (dated by `updatedAt`).
   */
  requests?: Array<{ tag: string; at: string } | string>;
  createdAt: string;
  updatedAt: string;
}

export type PromotionInput =
  /** Carry the promotion as far as it goes without a person (proposal, announcement, commit). */
  | { type: 'advance' }
  | { type: 'approve'; actor: string; comment?: string; stageLocked: boolean }
  | { type: 'reject'; actor: string; reason: string }
  /** An identity without approval rights tried to decide; recorded, the status is unchanged. */
  | { type: 'refuse'; actor: string; reason: string; at: string }
  /** Replaced by a newer proposal for the same stage; only undecided promotions are replaced. */
  | { type: 'supersede'; by: string }
  /** Stopped by a person or a lock; any open promotion. */
  | { type: 'cancel'; reason: string }
  | { type: 'committed'; commit: string }
  | { type: 'nothing-to-commit'; reason: string };

export type PromotionEffect =
  | { type: 'save' }
  | { type: 'publish-proposed'; correlationId: string }
  | { type: 'publish-awaiting' }
  | { type: 'publish-approved'; approver: string; comment?: string }
  | { type: 'publish-rejected'; by: string; reason: string; kind: 'rejected' | 'unauthorised' }
  /** Write the promotion's images into the target stage and push; answers `committed` or `nothing-to-commit`. */
  | { type: 'commit' }
  | { type: 'publish-committed' };

export type PromotionRefusal = { code: 'not-awaiting' | 'locked'; message: string };

export interface PromotionStep {
  record: PromotionRecord;
  effects: PromotionEffect[];
  /** Set when the input is not allowed in the record's status; record and effects are unchanged. */
  refused?: PromotionRefusal;
}

const same = (record: PromotionRecord): PromotionStep => ({ record, effects: [] });

/**
 * The promotion after `input`, and the effects to carry out in order. Pure: the caller saves
 * and publishes; `updatedAt` is stamped by whoever saves.
 */
export function next(record: PromotionRecord, input: PromotionInput): PromotionStep {
  const r = record;
  switch (input.type) {
    case 'advance':
      return advance(r);
    case 'approve': {
      // A retried approval whose first answer was lost (failover, timeout): same decision,
      // same result; an approved one is carried on (the commit is found by its trailer).
      if (r.approvedBy.includes(input.actor) && r.status !== 'awaiting')
        return r.status === 'approved' ? advance(r) : same(r);
      if (r.status !== 'awaiting') return refuse(r, 'not-awaiting', `promotion ${r.id} is ${r.status}`);
      if (input.stageLocked) return refuse(r, 'locked', `stage ${r.toStage} is locked`);
      const approved: PromotionRecord = {
        ...r,
        approvedBy: [...r.approvedBy, input.actor],
        status: 'approved',
      };
      const then = advance(approved);
      return {
        record: then.record,
        effects: [
          { type: 'save' },
          {
            type: 'publish-approved',
            approver: input.actor,
            ...(input.comment ? { comment: input.comment } : {}),
          },
          ...then.effects,
        ],
      };
    }
    case 'reject':
      if (r.status !== 'awaiting') return refuse(r, 'not-awaiting', `promotion ${r.id} is ${r.status}`);
      return {
        record: { ...r, status: 'rejected', rejectedBy: input.actor, reason: input.reason },
        effects: [
          { type: 'save' },
          { type: 'publish-rejected', by: input.actor, reason: input.reason, kind: 'rejected' },
        ],
      };
    case 'refuse':
      return {
        record: { ...r, refusals: [...r.refusals, { by: input.actor, at: input.at, reason: input.reason }] },
        effects: [
          { type: 'save' },
          {
            type: 'publish-rejected',
            by: input.actor,
            reason: `${input.actor} ${input.reason}`,
            kind: 'unauthorised',
          },
        ],
      };
    case 'supersede':
      if (!UNDECIDED_PROMOTION.has(r.status)) return same(r);
      return {
        record: { ...r, status: 'cancelled', reason: `superseded by ${input.by}` },
        effects: [{ type: 'save' }],
      };
    case 'cancel':
      if (!OPEN_PROMOTION.has(r.status)) return same(r);
      return { record: { ...r, status: 'cancelled', reason: input.reason }, effects: [{ type: 'save' }] };
    case 'committed':
      if (r.status !== 'committing') return same(r);
      return {
        record: { ...r, status: 'committed', commit: input.commit },
        effects: [{ type: 'save' }, { type: 'publish-committed' }],
      };
    case 'nothing-to-commit':
      if (r.status !== 'committing') return same(r);
      return { record: { ...r, status: 'noop', reason: input.reason }, effects: [{ type: 'save' }] };
  }
}

/**
 * proposed → (announce) → awaiting, or committing when no approval is needed (auto, or a manual
 * promotion that already carries an approval); awaiting re-announces itself; approved and
 * committing go to the commit. Finished promotions stay as they are.
 */
function advance(r: PromotionRecord): PromotionStep {
  const effects: PromotionEffect[] = [];
  let record = r;
  if (record.status === 'proposed') {
    // Without a cause the bus makes an event its own correlation id; naming it here keeps every
    // later event of this promotion in the proposal's correlation.
    const correlationId = record.correlationId ?? `${record.id}-proposed`;
    effects.push({ type: 'publish-proposed', correlationId });
    record = {
      ...record,
      correlationId,
      status: record.rule === 'manual' && record.approvedBy.length === 0 ? 'awaiting' : 'committing',
    };
    effects.push({ type: 'save' });
  }
  if (record.status === 'awaiting') {
    effects.push({ type: 'publish-awaiting' });
    return { record, effects };
  }
  if (record.status === 'approved') {
    record = { ...record, status: 'committing' };
    effects.push({ type: 'save' });
  }
  if (record.status === 'committing') effects.push({ type: 'commit' });
  return { record, effects };
}

function refuse(record: PromotionRecord, code: PromotionRefusal['code'], message: string): PromotionStep {
  return { record, effects: [], refused: { code, message } };
}
