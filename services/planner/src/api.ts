import {
  type ApproveBody,
  type ChangeApprovalBody,
  type HistoryQuery,
  PLANNER_PREFIX,
  plannerRoutes,
  type ReasonBody,
  type RejectBody,
  type RollbackBody,
  routeSchema,
} from '@flotilla/api';
import type { Bus } from '@flotilla/bus';
import { isFlotillaError, messageOf } from '@flotilla/errors';
import type { FlotillaEvent } from '@flotilla/events';
import { formatRoleGrant, hasRoleIn, type Identity } from '@flotilla/policy';
import { type AuthorisedToken, identifyBearer } from '@flotilla/runtime';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { readHistory } from './history.ts';
import { isOperationError, type OperationFailure, refused } from './operation-error.ts';
import type { PlannerOperations } from './operations.ts';
import type { Planner } from './planner.ts';

declare module 'fastify' {
  interface FastifyRequest {
    identity?: Identity;
  }
}

/**
 * Which history events `identity` may see: those of pipelines it can read. Events of the root
 * pipeline carry no `pipeline` field; before the planner knows the root's name (standby) only a
 * read grant on every pipeline shows them.
 */
function historyFilter(identity: Identity, root: string | null): (e: FlotillaEvent) => boolean {
  const grants = identity.roles ?? [];
  return (e) => {
    const named = (e.data as { pipeline?: unknown }).pipeline;
    const pipeline = typeof named === 'string' ? named : root;
    return pipeline === null ? hasRoleIn(grants, 'read', '*') : hasRoleIn(grants, 'read', pipeline);
  };
}

/** The one place refusals become HTTP: each class of OperationError has one status. */
const HTTP_STATUS: Record<OperationFailure, number> = {
  'bad-request': 400,
  forbidden: 403,
  'not-found': 404,
  conflict: 409,
  unprocessable: 422,
  unavailable: 503,
};

/**
 * The request's `Idempotency-Key`: a retry of a decision that was made (its answer lost, the
 * planner killed after committing) sends the same key and gets the recorded outcome, not a
 * second decision or a 404 for something no longer pending. Printable ASCII, at most 200.
 */
function requestKey(req: FastifyRequest): string | undefined {
  const raw = req.headers['idempotency-key'];
  if (raw === undefined) return undefined;
  const key = (Array.isArray(raw) ? raw[0] : raw)?.trim() ?? '';
  if (!/^[\x21-\x7e]{1,200}$/.test(key))
    throw refused(
      'bad-request',
      'bad-idempotency-key',
      'Idempotency-Key must be 1 to 200 printable ASCII characters',
    );
  return key;
}

const keyed = (req: FastifyRequest): { requestKey?: string } => {
  const key = requestKey(req);
  return key ? { requestKey: key } : {};
};

/** Answers 200 with the operation's body, or the status of its refusal with `{ error, message }`. */
async function send(reply: FastifyReply, operation: () => Promise<object>): Promise<FastifyReply> {
  try {
    return reply.code(200).send(await operation());
  } catch (e) {
    // NATS or the KV not answering (a publish not acknowledged): the decision may not be on
    // record, so the client is told to retry (with the same Idempotency-Key), not that it failed.
    if (!isOperationError(e) && isFlotillaError(e) && e.disposition !== 'stall')
      return reply.code(503).send({ error: 'unavailable', message: messageOf(e) });
    if (!isOperationError(e)) throw e;
    return reply.code(HTTP_STATUS[e.failure]).send({ error: e.reason, message: e.message });
  }
}

/**
 * The planner API under /api/v1. Every route needs a bearer token (401 without); the identity it
 * maps to is the actor of the resulting events and the `Flotilla-Actor` / `Flotilla-Approved-By`
 * trailers. What the token may do is its roles (docs/security.md): a valid token without the role
 * gets 403 `role-missing`, decided in the operations so each refusal is also an event.
 */
