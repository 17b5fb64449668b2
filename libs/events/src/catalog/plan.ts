import { Type } from '@sinclair/typebox';
import { defineEvent } from '../define-event.ts';
import { DateTime, Digest, ErrorCode, GitSha, Message, Name, PipelineRef } from '../shared-schemas.ts';

export const PlanSignature = Type.Object({
  alg: Type.Literal('ed25519'),
  keyId: Type.String({ minLength: 1, maxLength: 128 }),
  value: Type.String({ description: 'base64 signature over the canonical plan payload' }),
});

export const PlanCreated = defineEvent({
  name: 'PlanCreated',
  domain: 'plan',
  event: 'created',
  description:
    "A cluster's desired state at a revision, rendered into a content-addressed bundle and signed.",
  producers: ['planner'],
  scope: (d) => d.cluster,
  data: Type.Object({
    pipeline: PipelineRef,
    planId: Name,
    cluster: Name,
    stage: Name,
    repo: Name,
    revision: GitSha,
    path: Type.String(),
    /** Monotonic per cluster within an epoch: an applier refuses a plan older than the last one it applied. */
    sequence: Type.Integer({ minimum: 1 }),
    /**
     * The planner's leader-lease fencing token. Plans order by (epoch, sequence): a new leader's
     * plans outrank a paused old leader's, and a planner whose state was lost (sequences restart)
     * is not refused forever. Absent in plans from planners before epochs (counts as 0).
     */
    epoch: Type.Optional(Type.Integer({ minimum: 0 })),
    bundle: Type.Object({
      digest: Digest,
      size: Type.Integer({ minimum: 0 }),
      objects: Type.Integer({ minimum: 0 }),
      bucket: Type.String(),
      /**
       * What the bundle applies, without its revision (bundleContentDigest): an applier that
       * already applied this content answers the plan without reading the bundle again. Absent in
       * plans from planners before it (the bundle is then always read).
       */
      contentDigest: Type.Optional(Digest),
    }),
    previousDigest: Type.Optional(Digest),
    /**
     * The pipeline's tenant: the applier applies this plan as that ServiceAccount
     * (Impersonate-User system:serviceaccount:<namespace>:<serviceAccount>), so it can write
     * only where the tenant may.
     */
    tenant: Type.Optional(
      Type.Object({
        namespace: Type.String({ minLength: 1, maxLength: 63 }),
        serviceAccount: Type.String({ minLength: 1, maxLength: 253 }),
      }),
    ),
    createdAt: DateTime,
    signature: Type.Optional(PlanSignature),
  }),
});

export const RenderFailed = defineEvent({
  name: 'RenderFailed',
  domain: 'plan',
  event: 'render-failed',
  description: 'Rendering a cluster or reading flotilla.yaml failed; no plan was published.',
  producers: ['planner'],
  scope: (d) => d.cluster ?? d.repo,
  data: Type.Object({
    pipeline: PipelineRef,
    repo: Name,
    revision: GitSha,
    stage: Type.Optional(Name),
    cluster: Type.Optional(Name),
    file: Type.String(),
    line: Type.Optional(Type.Integer({ minimum: 1 })),
    column: Type.Optional(Type.Integer({ minimum: 1 })),
    code: ErrorCode,
    message: Message,
  }),
});
