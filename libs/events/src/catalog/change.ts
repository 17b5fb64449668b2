import { Type } from '@sinclair/typebox';
import { defineEvent } from '../define-event.ts';
import { Digest, GitSha, Message, Name, ObjectRefText, PipelineRef } from '../shared-schemas.ts';

const Actor = Type.String({ minLength: 1, maxLength: 256 });
const Refs = Type.Array(ObjectRefText, { maxItems: 500 });

/** Someone who wrote a commit of the change, from Git (self-asserted unless signed). */
const ChangeAuthor = Type.Object({
  commit: GitSha,
  author: Type.Object({ name: Type.String({ maxLength: 256 }), email: Type.String({ maxLength: 256 }) }),
  committer: Type.Object({ name: Type.String({ maxLength: 256 }), email: Type.String({ maxLength: 256 }) }),
});

/**
 * How a change to a gated stage reached it: `standard` (approved by someone other than its
 * authors), `emergency` (break-glass: separation of duties waived, reason required, flagged in
 * every export for review).
 */
export const ChangeKind = Type.Union([Type.Literal('standard'), Type.Literal('emergency')]);

const ChangeFields = {
  pipeline: PipelineRef,
  changeId: Name,
  stage: Name,
  cluster: Name,
  revision: GitSha,
};

export const ChangeAwaitingApproval = defineEvent({
  name: 'ChangeAwaitingApproval',
  domain: 'change',
  event: 'awaiting-approval',
  description:
    "A commit changed a manual stage's rendered output without a promotion (an edit of the stage's files or a shared base): the plan is held until someone other than its authors approves.",
  producers: ['planner'],
  scope: (d) => d.stage,
  data: Type.Object({
    ...ChangeFields,
    /**
     * What runs now (the revision of the last plan issued); absent for a cluster's first plan,
     * when nothing runs yet and the diff lists every object as added.
     */
    fromRevision: Type.Optional(GitSha),
    bundleDigest: Digest,
    /** Object-level diff against what runs: object names only, never their content. */
    diff: Type.Object({ added: Refs, removed: Refs, changed: Refs }),
    /** Commits since what runs that touched the stage's files or shared files, not the planner's own. */
    commits: Type.Array(ChangeAuthor, { maxItems: 200 }),
    approvers: Type.Array(Type.String()),
  }),
});

export const ChangeApproved = defineEvent({
  name: 'ChangeApproved',
  domain: 'change',
  event: 'approved',
  description:
    'A held change to a manual stage was approved; its plan follows. `emergency` approvals waive separation of duties and are flagged for review.',
  producers: ['planner'],
  scope: (d) => d.stage,
  data: Type.Object({
    ...ChangeFields,
    bundleDigest: Digest,
    approver: Actor,
    kind: ChangeKind,
    /** Why: required for an emergency approval. */
    reason: Type.Optional(Message),
    /** The change's authors and committers (emails); the approver is none of them unless `emergency`. */
    authors: Type.Array(Type.String({ maxLength: 256 }), { maxItems: 200 }),
  }),
});

export const ChangeApprovalRefused = defineEvent({
  name: 'ChangeApprovalRefused',
  domain: 'change',
  event: 'approval-refused',
  description:
    'An approval of a held change was refused: the actor may not approve the stage, or authored or committed the change.',
  producers: ['planner'],
  scope: (d) => d.stage,
  data: Type.Object({
    ...ChangeFields,
    by: Actor,
    code: Type.Union([
      Type.Literal('unauthorised'),
      Type.Literal('separation-of-duties'),
      Type.Literal('reason-required'),
    ]),
    reason: Message,
  }),
});
