import { type Static, Type } from '@sinclair/typebox';
import { ErrorBody, IdempotencyKeyHeader, Name, Nullable, TimeQuery } from './common.ts';
import { defineRoute, type RouteDefinition } from './define-route.ts';
import { PromotionStatus, RenderedDiffAnswer, StageLock } from './planner.ts';

/**
 * The console's own HTTP surface (services/console/src/app.ts): sign-in with a sealed cookie
 * session, then `/api/…`, composed from the planner's and the audit-writer's answers with the
 * signed-in person's token. The page is the only client. Every JSON answer is described field by
 * field, the composed views (overview, cluster, promotion, lead times) too: Fastify serializes by
 * these schemas, so the console's view code (services/console/src) takes its types from here and
 * a field it adds without adding it here never reaches the page (\`api-contract.test.ts\`).
 */
export const CONSOLE_API_PREFIX = '/api';

const SessionIdentity = Type.Object({
  name: Type.String(),
  groups: Type.Array(Type.String()),
  provider: Type.String({ description: 'how the person signed in, e.g. `token`' }),
});

export const SignedIn = Type.Object({ identity: SessionIdentity, csrfToken: Type.String() });
export const SessionAnswer = Type.Object({
  identity: Type.Union([SessionIdentity, Type.Null()], { description: 'null: not signed in' }),
  csrfToken: Type.Optional(Type.String()),
});

/** One audit record as the timeline shows it: event data redacted, a one-line summary. */
export const TimelineRecord = Type.Object({
  seq: Type.Integer(),
  id: Type.String(),
  time: Type.String(),
  event: Type.String(),
  actor: Type.String(),
  cluster: Type.Union([Type.String(), Type.Null()]),
  stage: Type.Union([Type.String(), Type.Null()]),
  commit: Type.Union([Type.String(), Type.Null()]),
  promotionId: Type.Union([Type.String(), Type.Null()]),
  summary: Type.String(),
  data: Type.Unknown(),
  hash: Type.Optional(Type.String()),
});

export const Timeline = Type.Object({
  records: Type.Array(TimelineRecord, { description: 'newest first' }),
  total: Type.Integer(),
  verify: Type.Object(
    { ok: Type.Union([Type.Boolean(), Type.Null()]) },
    { additionalProperties: true, description: "the audit chain's last verification, or why there is none" },
  ),
  commitUrl: Type.Union([Type.String(), Type.Null()]),
});

// ---- the composed views ----------------------------------------------------------------------

/** An image as the overview shows it: a name always (the repository's last segment if none). */
export const ImageView = Type.Object({
  name: Type.String(),
  repository: Type.String(),
  tag: Nullable(Type.String()),
  digest: Type.String(),
});

export const ClusterView = Type.Object({
  name: Type.String(),
  path: Type.String(),
  revision: Nullable(Type.String({ description: 'applied, else desired' })),
  planId: Nullable(Type.String()),
  sequence: Nullable(Type.Integer()),
  bundleDigest: Nullable(Type.String()),
  sync: Type.String({
    description: '`synced`, `out-of-sync`, `pending`, `no-plan`, `render-failed`, `failed (<code>)`',
  }),
  health: Type.String({ description: "the applier's last report, `unknown` before one" }),
  healthStale: Type.Boolean({ description: 'health reported for an older plan than the newest one' }),
  drift: Nullable(
    Type.Integer({ description: 'objects drifted now; null when the audit log could not be read' }),
  ),
  appliedAt: Nullable(Type.String()),
  lastError: Nullable(Type.Object({ code: Type.String(), message: Type.String(), at: Type.String() })),
  renderError: Nullable(
    Type.Object({
      file: Type.String(),
      line: Type.Optional(Type.Integer()),
      code: Type.String(),
      message: Type.String(),
    }),
  ),
});

