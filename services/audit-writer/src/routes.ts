import { createHash } from 'node:crypto';
import { auditRoutes, routeSchema } from '@flotilla/api';
import { hasRole, type Identity } from '@flotilla/policy';
import { type AuthorisedToken, identifyBearer } from '@flotilla/runtime';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { buildExport } from './export.ts';
import type { AuditIndex, HistoryFilter } from './projection.ts';
import type { VerifyGate } from './verify-gate.ts';

export interface QuerySource {
  /** The index while this instance is the active writer; undefined on a standby. */
  index(): AuditIndex | undefined;
  head(): { records: number; headSeq: number; headHash: string | null; checkpoint?: string };
  /** The newest signed checkpoint and the key that verifies it; undefined on a standby. */
  checkpoint(): object | undefined;
  verify: VerifyGate;
  productionStages: string[];
  /** Tokens that may be presented; query routes need `read` on every pipeline. */
  tokens: readonly AuthorisedToken[];
  /** Told of each refused request: logged, and published (rationed) as ApiRequestRefused. */
  onRefused?: (refusal: ApiRefusal) => void;
}

export interface ApiRefusal {
  status: 401 | 403;
  code: 'unauthenticated' | 'role-missing';
  route: string;
  who?: string;
  remoteAddress: string;
}

/**
 * The log holds every pipeline's events, so reading it takes `read` on all of them: `read`,
 * `read:*` (or operate/approve unscoped, which include read). A scoped reader uses the planner's
 * history, which is filtered by pipeline.
 */
const mayReadAudit = (identity: Identity) => hasRole(identity.roles ?? [], 'read', { pipeline: '*' });

class BadRequest extends Error {
  readonly statusCode = 400;
}

function time(q: Record<string, string | undefined>, key: string): string | undefined {
  const v = q[key];
  if (v === undefined || v === '') return undefined;
  const ms = Date.parse(v);
  if (Number.isNaN(ms)) throw new BadRequest(`${key}: "${v}" is not an RFC 3339 time`);
  return new Date(ms).toISOString();
}

function str(q: Record<string, string | undefined>, key: string): string | undefined {
  const v = q[key];
  return v === undefined || v === '' ? undefined : v;
}

function unavailable(reply: FastifyReply) {
  return reply.code(503).send({ error: 'standby', message: 'this instance is not the active audit writer' });
}

