import { definitionForType, type FlotillaEvent, type ImageRef } from '@flotilla/events';

/**
 * The fields an auditor filters and reads by, lifted out of each event's payload so that
 * `jq 'select(.cluster == "prod-eu")'` works on the raw log and the query API needs no
 * per-type knowledge. Derived only from the event itself, so the record stays reproducible.
 */
export interface Summary {
  cluster?: string;
  stage?: string;
  fromStage?: string;
  repo?: string;
  /** Config revision the event is about (plan, apply, health, source of a promotion). */
  revision?: string;
  /** A commit Flotilla wrote (promotion, rollback, image update). */
  commit?: string;
  planId?: string;
  promotionId?: string;
  /** Plan bundle digest, or the image digest for image events. */
  digest?: string;
  images?: string[];
  apps?: string[];
  author?: string;
  approvers?: string[];
  by?: string;
  result?: string;
  code?: string;
  reason?: string;
}

export const SUMMARY_KEYS = [
  'cluster',
  'stage',
  'fromStage',
  'repo',
  'revision',
  'commit',
  'planId',
  'promotionId',
  'digest',
  'images',
  'apps',
  'author',
  'approvers',
  'by',
  'result',
  'code',
  'reason',
] as const satisfies ReadonlyArray<keyof Summary>;

/** `PlanCreated` for `io.flotilla.plan.created.v1`; the type itself for events we do not know. */
export function eventName(type: string): string {
  return definitionForType(type)?.name ?? type;
}

const imageText = (i: ImageRef) => `${i.repository}${i.tag ? `:${i.tag}` : ''}@${i.digest}`;
const appsOf = (images: ImageRef[]) => [
  ...new Set(images.map((i) => i.name).filter((n): n is string => !!n)),
];

// biome-ignore lint/suspicious/noExplicitAny: payloads are validated against the catalog before they reach us.
type Data = Record<string, any>;