export const PromotionView = Type.Object({
  id: Type.String(),
  fromStage: Type.String(),
  toStage: Type.String(),
  status: Type.String(),
  rule: Type.String(),
  actor: Type.String(),
  images: Type.Array(ImageView),
  approvedBy: Type.Array(Type.String()),
  createdAt: Type.String(),
  youMayApprove: Type.Boolean({
    description: 'the signed-in person is among the approvers (a hint: the planner decides)',
  }),
});

export const StageView = Type.Object({
  name: Type.String(),
  rule: Type.String(),
  soak: Nullable(Type.String()),
  approvers: Type.Array(Type.String()),
  locked: Nullable(StageLock),
  revision: Nullable(Type.String()),
  images: Type.Array(ImageView),
  clusters: Type.Array(ClusterView),
  promotions: Type.Array(PromotionView),
  rollout: Type.Object({
    done: Type.Boolean(),
    failed: Type.Optional(Type.String()),
    summary: Type.String(),
  }),
  soakUntil: Nullable(
    Type.String({ description: "when the upstream stage's newer images will have soaked long enough" }),
  ),
});

export const PipelineView = Type.Object({
  name: Type.String(),
  revision: Nullable(Type.String()),
  stages: Type.Array(StageView),
});

/** `GET /api/pipelines`: the planner's pipelines the person may read, with drift from the audit log. */
export const Overview = Type.Object({
  identity: Type.Object({ name: Type.String(), groups: Type.Array(Type.String()) }),
  pipelines: Type.Array(PipelineView),
  audit: Type.Union([Type.Literal('ok'), Type.Literal('unavailable')], {
    description: 'unavailable: drift is unknown (null per cluster), not none',
  }),
  live: Type.Boolean({ description: 'the live event feed is connected' }),
  at: Type.String(),
});

/** A drifted field; values that may be secret are hashed before they leave the console. */
export const DriftFieldDiff = Type.Object({
  path: Type.String(),
  expected: Type.Optional(Type.Unknown()),
  actual: Type.Optional(Type.Unknown()),
  manager: Type.Optional(Type.String()),
  sensitive: Type.Optional(
    Type.Literal(true, { description: 'hashed in the cluster: only the hashes travel' }),
  ),
  expectedHash: Type.Optional(Type.String()),
  actualHash: Type.Optional(Type.String()),
});

/** A change held at a gated stage, as the cluster page shows it (names only: events carry no content). */
export const ClusterHeldChange = Type.Object({
  changeId: Type.String(),
  stage: Type.String(),
  revision: Type.String(),
  fromRevision: Nullable(Type.String()),
  bundleDigest: Type.String(),
  at: Type.String(),
  objects: Type.Array(
    Type.Object({
      object: Type.String(),
      change: Type.Union([Type.Literal('added'), Type.Literal('removed'), Type.Literal('changed')]),
    }),
    { description: 'one row per object, sorted: what approving would do to it' },
  ),
  authors: Type.Array(Type.String()),
  approvers: Type.Array(Type.String()),
  refusals: Type.Array(
    Type.Object({ by: Type.String(), code: Type.String(), reason: Type.String(), at: Type.String() }),
  ),
});