export function registerApi(
  app: FastifyInstance,
  planner: Planner,
  bus: Bus,
  tokens: readonly AuthorisedToken[],
): void {
  app.register(
    async (api) => {
      api.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
        const identity = identifyBearer(req.headers.authorization, tokens);
        if (!identity) {
          reply.header('www-authenticate', 'Bearer');
          return reply
            .code(401)
            .send({ error: 'unauthenticated', message: 'a valid bearer token is required' });
        }
        req.identity = identity;
      });
      // A POST without a body is an empty one: every body field is optional.
      api.addHook('preValidation', async (req) => {
        if (req.method === 'POST' && (req.body === undefined || req.body === null)) req.body = {};
      });
      // Requests that do not fit the route's schema (libs/api) are refused in the API's own shape.
      api.setErrorHandler(async (err: Error & { validation?: unknown }, _req, reply) => {
        if (err.validation) return reply.code(400).send({ error: 'bad-request', message: err.message });
        throw err;
      });
      const who = (req: FastifyRequest) => req.identity as Identity;

      const mayRead = (req: FastifyRequest) => (pipeline: string) =>
        hasRoleIn(who(req).roles ?? [], 'read', pipeline);

      // Who the token belongs to and what it may do: the console signs people in with the same
      // tokens as the CLI. Any valid token may ask; no role is needed to learn one's own.
      api.get(plannerRoutes.whoami.url, { schema: routeSchema(plannerRoutes.whoami) }, async (req) => ({
        name: who(req).name,
        groups: who(req).groups,
        roles: (who(req).roles ?? []).map(formatRoleGrant),
      }));
      // Only the pipelines the token can read are listed.
      api.get(
        plannerRoutes.pipelines.url,
        { schema: routeSchema(plannerRoutes.pipelines) },
        async (req, reply) =>
          send(reply, async () => {
            const all = await planner.pipelines();
            return { ...all, pipelines: all.pipelines.filter((p) => mayRead(req)(p.name)) };
          }),
      );
      api.get<{ Params: { id: string } }>(
        plannerRoutes.promotion.url,
        { schema: routeSchema(plannerRoutes.promotion) },
        async (req, reply) => send(reply, () => planner.promotion(req.params.id, mayRead(req))),
      );
      // The rendered diff a reviewer approves; renders (once, remembered) outside the decisions.
      api.get<{ Params: { id: string } }>(
        plannerRoutes.promotionDiff.url,
        { schema: routeSchema(plannerRoutes.promotionDiff) },
        async (req, reply) => send(reply, () => planner.promotionDiff(req.params.id, mayRead(req))),
      );
      api.get<{ Params: { id: string } }>(
        plannerRoutes.changeDiff.url,
        { schema: routeSchema(plannerRoutes.changeDiff) },
        async (req, reply) => send(reply, () => planner.changeDiff(req.params.id, mayRead(req))),
      );
      // Pipeline routes, twice: under /pipelines/<name>/…, and without it for the root pipeline
      // (or a repo's only one), as before pipelines existed.
      type P = { pipeline?: string };
      const ops = (req: FastifyRequest<{ Params: P }>): PlannerOperations =>
        planner.operations(req.params.pipeline);
      const R = plannerRoutes;
      for (const at of [0, 1] as const) {
        api.get<{ Params: P }>(R.stages[at].url, { schema: routeSchema(R.stages[at]) }, async (req, reply) =>
          send(reply, () => ops(req).status(who(req))),
        );
        api.post<{ Params: P & { id: string }; Body: ApproveBody }>(
          R.approve[at].url,
          { schema: routeSchema(R.approve[at]) },
          async (req, reply) =>
            send(reply, () =>
              planner
                .operationsForPromotion(req.params.id, req.params.pipeline)
                .approve(req.params.id, who(req), req.body.comment, requestKey(req)),
            ),
        );
        api.post<{ Params: P & { id: string }; Body: RejectBody }>(
          R.reject[at].url,
          { schema: routeSchema(R.reject[at]) },
          async (req, reply) =>
            send(reply, () =>
              planner
                .operationsForPromotion(req.params.id, req.params.pipeline)
                .reject(req.params.id, who(req), req.body.reason ?? req.body.comment, requestKey(req)),
            ),
        );
        // A held change to a gated stage; `{ emergency: true, reason }` is the recorded break-glass.
        api.post<{ Params: P & { id: string }; Body: ChangeApprovalBody }>(
          R.approveChange[at].url,
          { schema: routeSchema(R.approveChange[at]) },
          async (req, reply) =>
            send(reply, () => {
              const b = req.body;
              const reason = b.reason ?? b.comment;
              return planner
                .operationsForChange(req.params.id, req.params.pipeline)
                .approveChange(req.params.id, who(req), {
                  emergency: b.emergency === true,
                  ...(reason ? { reason } : {}),
                  ...keyed(req),
                });
            }),
        );
        api.post<{ Params: P & { stage: string } }>(
          R.promote[at].url,
          { schema: routeSchema(R.promote[at]) },
          async (req, reply) =>
            send(reply, () => ops(req).promoteNow(req.params.stage, who(req), requestKey(req))),
        );
        api.post<{ Params: P & { stage: string }; Body: ReasonBody }>(
          R.lock[at].url,
          { schema: routeSchema(R.lock[at]) },
          async (req, reply) =>
            send(reply, () => ops(req).lock(req.params.stage, who(req), req.body.reason, requestKey(req))),
        );
        api.post<{ Params: P & { stage: string }; Body: ReasonBody }>(
          R.unlock[at].url,
          { schema: routeSchema(R.unlock[at]) },
          async (req, reply) =>
            send(reply, () => ops(req).unlock(req.params.stage, who(req), req.body.reason, requestKey(req))),
        );
        api.post<{ Params: P & { stage: string }; Body: RollbackBody }>(
          R.rollback[at].url,
          { schema: routeSchema(R.rollback[at]) },
          async (req, reply) => {
            const b = req.body;
            return send(reply, () =>
              ops(req).rollback(req.params.stage, who(req), {
                ...(b.toRevision ? { toRevision: b.toRevision } : {}),
                ...(b.reason ? { reason: b.reason } : {}),
                ...keyed(req),
              }),
            );
          },
        );
      }
      api.get<{ Querystring: HistoryQuery }>(
        plannerRoutes.history.url,
        { schema: routeSchema(plannerRoutes.history) },
        async (req) => {
          const limit = Math.min(Math.max(Number(req.query.limit ?? 200) || 200, 1), 5000);
          const events = await readHistory(bus, {
            limit,
            visible: historyFilter(who(req), planner.rootPipeline()),
            ...(req.query.stage ? { stage: req.query.stage } : {}),
            ...(req.query.since ? { since: req.query.since } : {}),
          });
          return { events };
        },
      );
    },
    { prefix: PLANNER_PREFIX },
  );
}
