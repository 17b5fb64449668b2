import { Type } from '@sinclair/typebox';
import { defineEvent } from '../define-event.ts';
import { GitSha, ImageRef, Message, Name, PipelineRef } from '../shared-schemas.ts';

const Actor = Type.String({ minLength: 1, maxLength: 256 });
const Rule = Type.Union([Type.Literal('auto'), Type.Literal('manual')]);

export const PromotionProposed = defineEvent({
  name: 'PromotionProposed',
  domain: 'promotion',
  event: 'proposed',
  description:
    'A stage was healthy for its soak time; its revision and image digests are proposed for the next stage.',
  producers: ['planner'],
  scope: (d) => d.toStage,
  data: Type.Object({
    pipeline: PipelineRef,
    promotionId: Name,
    fromStage: Name,
    toStage: Name,
    revision: GitSha,
    images: Type.Array(ImageRef),
    rule: Rule,
  }),
});

export const PromotionAwaitingApproval = defineEvent({
  name: 'PromotionAwaitingApproval',
  domain: 'promotion',
  event: 'awaiting-approval',
  description: 'A promotion into a manual stage waits for an authorised approver.',
  producers: ['planner'],
  scope: (d) => d.toStage,
  data: Type.Object({
    pipeline: PipelineRef,
    promotionId: Name,
    fromStage: Name,
    toStage: Name,
    approvers: Type.Array(Type.String()),
    images: Type.Array(ImageRef),
  }),
});

export const PromotionApproved = defineEvent({
  name: 'PromotionApproved',
  domain: 'promotion',
  event: 'approved',
  description: 'An authorised approver approved a promotion.',
  producers: ['planner'],
  scope: (d) => d.toStage,
  data: Type.Object({
    pipeline: PipelineRef,
    promotionId: Name,
    toStage: Name,
    approver: Actor,
    comment: Type.Optional(Message),
  }),
});

export const PromotionRejected = defineEvent({
  name: 'PromotionRejected',
  domain: 'promotion',
  event: 'rejected',
  description: 'A promotion was rejected by an approver, or refused because the actor may not approve.',
  producers: ['planner'],
  scope: (d) => d.toStage,
  data: Type.Object({
    pipeline: PipelineRef,
    promotionId: Name,
    toStage: Name,
    by: Actor,
    reason: Message,
    /** `rejected`: an approver said no; `unauthorised`: the actor was not allowed to decide. */
    kind: Type.Union([Type.Literal('rejected'), Type.Literal('unauthorised')]),
  }),
});

export const PromotionCommitted = defineEvent({
  name: 'PromotionCommitted',
  domain: 'promotion',
  event: 'committed',
  description: "The promoted digests were written to the next stage's config in Git.",
  producers: ['planner'],
  scope: (d) => d.toStage,
  data: Type.Object({
    pipeline: PipelineRef,
    promotionId: Name,
    fromStage: Name,
    toStage: Name,
    commit: GitSha,
    sourceRevision: GitSha,
    images: Type.Array(ImageRef),
    approvedBy: Type.Array(Actor),
  }),
});

export const RollbackCommitted = defineEvent({
  name: 'RollbackCommitted',
  domain: 'promotion',
  event: 'rollback-committed',
  description:
    'A stage was set back to its last healthy revision; automation on it is paused until unlocked.',
  producers: ['planner'],
  scope: (d) => d.stage,
  data: Type.Object({
    pipeline: PipelineRef,
    stage: Name,
    commit: GitSha,
    toRevision: GitSha,
    fromRevision: Type.Optional(GitSha),
    by: Actor,
    reason: Type.Optional(Message),
  }),
});

export const StageLockChanged = defineEvent({
  name: 'StageLockChanged',
  domain: 'promotion',
  event: 'lock-changed',
  description: 'A stage was locked (no automated commits) or unlocked.',
  producers: ['planner'],
  scope: (d) => d.stage,
  data: Type.Object({
    pipeline: PipelineRef,
    stage: Name,
    locked: Type.Boolean(),
    by: Actor,
    reason: Type.Optional(Message),
  }),
});

export const OperationRefused = defineEvent({
  name: 'OperationRefused',
  domain: 'promotion',
  event: 'operation-refused',
  description:
    'An API operation (lock, unlock, rollback, promote, approve, reject, read) was refused: the caller lacks the role, or the rollback target is not one the stage ran.',
  producers: ['planner'],
  scope: (d) => d.stage ?? 'pipeline',
  data: Type.Object({
    pipeline: PipelineRef,
    /** The stage operated on; absent for pipeline-wide reads. */
    stage: Type.Optional(Name),
    operation: Type.Union([
      Type.Literal('lock'),
      Type.Literal('unlock'),
      Type.Literal('rollback'),
      Type.Literal('promote'),
      Type.Literal('approve'),
      Type.Literal('reject'),
      Type.Literal('read'),
    ]),
    by: Actor,
    /** Stable code, the same the API answers: `role-missing`, `not-operator`, `revision-not-on-branch`, … */
    code: Name,
    reason: Message,
    /** The rollback target asked for, when that was what was refused. */
    revision: Type.Optional(Type.String({ maxLength: 256 })),
  }),
});
