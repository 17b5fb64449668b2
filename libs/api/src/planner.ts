import { type Static, Type } from '@sinclair/typebox';
import { ErrorBody, IdempotencyKeyHeader, Name, Nullable, TimeQuery } from './common.ts';
import { defineRoute, type RouteDefinition } from './define-route.ts';

/** The planner API under `/api/v1` (services/planner/src/api.ts). Every route needs a bearer token. */
export const PLANNER_PREFIX = '/api/v1';

export const ImageRef = Type.Object({
  name: Type.Optional(Type.String()),
  repository: Type.String(),
  tag: Type.Optional(Type.String()),
  digest: Type.String(),
});

const GitPerson = Type.Object({ name: Type.String(), email: Type.String() });

/** A change to a gated stage waiting for approval; its plan is not issued until then. */
export const HeldChange = Type.Object({
  changeId: Type.String(),
  revision: Type.String(),
  fromRevision: Type.Optional(Type.String({ description: 'the revision of the last plan issued' })),
  contentDigest: Type.String(),
  bundleDigest: Type.String(),
  bundleSize: Type.Integer(),
  objects: Type.Integer(),
  commits: Type.Array(Type.Object({ commit: Type.String(), author: GitPerson, committer: GitPerson })),
  heldAt: Type.String(),
});

export const ClusterStatus = Type.Object({
  name: Type.String(),
  path: Type.String(),
  desired: Nullable(
    Type.Object({
      planId: Type.String(),
      revision: Type.String(),
      bundleDigest: Type.String(),
      sequence: Type.Integer(),
      contentDigest: Type.Optional(Type.String({ description: 'hash of the rendered objects only' })),
      objects: Type.Optional(Type.Integer()),
      createdAt: Type.String(),
    }),
  ),
  renderedRevision: Nullable(Type.String()),
  applied: Nullable(
    Type.Object({
      revision: Type.String(),
      bundleDigest: Type.Optional(Type.String()),
      planId: Type.Optional(Type.String()),
      at: Type.String(),
    }),
  ),
  health: Nullable(
    Type.Object({
      status: Type.String(),
      revision: Type.String(),
      bundleDigest: Type.Optional(Type.String()),
      since: Type.String(),
      healthySince: Type.Optional(Type.String()),
    }),
  ),
  lastError: Nullable(
    Type.Object({
      code: Type.String(),
      message: Type.String(),
      at: Type.String(),
      revision: Type.Optional(Type.String()),
    }),
  ),
  lastRenderError: Nullable(
    Type.Object({
      file: Type.String(),
      line: Type.Optional(Type.Integer()),
      code: Type.String(),
      message: Type.String(),
      revision: Type.String(),
    }),
  ),
  held: Nullable(HeldChange),
});

export const PromotionStatus = Type.Object({
  id: Type.String(),
  fromStage: Type.String(),
  toStage: Type.String(),
  revision: Type.String(),
  images: Type.Array(ImageRef),
  rule: Type.Union([Type.Literal('auto'), Type.Literal('manual')]),
  status: Type.String(),
  actor: Type.String(),
  approvedBy: Type.Array(Type.String()),
  refusals: Type.Optional(
    Type.Array(Type.Object({ by: Type.String(), at: Type.String(), reason: Type.String() }), {
      description: 'decisions refused (unauthorised approvers), kept with the promotion',
    }),
  ),
  rejectedBy: Type.Optional(Type.String()),
  reason: Type.Optional(Type.String()),
  commit: Type.Optional(Type.String()),
  correlationId: Type.Optional(Type.String()),
  requests: Type.Optional(
    Type.Array(
      Type.Union([
        Type.Object({
          tag: Type.String(),
          at: Type.String({ description: 'when it was recorded (ISO 8601)' }),
        }),
        Type.String({ description: 'a tag recorded before keys expired (dated by updatedAt)' }),
      ]),
      {
        description:
          'the requests that decided it (Idempotency-Key tags) and when; a retry is answered from here while its key lives',
      },
    ),
  ),
  createdAt: Type.String(),
  updatedAt: Type.String(),
});

/** Who locked a stage, when and why (`manual`, or `rollback`: locked by the rollback it made). */
export const StageLock = Type.Object({
  by: Type.String(),
  reason: Type.Optional(Type.String()),
  at: Type.String(),
  cause: Type.String(),
});

