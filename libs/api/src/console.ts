import { type Static, Type } from '@sinclair/typebox';
import { ErrorBody, IdempotencyKeyHeader, Name, TimeQuery } from './common.ts';
import { defineRoute, type RouteDefinition } from './define-route.ts';
import { RenderedDiffAnswer } from './planner.ts';

/**
 * The console's own HTTP surface (services/console/src/app.ts): sign-in with a sealed cookie
 * session, then `/api/…`, composed from the planner's and the audit-writer's answers with the
 * signed-in person's token. The page is the only client; its views are the console's, so the
 * composed ones are documented as objects and the rest (sessions, decisions, diffs, the timeline)
 * field by field.
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

export const DecisionBody = Type.Object({
  comment: Type.Optional(Type.String({ maxLength: 1000 })),
  reason: Type.Optional(Type.String({ maxLength: 1000 })),
});

const View = (description: string) => Type.Object({}, { additionalProperties: true, description });
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
      200: { description: "the planner's answer", schema: View('the planner operation result') },
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
      200: { description: 'the overview', schema: View('{ identity, pipelines, audit, live, at }') },
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
      200: { description: 'the cluster', schema: View('{ stage, …clusterDetail }') },
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
      200: { description: 'the promotion', schema: View('{ promotion, toStage, fromStage, current, … }') },
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
      200: { description: 'lead times', schema: View('{ stages, releases, markers }') },
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
