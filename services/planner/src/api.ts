import type { Bus } from '@flotilla/bus';
import type { FlotillaEvent } from '@flotilla/events';
import { formatRoleGrant, hasRoleIn, type Identity } from '@flotilla/policy';
import { type AuthorisedToken, identifyBearer } from '@flotilla/runtime';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { readHistory } from './history.ts';
import { isOperationError, type OperationFailure } from './operation-error.ts';
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

/** Answers 200 with the operation's body, or the status of its refusal with `{ error, message }`. */
async function send(reply: FastifyReply, operation: () => Promise<object>): Promise<FastifyReply> {
  try {
    return reply.code(200).send(await operation());
  } catch (e) {
    if (!isOperationError(e)) throw e;
    return reply.code(HTTP_STATUS[e.failure]).send({ error: e.reason, message: e.message });
  }
}

type Body = { comment?: string; reason?: string; toRevision?: string; emergency?: boolean } | undefined;

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
      const who = (req: FastifyRequest) => req.identity as Identity;
      const body = (req: FastifyRequest) => (req.body ?? {}) as NonNullable<Body>;

      const mayRead = (req: FastifyRequest) => (pipeline: string) =>
        hasRoleIn(who(req).roles ?? [], 'read', pipeline);

      // Who the token belongs to and what it may do: the console signs people in with the same
      // tokens as the CLI. Any valid token may ask; no role is needed to learn one's own.
      api.get('/whoami', async (req) => ({
        name: who(req).name,
        groups: who(req).groups,
        roles: (who(req).roles ?? []).map(formatRoleGrant),
      }));
      // Only the pipelines the token can read are listed.
      api.get('/pipelines', async (req, reply) =>
        send(reply, async () => {
          const all = await planner.pipelines();
          return { ...all, pipelines: all.pipelines.filter((p) => mayRead(req)(p.name)) };
        }),
      );
      api.get<{ Params: { id: string } }>('/promotions/:id', async (req, reply) =>
        send(reply, () => planner.promotion(req.params.id, mayRead(req))),
      );
      // Pipeline routes, twice: under /pipelines/<name>/…, and without it for the root pipeline
      // (or a repo's only one), as before pipelines existed.
      type P = { pipeline?: string };
      const ops = (req: FastifyRequest<{ Params: P }>): PlannerOperations =>
        planner.operations(req.params.pipeline);
      for (const prefix of ['', '/pipelines/:pipeline']) {
        api.get<{ Params: P }>(`${prefix}/stages`, async (req, reply) =>
          send(reply, () => ops(req).status(who(req))),
        );
        api.post<{ Params: P & { id: string } }>(`${prefix}/promotions/:id/approve`, async (req, reply) =>
          send(reply, () =>
            planner
              .operationsForPromotion(req.params.id, req.params.pipeline)
              .approve(req.params.id, who(req), body(req).comment),
          ),
        );
        api.post<{ Params: P & { id: string } }>(`${prefix}/promotions/:id/reject`, async (req, reply) =>
          send(reply, () =>
            planner
              .operationsForPromotion(req.params.id, req.params.pipeline)
              .reject(req.params.id, who(req), body(req).reason ?? body(req).comment),
          ),
        );
        // A held change to a gated stage; `{ emergency: true, reason }` is the recorded break-glass.
        api.post<{ Params: P & { id: string } }>(`${prefix}/changes/:id/approve`, async (req, reply) =>
          send(reply, () => {
            const b = body(req);
            const reason = b.reason ?? b.comment;
            return planner
              .operationsForChange(req.params.id, req.params.pipeline)
              .approveChange(req.params.id, who(req), {
                emergency: b.emergency === true,
                ...(reason ? { reason } : {}),
              });
          }),
        );
        api.post<{ Params: P & { stage: string } }>(`${prefix}/stages/:stage/promote`, async (req, reply) =>
          send(reply, () => ops(req).promoteNow(req.params.stage, who(req))),
        );
        api.post<{ Params: P & { stage: string } }>(`${prefix}/stages/:stage/lock`, async (req, reply) =>
          send(reply, () => ops(req).lock(req.params.stage, who(req), body(req).reason)),
        );
        api.post<{ Params: P & { stage: string } }>(`${prefix}/stages/:stage/unlock`, async (req, reply) =>
          send(reply, () => ops(req).unlock(req.params.stage, who(req), body(req).reason)),
        );
        api.post<{ Params: P & { stage: string } }>(
          `${prefix}/stages/:stage/rollback`,
          async (req, reply) => {
            const b = body(req);
            return send(reply, () =>
              ops(req).rollback(req.params.stage, who(req), {
                ...(b.toRevision ? { toRevision: b.toRevision } : {}),
                ...(b.reason ? { reason: b.reason } : {}),
              }),
            );
          },
        );
      }
      api.get<{ Querystring: { limit?: string; stage?: string; since?: string } }>(
        '/history',
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
    { prefix: '/api/v1' },
  );
}