export const StageStatus = Type.Object({
  name: Type.String(),
  rule: Type.Union([Type.Literal('auto'), Type.Literal('manual')]),
  soak: Type.Optional(Type.String()),
  approvers: Type.Optional(Type.Unknown()),
  locked: Nullable(StageLock),
  revision: Nullable(Type.String()),
  images: Type.Array(ImageRef),
  lastHealthy: Nullable(
    Type.Object({
      revision: Type.String(),
      at: Type.String(),
      content: Type.Optional(
        Type.Record(Type.String(), Type.String(), { description: 'cluster → rendered content digest' }),
      ),
      images: Type.Optional(Type.Array(ImageRef)),
    }),
  ),
  clusters: Type.Array(ClusterStatus),
  promotions: Type.Array(PromotionStatus),
});

/** One changed field; a sensitive one (Secret data, credentials, configured paths) as hashes only. */
// The sensitive form comes first: a serializer picks the first branch a value fits, and every value
// fits the plain form (all optional but `path`), which would drop the hashes and the flag.
export const FieldChange = Type.Union([
  Type.Object({
    path: Type.String(),
    sensitive: Type.Literal(true),
    beforeHash: Type.Optional(Type.String({ description: "`hmac-sha256:<hex>` under the planner's key" })),
    afterHash: Type.Optional(Type.String()),
  }),
  Type.Object({
    path: Type.String({ description: '`.spec.template.spec.containers[name=web].image`' }),
    before: Type.Optional(Type.Unknown({ description: 'absent: the field is new' })),
    after: Type.Optional(Type.Unknown({ description: 'absent: the field is removed' })),
    truncated: Type.Optional(Type.Literal(true, { description: 'a value was cut to 1 KiB of JSON' })),
  }),
]);

export const ObjectChange = Type.Object({
  object: Type.String({ description: '`apps/Deployment shop/web`' }),
  kind: Type.String(),
  change: Type.Union([Type.Literal('added'), Type.Literal('removed'), Type.Literal('changed')]),
  fields: Type.Optional(Type.Array(FieldChange, { description: 'changed objects: at most 50 fields' })),
  moreFields: Type.Optional(Type.Integer({ description: 'changed fields left out' })),
});

/** One cluster: what runs (the last plan's revision) against what would run. */
export const ClusterDiff = Type.Object({
  cluster: Type.String(),
  fromRevision: Nullable(Type.String()),
  toRevision: Type.String(),
  basis: Type.Union([Type.Literal('commit'), Type.Literal('preview')], {
    description: '`preview`: the promotion is not committed yet; its images written into `toRevision`',
  }),
  diff: Type.Optional(
    Type.Object({
      added: Type.Integer(),
      removed: Type.Integer(),
      changed: Type.Integer(),
      unchanged: Type.Integer(),
      objects: Type.Array(ObjectChange, { description: 'at most 200, by name' }),
      moreObjects: Type.Integer({ description: 'objects left out' }),
    }),
  ),
  error: Type.Optional(Type.Object({ code: Type.String(), message: Type.String() })),
});

/** `GET /promotions/:id/diff`, `GET /changes/:id/diff`: the rendered objects a decision changes. */
export const RenderedDiffAnswer = Type.Object({
  kind: Type.Union([Type.Literal('promotion'), Type.Literal('change')]),
  id: Type.String(),
  pipeline: Type.String(),
  stage: Type.String(),
  clusters: Type.Array(ClusterDiff),
});

/** `GET /stages`: where each stage of a pipeline stands. */
const Tenant = Type.Object({ namespace: Type.String(), serviceAccount: Type.String() });

export const PipelineStatus = Type.Object({
  pipeline: Type.String(),
  file: Type.Optional(Type.String({ description: 'the pipeline file in the config repo' })),
  owner: Type.Optional(Type.String()),
  tenant: Type.Optional(Tenant),
  revision: Nullable(Type.String()),
  stages: Type.Array(StageStatus),
});

export const PipelineList = Type.Object({
  revision: Nullable(Type.String()),
  pipelines: Type.Array(
    Type.Object({
      name: Type.String(),
      file: Type.String(),
      owner: Type.Optional(Type.String()),
      tenant: Type.Optional(Tenant),
      stages: Type.Array(Type.String()),
      clusters: Type.Array(Type.String()),
    }),
  ),
});

export const Whoami = Type.Object({
  name: Type.String(),
  groups: Type.Array(Type.String()),
  roles: Type.Array(Type.String({ description: 'role grants, e.g. `approve:shop/prod`' })),
});