/** The audit query API: history, what is where, approvals, production-change export, verify. */
export function registerRoutes(app: FastifyInstance, src: QuerySource): void {
  // A plugin scope, so the error handler covers only these routes.
  void app.register(async (scope) => {
    scope.setErrorHandler((err: Error & { statusCode?: number }, _req, reply) => {
      const code = err.statusCode ?? 500;
      void reply.code(code).send({ error: code === 400 ? 'bad-request' : 'internal', message: err.message });
    });

    // Every route here reads the log, except the checkpoint, which is published for anyone.
    scope.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
      // The route pattern, never the raw URL: its query string is the caller's, and refusals are
      // rationed per route, so the set of keys must stay small.
      const route = req.routeOptions.url ?? '(no route)';
      if (route === '/checkpoint') return;
      const identity = identifyBearer(req.headers.authorization, src.tokens);
      if (!identity) {
        src.onRefused?.({ status: 401, code: 'unauthenticated', route, remoteAddress: req.ip });
        reply.header('www-authenticate', 'Bearer');
        return reply
          .code(401)
          .send({ error: 'unauthenticated', message: 'a valid bearer token is required' });
      }
      if (!mayReadAudit(identity)) {
        src.onRefused?.({
          status: 403,
          code: 'role-missing',
          route,
          who: identity.name,
          remoteAddress: req.ip,
        });
        return reply.code(403).send({
          error: 'role-missing',
          message: `user:${identity.name} has no read role on every pipeline, which the audit log needs`,
        });
      }
    });

    scope.get(auditRoutes.history.url, { schema: routeSchema(auditRoutes.history) }, async (req, reply) => {
      const index = src.index();
      if (!index) return unavailable(reply);
      const q = req.query as Record<string, string | undefined>;
      const filter: HistoryFilter = {};
      for (const k of ['cluster', 'stage', 'type', 'actor', 'app', 'repo', 'revision'] as const) {
        const v = str(q, k);
        if (v) filter[k] = v;
      }
      const since = time(q, 'since');
      const until = time(q, 'until');
      if (since) filter.since = since;
      if (until) filter.until = until;
      if (q.limit) {
        const n = Number(q.limit);
        if (!Number.isInteger(n) || n < 1) throw new BadRequest('limit: a positive integer');
        filter.limit = n;
      }
      const records = index.history(filter);
      return { count: records.length, filter, records };
    });

    scope.get(auditRoutes.where.url, { schema: routeSchema(auditRoutes.where) }, async (_req, reply) => {
      const index = src.index();
      if (!index) return unavailable(reply);
      const clusters = [...index.where.values()].sort((a, b) => (a.cluster < b.cluster ? -1 : 1));
      return { clusters };
    });

    scope.get(
      auditRoutes.approvals.url,
      { schema: routeSchema(auditRoutes.approvals) },
      async (req, reply) => {
        const index = src.index();
        if (!index) return unavailable(reply);
        const q = req.query as Record<string, string | undefined>;
        const stage = str(q, 'stage');
        const stages = stage ? new Set(stage === '*' ? [] : [stage]) : new Set(src.productionStages);
        const promotions = [...index.promotions.values()]
          .filter((p) => stage === '*' || stages.has(p.toStage))
          .map((p) => {
            const commit = p.committed ? index.commits.get(p.committed.commit) : undefined;
            return {
              ...p,
              ...(commit ? { commitAuthor: `${commit.author.name} <${commit.author.email}>` } : {}),
              approvers: [
                ...new Set([...(p.committed?.approvedBy ?? []), ...p.approvals.map((a) => a.approver)]),
              ],
            };
          });
        return { stages: stage === '*' ? 'all' : [...stages], count: promotions.length, promotions };
      },
    );

    scope.get(auditRoutes.export.url, { schema: routeSchema(auditRoutes.export) }, async (req, reply) => {
      const index = src.index();
      if (!index) return unavailable(reply);
      const q = req.query as Record<string, string | undefined>;
      const format = str(q, 'format') ?? 'json';
      if (format !== 'json' && format !== 'csv') throw new BadRequest('format: json or csv');
      const since = time(q, 'since');
      const until = time(q, 'until');
      const doc = buildExport(index, {
        ...(since ? { since } : {}),
        ...(until ? { until } : {}),
        productionStages: src.productionStages,
        auditLog: src.head(),
      });
      if (format === 'json') return { metadata: doc.metadata, changes: doc.changes };
      const meta = doc.metadata;
      return reply
        .header('content-type', 'text/csv; charset=utf-8')
        .header('content-disposition', `attachment; filename="flotilla-production-changes.csv"`)
        .header('x-flotilla-export-period', `${meta.period.since ?? ''}/${meta.period.until ?? ''}`)
        .header('x-flotilla-export-generated-at', meta.generatedAt)
        .header('x-flotilla-export-record-count', String(meta.recordCount))
        .header('x-flotilla-export-audit-head', `${meta.auditLog.headSeq} ${meta.auditLog.headHash ?? ''}`)
        .header('x-flotilla-export-sha256', `sha256:${createHash('sha256').update(doc.csv).digest('hex')}`)
        .send(doc.csv);
    });

    scope.get(
      auditRoutes.checkpoint.url,
      { schema: routeSchema(auditRoutes.checkpoint) },
      async (_req, reply) => {
        const cp = src.checkpoint();
        if (!cp) return unavailable(reply);
        return cp;
      },
    );

    // Cached by chain head and rate-limited (verify-gate.ts): a walk reads the whole log.
    scope.get(auditRoutes.verify.url, { schema: routeSchema(auditRoutes.verify) }, async (_req, reply) => {
      if (!src.index()) return unavailable(reply);
      const answer = await src.verify.answer();
      if (answer.kind === 'rate-limited') {
        const seconds = Math.max(1, Math.ceil(answer.retryAfterMs / 1000));
        return reply
          .code(429)
          .header('retry-after', String(seconds))
          .send({ error: 'rate-limited', message: `verify ran moments ago; try again in ${seconds} s` });
      }
      return reply
        .code(answer.result.ok ? 200 : 409)
        .header('x-flotilla-verify-cached', String(answer.cached))
        .header('x-flotilla-verify-stale', String(answer.stale))
        .header('x-flotilla-verify-head', answer.head)
        .header('x-flotilla-verified-at', new Date(answer.verifiedAt).toISOString())
        .send(answer.result);
    });
  });
}