export function summarize(event: FlotillaEvent): Summary {
  const d = (event.data ?? {}) as Data;
  const s: Summary = {};
  switch (eventName(event.type)) {
    case 'GitCommitDetected':
      Object.assign(s, {
        repo: d.repo,
        revision: d.sha,
        author: `${d.author?.name} <${d.author?.email}>`,
        result: `signature-${d.signature?.status}`,
      });
      break;
    case 'GitHistoryRewritten':
      Object.assign(s, { repo: d.repo, revision: d.newSha, result: d.action });
      break;
    case 'GitCommitRejected':
      Object.assign(s, {
        repo: d.repo,
        revision: d.sha,
        code: d.code,
        reason: d.message,
        result: 'rejected',
      });
      break;
    case 'GitSourceFailed':
      Object.assign(s, { repo: d.repo, code: d.code, reason: d.message, result: 'failed' });
      break;
    case 'ImageTagDetected':
      Object.assign(s, { images: [`${d.image}:${d.tag}@${d.digest}`], digest: d.digest, result: 'detected' });
      break;
    case 'ImageTagMoved':
      Object.assign(s, { images: [`${d.image}:${d.tag}@${d.digest}`], digest: d.digest, result: 'moved' });
      break;
    case 'ImageScanFailed':
      Object.assign(s, { images: [d.image], code: d.code, reason: d.message, result: 'failed' });
      break;
    case 'ImageUpdateCommitted':
      Object.assign(s, {
        stage: d.stage,
        commit: d.commit,
        digest: d.digest,
        images: [`${d.image}:${d.tag}@${d.digest}`],
        apps: [d.policy],
        result: 'committed',
      });
      break;
    case 'PlanCreated':
      Object.assign(s, {
        cluster: d.cluster,
        stage: d.stage,
        repo: d.repo,
        revision: d.revision,
        planId: d.planId,
        digest: d.bundle?.digest,
        result: 'planned',
      });
      break;
    case 'RenderFailed':
      Object.assign(s, {
        cluster: d.cluster,
        stage: d.stage,
        repo: d.repo,
        revision: d.revision,
        code: d.code,
        reason: d.message,
        result: 'failed',
      });
      break;
    case 'ApplyStarted':
    case 'ApplySucceeded':
    case 'ApplyFailed':
      Object.assign(s, {
        cluster: d.cluster,
        planId: d.planId,
        revision: d.revision,
        digest: d.bundleDigest,
        code: d.code,
        reason: d.message,
        result: { ApplyStarted: 'started', ApplySucceeded: 'succeeded', ApplyFailed: 'failed' }[
          eventName(event.type) as 'ApplyStarted'
        ],
      });
      break;
    case 'HealthChanged':
      Object.assign(s, {
        cluster: d.cluster,
        planId: d.planId,
        revision: d.revision,
        digest: d.bundleDigest,
        result: d.status,
      });
      break;
    case 'DriftDetected':
    case 'DriftCorrected':
      Object.assign(s, {
        cluster: d.cluster,
        revision: d.revision,
        reason: d.object,
        result: eventName(event.type) === 'DriftDetected' ? `drift-${d.policy}` : 'corrected',
      });
      break;
    case 'PromotionProposed':
      Object.assign(s, {
        promotionId: d.promotionId,
        fromStage: d.fromStage,
        stage: d.toStage,
        revision: d.revision,
        images: d.images?.map(imageText),
        apps: appsOf(d.images ?? []),
        result: `proposed-${d.rule}`,
      });
      break;
    case 'PromotionAwaitingApproval':
      Object.assign(s, {
        promotionId: d.promotionId,
        fromStage: d.fromStage,
        stage: d.toStage,
        images: d.images?.map(imageText),
        apps: appsOf(d.images ?? []),
        result: 'awaiting-approval',
      });
      break;
    case 'PromotionApproved':
      Object.assign(s, {
        promotionId: d.promotionId,
        stage: d.toStage,
        approvers: [d.approver],
        reason: d.comment,
        result: 'approved',
      });
      break;
    case 'PromotionRejected':
      Object.assign(s, {
        promotionId: d.promotionId,
        stage: d.toStage,
        by: d.by,
        reason: d.reason,
        result: d.kind,
      });
      break;
    case 'PromotionCommitted':
      Object.assign(s, {
        promotionId: d.promotionId,
        fromStage: d.fromStage,
        stage: d.toStage,
        commit: d.commit,
        revision: d.sourceRevision,
        images: d.images?.map(imageText),
        apps: appsOf(d.images ?? []),
        approvers: d.approvedBy,
        result: 'committed',
      });
      break;
    case 'RollbackCommitted':
      Object.assign(s, {
        stage: d.stage,
        commit: d.commit,
        revision: d.toRevision,
        by: d.by,
        reason: d.reason,
        result: 'rollback',
      });
      break;
    case 'StageLockChanged':
      Object.assign(s, {
        stage: d.stage,
        by: d.by,
        reason: d.reason,
        result: d.locked ? 'locked' : 'unlocked',
      });
      break;
    case 'OperationRefused':
      Object.assign(s, {
        stage: d.stage,
        by: d.by,
        code: d.code,
        reason: d.reason,
        revision: d.revision,
        result: 'refused',
      });
      break;
    case 'ChangeAwaitingApproval':
      Object.assign(s, {
        stage: d.stage,
        cluster: d.cluster,
        revision: d.revision,
        digest: d.bundleDigest,
        result: 'awaiting-approval',
      });
      break;
    case 'ChangeApproved':
      // `emergency` shows in the result itself, so no reader of the log can miss a break-glass.
      Object.assign(s, {
        stage: d.stage,
        cluster: d.cluster,
        revision: d.revision,
        digest: d.bundleDigest,
        approvers: [d.approver],
        reason: d.reason,
        result: d.kind === 'emergency' ? 'approved-emergency' : 'approved',
      });
      break;
    case 'ChangeApprovalRefused':
      Object.assign(s, {
        stage: d.stage,
        cluster: d.cluster,
        revision: d.revision,
        by: d.by,
        code: d.code,
        reason: d.reason,
        result: 'refused',
      });
      break;
    case 'WebhookRejected':
      Object.assign(s, { code: d.reason, reason: d.message, result: 'rejected' });
      break;
    case 'ApiRequestRefused':
      Object.assign(s, {
        by: d.by,
        code: d.code,
        reason: `${d.status} ${d.route}${d.suppressedBefore ? ` (${d.suppressedBefore} more held back)` : ''}`,
        result: 'refused',
      });
      break;
    case 'DeadLettered':
      Object.assign(s, { code: d.code, reason: d.reason, result: 'dead-lettered' });
      break;
  }
  // Drop absent fields: records hold no `undefined` (canonical JSON would omit them anyway, but
  // an explicit shape keeps the line and the object identical).
  for (const k of SUMMARY_KEYS) {
    const v = s[k];
    if (v === undefined || v === null || (Array.isArray(v) && v.length === 0)) delete s[k];
  }
  return s;
}