export const ApproveBody = Type.Object({ comment: Type.Optional(Type.String({ maxLength: 4096 })) });
export const RejectBody = Type.Object({
  reason: Type.Optional(Type.String({ maxLength: 4096 })),
  comment: Type.Optional(Type.String({ maxLength: 4096 })),
});
export const ChangeApprovalBody = Type.Object({
  /** The recorded break-glass: approves a held change outside the gate, `reason` required by policy. */
  emergency: Type.Optional(Type.Boolean()),
  reason: Type.Optional(Type.String({ maxLength: 4096 })),
  comment: Type.Optional(Type.String({ maxLength: 4096 })),
});
export const ReasonBody = Type.Object({ reason: Type.Optional(Type.String({ maxLength: 4096 })) });
export const RollbackBody = Type.Object({
  toRevision: Type.Optional(Type.String({ maxLength: 256, description: 'a commit the stage ran healthy' })),
  reason: Type.Optional(Type.String({ maxLength: 4096 })),
});
export const HistoryQuery = Type.Object({
  limit: Type.Optional(Type.String({ description: '1 to 5000, default 200' })),
  stage: Type.Optional(Name),
  since: Type.Optional(TimeQuery),
});

/** What an operation (approve, lock, promote…) answers: its own result object. */
const OperationResult = Type.Object({}, { additionalProperties: true });
const Event = Type.Object({}, { additionalProperties: true, description: 'a CloudEvent (libs/events)' });

const refusals = {
  400: { description: 'bad request', schema: ErrorBody },
  401: { description: 'no valid bearer token', schema: ErrorBody },
  403: { description: 'the token lacks the role', schema: ErrorBody },
  404: { description: 'no such pipeline, stage or promotion', schema: ErrorBody },
} as const;
const changing = {
  ...refusals,
  409: { description: 'conflicts with the current state', schema: ErrorBody },
  422: { description: 'not possible as asked', schema: ErrorBody },
  503: { description: 'not the leader, or the config is not loaded yet', schema: ErrorBody },
} as const;

const PipelineParam = { pipeline: Name };

/** A pipeline route, under `/pipelines/:pipeline/…` and (root pipeline) without it. */
function pipelineRoutes<
  P extends Record<string, typeof Name>,
  B extends ReturnType<typeof Type.Object> | undefined,
>(r: Omit<Parameters<typeof defineRoute>[0], 'params' | 'body'> & { params?: P; body?: B }) {
  return [
    defineRoute({ ...r, params: Type.Object({ ...(r.params ?? {}) }), ...(r.body ? { body: r.body } : {}) }),
    defineRoute({
      ...r,
      url: `/pipelines/:pipeline${r.url}`,
      params: Type.Object({ ...PipelineParam, ...(r.params ?? {}) }),
      ...(r.body ? { body: r.body } : {}),
    }),
  ] as const;
}

