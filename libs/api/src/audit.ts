import { type Static, Type } from '@sinclair/typebox';
import { ErrorBody, TimeQuery } from './common.ts';
import { defineRoute, type RouteDefinition } from './define-route.ts';

/** The audit-writer's query API (services/audit-writer/src/routes.ts), at the service's root. */

const S = Type.Optional(Type.String());

/** One record of the hash-chained audit log (services/audit-writer/src/chain.ts AuditRecord). */
export const AuditRecord = Type.Object({
  seq: Type.Integer({ minimum: 1, description: 'position in the log, contiguous across files' }),
  id: Type.String(),
  type: Type.String(),
  event: Type.String({ description: 'short event name, e.g. `PlanCreated`' }),
  time: Type.String(),
  recordedAt: Type.Optional(Type.String()),
  source: Type.Optional(Type.String()),
  actor: Type.String(),
  subject: S,
  correlationid: Type.Optional(Type.String()),
  causationid: S,
  streamSeq: Type.Optional(Type.Integer()),
  prevHash: Type.Optional(Type.String()),
  hash: Type.Optional(Type.String()),
  cluster: S,
  stage: S,
  fromStage: S,
  repo: S,
  revision: S,
  commit: S,
  planId: S,
  promotionId: S,
  digest: S,
  images: Type.Optional(Type.Array(Type.String())),
  apps: Type.Optional(Type.Array(Type.String())),
  author: S,
  approvers: Type.Optional(Type.Array(Type.String())),
  by: S,
  result: S,
  code: S,
  reason: S,
  data: Type.Optional(Type.Unknown()),
});

export const HistoryQuery = Type.Object({
  cluster: S,
  stage: S,
  type: S,
  actor: S,
  app: S,
  repo: S,
  revision: S,
  since: Type.Optional(TimeQuery),
  until: Type.Optional(TimeQuery),
  limit: Type.Optional(Type.String({ description: 'a positive integer' })),
});

export const History = Type.Object({
  count: Type.Integer(),
  filter: Type.Optional(Type.Object({}, { additionalProperties: true })),
  records: Type.Array(AuditRecord),
});

/** `/verify` (chain.ts VerifyResult). */
export const Verify = Type.Object({
  ok: Type.Boolean(),
  files: Type.Integer(),
  records: Type.Integer(),
  head: Type.Optional(Type.Object({ seq: Type.Integer(), hash: Type.String() })),
  problem: Type.Optional(
    Type.Object({
      kind: Type.String(),
      file: Type.String(),
      line: Type.Integer(),
      seq: Type.Optional(Type.Integer()),
      expectedSeq: Type.Optional(Type.Integer()),
      message: Type.String(),
    }),
  ),
});

const Loose = (description: string) => Type.Object({}, { additionalProperties: true, description });
const standby = { description: 'this instance is not the active audit writer', schema: ErrorBody };
/** Reading the log needs a token with read on every pipeline (the planner's token file). */
const guarded = {
  401: { description: 'no valid bearer token', schema: ErrorBody },
  403: { description: 'the token lacks read on every pipeline', schema: ErrorBody },
} as const;
const bad = { description: 'a query parameter is invalid (named in the message)', schema: ErrorBody };

export const auditRoutes = {
  history: defineRoute({
    method: 'GET',
    url: '/history',
    summary: 'Audit records, filtered',
    querystring: HistoryQuery,
    responses: { 200: { description: 'records', schema: History }, 400: bad, 503: standby, ...guarded },
  }),
  where: defineRoute({
    method: 'GET',
    url: '/where',
    summary: 'What runs where: per cluster, the last plan, apply and health',
    responses: {
      200: { description: 'clusters', schema: Loose('{ clusters: [...] }') },
      503: standby,
      ...guarded,
    },
  }),
  approvals: defineRoute({
    method: 'GET',
    url: '/approvals',
    summary: 'Promotions into production stages (or `stage`, `*` for all) with their approvers',
    querystring: Type.Object({ stage: S }),
    responses: {
      200: { description: 'promotions', schema: Loose('{ stages, count, promotions }') },
      503: standby,
      ...guarded,
    },
  }),
  export: defineRoute({
    method: 'GET',
    url: '/export',
    summary: 'Production changes for a period, as JSON or CSV (with digest headers)',
    querystring: Type.Object({
      format: Type.Optional(Type.String({ description: '`json` (default) or `csv`' })),
      since: Type.Optional(TimeQuery),
      until: Type.Optional(TimeQuery),
    }),
    responses: {
      200: { description: 'the export', schema: Loose('{ metadata, changes }; text/csv with format=csv') },
      400: bad,
      503: standby,
      ...guarded,
    },
  }),
  checkpoint: defineRoute({
    method: 'GET',
    url: '/checkpoint',
    summary: 'The newest signed checkpoint and the key that verifies it (public: no token needed)',
    responses: { 200: { description: 'checkpoint', schema: Loose('signed checkpoint') }, 503: standby },
  }),
  verify: defineRoute({
    method: 'GET',
    url: '/verify',
    summary: 'Verify the whole hash chain against the signed checkpoints',
    responses: {
      200: { description: 'intact', schema: Verify },
      409: { description: 'broken: where and how', schema: Verify },
      429: { description: 'verified moments ago; Retry-After says when to ask again', schema: ErrorBody },
      503: standby,
      ...guarded,
    },
  }),
} as const;

/** Routes that need a bearer token (all but the public checkpoint). */
export const auditSecured = (r: RouteDefinition) => r !== auditRoutes.checkpoint;

export function allAuditRoutes(): RouteDefinition[] {
  return Object.values(auditRoutes);
}

export type AuditRecord = Static<typeof AuditRecord>;
export type History = Static<typeof History>;
export type Verify = Static<typeof Verify>;
export type AuditHistoryQuery = Static<typeof HistoryQuery>;