/** One cluster's page, from its audit records. */
export const ClusterDetail = Type.Object({
  cluster: Type.String(),
  plan: Nullable(
    Type.Object({
      planId: Type.String(),
      revision: Type.String(),
      bundleDigest: Type.String(),
      sequence: Type.Integer(),
      keyId: Nullable(Type.String()),
      objects: Nullable(Type.Integer()),
      at: Type.String(),
    }),
  ),
  apply: Nullable(
    Type.Object({
      result: Type.Union([Type.Literal('succeeded'), Type.Literal('failed')]),
      planId: Nullable(Type.String()),
      at: Type.String(),
      counts: Type.Optional(
        Type.Object({
          total: Type.Integer(),
          applied: Type.Integer(),
          unchanged: Type.Integer(),
          pruned: Type.Integer(),
        }),
      ),
      durationMs: Type.Optional(Type.Number()),
      code: Type.Optional(Type.String()),
      message: Type.Optional(Type.String()),
      problems: Type.Optional(
        Type.Array(
          Type.Object({ object: Type.String(), code: Type.Optional(Type.String()), reason: Type.String() }),
        ),
      ),
      warnings: Type.Optional(
        Type.Array(Type.Object({ object: Type.String(), message: Type.String() }), {
          description: 'what the apiserver warned of while accepting the objects (deprecated APIs, fields)',
        }),
      ),
    }),
  ),
  health: Nullable(
    Type.Object({
      status: Type.String(),
      at: Type.String(),
      revision: Type.String(),
      objects: Type.Array(
        Type.Object({ object: Type.String(), status: Type.String(), message: Type.String() }),
        {
          description: 'objects that are not current (the applier reports only those)',
        },
      ),
    }),
  ),
  drift: Type.Array(
    Type.Object({
      object: Type.String(),
      at: Type.String(),
      policy: Type.String(),
      diffs: Type.Array(DriftFieldDiff),
    }),
    { description: 'objects whose newest drift record is a detection' },
  ),
  held: Type.Array(ClusterHeldChange, { description: 'newest first' }),
  errors: Type.Array(
    Type.Object({
      event: Type.String(),
      code: Type.String(),
      message: Type.String(),
      at: Type.String(),
      file: Type.Optional(Type.String()),
      line: Type.Optional(Type.Integer()),
    }),
    { description: 'apply and render failures, newest first, at most 20' },
  ),
});

/** `GET /api/clusters/:cluster`: the cluster's detail and the stage it belongs to. */
export const ClusterPage = Type.Object({ stage: Type.String(), ...ClusterDetail.properties });

/** `GET /api/promotions/:id`: the planner's promotion beside the stages it moves between. */
export const PromotionPage = Type.Object({
  promotion: PromotionStatus,
  toStage: Nullable(StageView),
  fromStage: Nullable(StageView),
  current: Type.Array(ImageView, {
    description: 'what the target stage runs now, beside the promoted images',
  }),
  approvers: Type.Array(Type.String()),
  youMayApprove: Type.Boolean(),
  commitUrl: Nullable(Type.String()),
});

/** One image release (a digest) and when it first ran in each stage. */
export const LeadTimeRelease = Type.Object({
  digest: Type.String(),
  image: Type.String(),
  tag: Nullable(Type.String()),
  pushedAt: Type.String(),
  stages: Type.Record(Type.String(), Type.Object({ at: Type.String(), leadMs: Type.Number() }), {
    description: 'stage → the first successful apply of a commit that brought this digest there',
  }),
});

export const ChangeFailureMarker = Type.Object({
  kind: Type.Union([Type.Literal('rollback'), Type.Literal('apply-failed'), Type.Literal('degraded')]),
  stage: Type.String(),
  at: Type.String(),
  detail: Type.String(),
});

/** `GET /api/lead-times`: DORA lead time per release and stage, with change-failure markers. */
export const LeadTimes = Type.Object({
  stages: Type.Array(Type.String(), { description: 'in pipeline order' }),
  releases: Type.Array(LeadTimeRelease),
  markers: Type.Array(ChangeFailureMarker),
});

// ---- the rest -----------------------------------------------------------------------------------

export const DecisionBody = Type.Object({
  comment: Type.Optional(Type.String({ maxLength: 1000 })),
  reason: Type.Optional(Type.String({ maxLength: 1000 })),
});