export const plannerRoutes = {
  whoami: defineRoute({
    method: 'GET',
    url: '/whoami',
    summary: 'Who the token belongs to and its role grants',
    responses: { 200: { description: 'the identity', schema: Whoami }, 401: refusals[401] },
  }),
  pipelines: defineRoute({
    method: 'GET',
    url: '/pipelines',
    summary: 'The pipelines in force that the token may read',
    responses: { 200: { description: 'pipelines', schema: PipelineList }, ...refusals },
  }),
  promotion: defineRoute({
    method: 'GET',
    url: '/promotions/:id',
    summary: 'One promotion, of any pipeline the token may read',
    params: Type.Object({ id: Name }),
    responses: {
      200: { description: 'the promotion', schema: Type.Object({ promotion: PromotionStatus }) },
      ...refusals,
    },
  }),
  promotionDiff: defineRoute({
    method: 'GET',
    url: '/promotions/:id/diff',
    summary:
      "What a promotion changes in its target stage's rendered objects, field by field (secret values as hashes)",
    params: Type.Object({ id: Name }),
    responses: {
      200: { description: 'the diff per cluster', schema: RenderedDiffAnswer },
      ...refusals,
      409: { description: 'the target stage has not been rendered yet', schema: ErrorBody },
      503: { description: 'not the leader', schema: ErrorBody },
    },
  }),
  changeDiff: defineRoute({
    method: 'GET',
    url: '/changes/:id/diff',
    summary: 'What a change held at a gated stage changes, field by field (secret values as hashes)',
    params: Type.Object({ id: Name }),
    responses: {
      200: { description: 'the diff of the held cluster', schema: RenderedDiffAnswer },
      ...refusals,
      503: { description: 'not the leader', schema: ErrorBody },
    },
  }),
  stages: pipelineRoutes({
    method: 'GET',
    url: '/stages',
    summary: "A pipeline's stages, clusters and open promotions",
    responses: { 200: { description: 'status', schema: PipelineStatus }, ...refusals },
  }),
  approve: pipelineRoutes({
    method: 'POST',
    headers: IdempotencyKeyHeader,
    url: '/promotions/:id/approve',
    summary: 'Approve a promotion (approver ≠ author)',
    params: { id: Name },
    body: ApproveBody,
    responses: { 200: { description: 'approved', schema: OperationResult }, ...changing },
  }),
  reject: pipelineRoutes({
    method: 'POST',
    headers: IdempotencyKeyHeader,
    url: '/promotions/:id/reject',
    summary: 'Reject a promotion',
    params: { id: Name },
    body: RejectBody,
    responses: { 200: { description: 'rejected', schema: OperationResult }, ...changing },
  }),
  approveChange: pipelineRoutes({
    method: 'POST',
    headers: IdempotencyKeyHeader,
    url: '/changes/:id/approve',
    summary: 'Approve a change held at a gated stage (`emergency: true` with a reason: break-glass)',
    params: { id: Name },
    body: ChangeApprovalBody,
    responses: { 200: { description: 'approved', schema: OperationResult }, ...changing },
  }),
  promote: pipelineRoutes({
    method: 'POST',
    headers: IdempotencyKeyHeader,
    url: '/stages/:stage/promote',
    summary: 'Promote into a stage now (soak skipped, approvals still required)',
    params: { stage: Name },
    responses: { 200: { description: 'promotion started', schema: OperationResult }, ...changing },
  }),
  lock: pipelineRoutes({
    method: 'POST',
    headers: IdempotencyKeyHeader,
    url: '/stages/:stage/lock',
    summary: 'Lock a stage: no promotion into it until unlocked',
    params: { stage: Name },
    body: ReasonBody,
    responses: { 200: { description: 'locked', schema: OperationResult }, ...changing },
  }),
  unlock: pipelineRoutes({
    method: 'POST',
    headers: IdempotencyKeyHeader,
    url: '/stages/:stage/unlock',
    summary: 'Unlock a stage',
    params: { stage: Name },
    body: ReasonBody,
    responses: { 200: { description: 'unlocked', schema: OperationResult }, ...changing },
  }),
  rollback: pipelineRoutes({
    method: 'POST',
    headers: IdempotencyKeyHeader,
    url: '/stages/:stage/rollback',
    summary: 'Roll a stage back to a revision it ran healthy',
    params: { stage: Name },
    body: RollbackBody,
    responses: { 200: { description: 'rollback committed', schema: OperationResult }, ...changing },
  }),
  history: defineRoute({
    method: 'GET',
    url: '/history',
    summary: 'Recent events of the pipelines the token may read',
    querystring: HistoryQuery,
    responses: {
      200: { description: 'events, oldest first', schema: Type.Object({ events: Type.Array(Event) }) },
      401: refusals[401],
    },
  }),
} as const;

export function allPlannerRoutes(): RouteDefinition[] {
  return Object.values(plannerRoutes).flatMap((r) => (Array.isArray(r) ? [...r] : [r as RouteDefinition]));
}

export type PipelineStatus = Static<typeof PipelineStatus>;
export type StageStatus = Static<typeof StageStatus>;
export type ClusterStatus = Static<typeof ClusterStatus>;
export type PromotionStatus = Static<typeof PromotionStatus>;
export type ImageRef = Static<typeof ImageRef>;
export type HeldChange = Static<typeof HeldChange>;
export type PipelineList = Static<typeof PipelineList>;
export type Whoami = Static<typeof Whoami>;
export type RenderedDiffAnswer = Static<typeof RenderedDiffAnswer>;
export type FieldChange = Static<typeof FieldChange>;
export type ClusterDiff = Static<typeof ClusterDiff>;
export type ApproveBody = Static<typeof ApproveBody>;
export type RejectBody = Static<typeof RejectBody>;
export type ReasonBody = Static<typeof ReasonBody>;
export type ChangeApprovalBody = Static<typeof ChangeApprovalBody>;
export type RollbackBody = Static<typeof RollbackBody>;
export type HistoryQuery = Static<typeof HistoryQuery>;