/** The planner's own answer, passed through as it came. */
const PlannerAnswer = Type.Object(
  {},
  { additionalProperties: true, description: 'the planner operation result' },
);
const signedOut = {
  description: 'not signed in, or the planner no longer accepts the token',
  schema: ErrorBody,
};
const csrf = { description: 'not JSON, another origin, or a missing/wrong x-csrf-token', schema: ErrorBody };
/** A backend not answering: which one, so the page can say what is down. */
export const UpstreamError = Type.Object(
  {
    error: Type.String(),
    message: Type.String(),
    upstream: Type.Optional(Type.String({ description: '`planner` or `audit`' })),
  },
  { title: 'UpstreamError' },
);
const upstream = {
  502: { description: 'an upstream answered unexpectedly', schema: ErrorBody },
  503: { description: 'the planner or the audit-writer is unreachable', schema: UpstreamError },
  504: { description: 'an upstream did not answer in time', schema: UpstreamError },
} as const;
const IdParam = Type.Object({ id: Name });

const diffRoute = (of: 'promotions' | 'changes') =>
  defineRoute({
    method: 'GET',
    url: `/${of}/:id/diff`,
    summary: `The planner's rendered diff of a ${of === 'promotions' ? 'promotion' : 'held change'}`,
    params: IdParam,
    responses: {
      200: { description: 'the diff per cluster, secret values as hashes', schema: RenderedDiffAnswer },
      401: signedOut,
      403: { description: 'the token lacks read', schema: ErrorBody },
      404: { description: 'no such decision', schema: ErrorBody },
      409: { description: 'not rendered yet', schema: ErrorBody },
      ...upstream,
    },
  });

const decisionRoute = (verb: 'approve' | 'reject') =>
  defineRoute({
    method: 'POST',
    url: `/promotions/:id/${verb}`,
    summary: `${verb === 'approve' ? 'Approve' : 'Reject'} a promotion with the signed-in person's token`,
    params: IdParam,
    body: DecisionBody,
    headers: IdempotencyKeyHeader,
    responses: {
      200: { description: "the planner's answer", schema: PlannerAnswer },
      400: { description: 'comment or reason too long, or a malformed Idempotency-Key', schema: ErrorBody },
      401: signedOut,
      403: { description: 'CSRF, or the planner refused the role', schema: ErrorBody },
      404: { description: 'no such promotion', schema: ErrorBody },
      409: { description: 'conflicts with the current state', schema: ErrorBody },
      422: { description: 'not possible as asked', schema: ErrorBody },
      ...upstream,
    },
  });

/** Sign-in and session, at the console's root. */
export const consoleAuthRoutes = {
  login: defineRoute({
    method: 'POST',
    url: '/auth/login',
    summary: 'Sign in with a planner token (`{ token }`); sets the HttpOnly session cookie',
    responses: {
      200: { description: 'signed in', schema: SignedIn },
      401: { description: 'the planner does not accept the token', schema: ErrorBody },
      403: csrf,
    },
  }),
  session: defineRoute({
    method: 'GET',
    url: '/auth/session',
    summary: 'Who is signed in (not signed in is an answer, not an error)',
    responses: { 200: { description: 'the session', schema: SessionAnswer } },
  }),
  logout: defineRoute({
    method: 'POST',
    url: '/auth/logout',
    summary: 'Sign out: clears the session cookie',
    responses: {
      200: { description: 'signed out', schema: Type.Object({ signedOut: Type.Literal(true) }) },
      403: csrf,
    },
  }),
} as const;

/** Under `/api`, signed in only. */
export const consoleRoutes = {
  pipelines: defineRoute({
    method: 'GET',
    url: '/pipelines',
    summary: 'Every pipeline the person may read: stages, clusters, images, drift, open promotions',
    responses: {
      200: { description: 'the overview', schema: Overview },
      401: signedOut,
      ...upstream,
    },
  }),
  cluster: defineRoute({
    method: 'GET',
    url: '/clusters/:cluster',
    summary: "One cluster's plans, applies, health, drift and held changes, from the audit log",
    params: Type.Object({ cluster: Name }),
    responses: {
      200: { description: 'the cluster', schema: ClusterPage },
      401: signedOut,
      404: { description: 'no cluster of that name in any pipeline', schema: ErrorBody },
      ...upstream,
    },
  }),
  promotion: defineRoute({
    method: 'GET',
    url: '/promotions/:id',
    summary: 'One promotion with its stages, current images and whether the person may approve it',
    params: IdParam,
    responses: {
      200: { description: 'the promotion', schema: PromotionPage },
      401: signedOut,
      404: { description: 'no such promotion', schema: ErrorBody },
      ...upstream,
    },
  }),
  promotionDiff: diffRoute('promotions'),
  changeDiff: diffRoute('changes'),
  approve: decisionRoute('approve'),
  reject: decisionRoute('reject'),
  timeline: defineRoute({
    method: 'GET',
    url: '/timeline',
    summary: 'The audit log, newest first, filtered, with the chain’s verification',
    querystring: Type.Object({
      cluster: Type.Optional(Type.String()),
      stage: Type.Optional(Type.String()),
      type: Type.Optional(Type.String()),
      actor: Type.Optional(Type.String()),
      revision: Type.Optional(Type.String()),
      since: Type.Optional(TimeQuery),
      until: Type.Optional(TimeQuery),
      limit: Type.Optional(Type.String({ description: '1 to 2000, default 200' })),
    }),
    responses: { 200: { description: 'records', schema: Timeline }, 401: signedOut, ...upstream },
  }),
  export: defineRoute({
    method: 'GET',
    url: '/export',
    summary: "The audit-writer's production-change export, passed through (JSON or CSV)",
    querystring: Type.Object({
      format: Type.Optional(Type.String({ description: '`json` (default) or `csv`' })),
      since: Type.Optional(TimeQuery),
      until: Type.Optional(TimeQuery),
    }),
    responses: {
      // The audit-writer's bytes, relayed as they came (their digest is in a header).
      200: { description: 'the export', schema: Type.String(), mediaType: 'application/octet-stream' },
      401: signedOut,
      ...upstream,
    },
  }),
  leadTimes: defineRoute({
    method: 'GET',
    url: '/lead-times',
    summary: 'Lead time per release and stage, with change-failure markers',
    responses: {
      200: { description: 'lead times', schema: LeadTimes },
      401: signedOut,
      ...upstream,
    },
  }),
  events: defineRoute({
    method: 'GET',
    url: '/events',
    summary: 'Live events as Server-Sent Events (`hello`, `flotilla`)',
    responses: {
      200: { description: 'the stream', schema: Type.String(), mediaType: 'text/event-stream' },
      401: signedOut,
    },
  }),
} as const;

export function allConsoleRoutes(): RouteDefinition[] {
  return Object.values(consoleRoutes);
}
export function allConsoleAuthRoutes(): RouteDefinition[] {
  return Object.values(consoleAuthRoutes);
}

export type SignedIn = Static<typeof SignedIn>;
export type SessionAnswer = Static<typeof SessionAnswer>;
export type TimelineRecord = Static<typeof TimelineRecord>;
export type Timeline = Static<typeof Timeline>;
export type DecisionBody = Static<typeof DecisionBody>;
export type ImageView = Static<typeof ImageView>;
export type ClusterView = Static<typeof ClusterView>;
export type PromotionView = Static<typeof PromotionView>;
export type StageView = Static<typeof StageView>;
export type PipelineView = Static<typeof PipelineView>;
export type Overview = Static<typeof Overview>;
export type DriftFieldDiff = Static<typeof DriftFieldDiff>;
export type ClusterHeldChange = Static<typeof ClusterHeldChange>;
export type ClusterDetail = Static<typeof ClusterDetail>;
export type ClusterPage = Static<typeof ClusterPage>;
export type PromotionPage = Static<typeof PromotionPage>;
export type LeadTimeRelease = Static<typeof LeadTimeRelease>;
export type ChangeFailureMarker = Static<typeof ChangeFailureMarker>;
export type LeadTimes = Static<typeof LeadTimes>;
