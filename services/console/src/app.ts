import { randomUUID } from 'node:crypto';
import {
  consoleAuthRoutes as A,
  consoleRoutes as C,
  type ClusterPage,
  CONSOLE_API_PREFIX,
  type DecisionBody,
  type LeadTimes,
  type Overview,
  type PromotionPage,
  type PromotionStatus,
  routeSchema,
  type SessionAnswer,
  type SignedIn,
  type Timeline,
  type TimelineRecord,
} from '@flotilla/api';
import type { DriftRecord } from '@flotilla/cli';
import { FlotillaError, isFlotillaError } from '@flotilla/errors';
import type { Logger } from '@flotilla/runtime';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Asset } from './assets.ts';
import {
  type AuditApi,
  type AuditRecordWire,
  chainStatus,
  HISTORY_FILTERS,
  type HistoryFilter,
} from './audit-client.ts';
import { clusterDetail } from './cluster-detail.ts';
import { IDEMPOTENCY_KEY } from './decision-keys.ts';
import type { IdentityProvider } from './identity.ts';
import { LEAD_TIME_EVENTS, leadTimes } from './lead-time.ts';
import type { EventHub, LiveEvent } from './live-feed.ts';
import { pipelineViews } from './overview.ts';
import type { PipelineStatus, PlannerApi } from './planner-adapter.ts';
import { redactEventData } from './redact.ts';
import { csrfMatches, readCookie, SESSION_COOKIE, type Session, type SessionSealer } from './session.ts';
import { summarize } from './summary.ts';

export interface ConsoleDeps {
  planner: PlannerApi;
  audit: AuditApi;
  identity: IdentityProvider;
  sessions: SessionSealer;
  hub: EventHub;
  assets: Map<string, Asset>;
  logger: Logger;
  secureCookie?: boolean;
  heartbeatMs?: number;
  /** e.g. `https://git.example.com/org/config/commit/{sha}`; the page links commits with it. */
  commitUrl?: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    session?: Session;
  }
}

const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join('; ');

/** A refusal the page shows as is: `{error, message}` with the status. */
function fail(reply: FastifyReply, status: number, error: string, message: string) {
  return reply.code(status).send({ error, message });
}

/** The planner said the token is no good (revoked since sign-in): end the session too. */
function signedOut(reply: FastifyReply, deps: ConsoleDeps) {
  reply.header('set-cookie', deps.sessions.cookie('', { secure: !!deps.secureCookie, clear: true }));
  return fail(reply, 401, 'unauthenticated', 'the planner no longer accepts your token; sign in again');
}

function timelineRecord(r: AuditRecordWire): TimelineRecord {
  return {
    seq: r.seq,
    id: r.id,
    time: r.time,
    event: r.event,
    actor: r.actor,
    cluster: r.cluster ?? null,
    stage: r.stage ?? null,
    commit: r.commit ?? r.revision ?? null,
    promotionId: r.promotionId ?? null,
    summary: summarize(r.event, r.data),
    data: redactEventData(r.event, r.data),
    hash: r.hash,
  };
}

function driftRecord(r: AuditRecordWire): DriftRecord {
  return { event: r.event, seq: r.seq, data: r.data as DriftRecord['data'] };
}

function stageOfClusters(pipelines: readonly PipelineStatus[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const p of pipelines) for (const s of p.stages) for (const c of s.clusters) out.set(c.name, s.name);
  return out;
}

/**
 * The console's HTTP surface: sign-in (sealed cookie session), a read API composed from the
 * planner's and audit-writer's APIs, decisions forwarded to the planner with the signed-in
 * person's own token, a Server-Sent Events stream, and the single-page app.
 */
export function registerConsole(app: FastifyInstance, deps: ConsoleDeps): void {
  const secure = !!deps.secureCookie;

  app.addHook('onSend', async (_req, reply, payload) => {
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'no-referrer');
    reply.header('content-security-policy', CSP);
    return payload;
  });

  app.setErrorHandler((err: Error & { statusCode?: number }, req, reply) => {
    if (isFlotillaError(err) && (err.code.endsWith('-unavailable') || err.code.endsWith('-timeout'))) {
      return reply.code(err.code.endsWith('-timeout') ? 504 : 503).send({
        error: err.code,
        message: err.message,
        upstream: (err.details as { upstream?: string }).upstream,
      });
    }
    const status = err.statusCode && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) req.log.error({ err }, 'console request failed');
    return reply
      .code(status)
      .send({ error: status === 500 ? 'internal' : 'bad-request', message: err.message });
  });

  // ---- sessions -------------------------------------------------------------------------------

  const session = (req: FastifyRequest) => deps.sessions.open(readCookie(req.headers.cookie, SESSION_COOKIE));

  /**
   * Mutating calls: JSON only (a cross-site form cannot send it without a preflight), from this
   * origin when the browser says where it comes from, and with the session's CSRF token.
   */
  const sameOriginJson = (req: FastifyRequest): string | undefined => {
    const type = req.headers['content-type'] ?? '';
    if (!type.startsWith('application/json')) return 'mutating calls take application/json';
    const origin = req.headers.origin;
    if (origin && origin !== 'null') {
      let host: string | undefined;
      try {
        host = new URL(origin).host;
      } catch {
        host = undefined;
      }
      if (host !== req.headers.host) return `origin ${origin} is not this console`;
    } else if (origin === 'null') return 'opaque origins may not call the console';
    return undefined;
  };

  app.post(A.login.url, { schema: routeSchema(A.login) }, async (req, reply) => {
    const bad = sameOriginJson(req);
    if (bad) return fail(reply, 403, 'csrf', bad);
    const body = (req.body ?? {}) as Record<string, unknown>;
    const identity = await deps.identity.signIn(body);
    if (!identity) return fail(reply, 401, 'unauthenticated', 'the planner does not accept this token');
    const s = deps.sessions.create(identity);
    reply.header('set-cookie', deps.sessions.cookie(deps.sessions.seal(s), { secure }));
    req.log.info({ user: identity.name, provider: identity.provider }, 'signed in');
    return {
      identity: { name: s.name, groups: s.groups, provider: s.provider },
      csrfToken: s.csrf,
    } satisfies SignedIn;
  });

  // "Not signed in" is an answer here, not an error: the page asks this first on every load.
  app.get(A.session.url, { schema: routeSchema(A.session) }, async (req): Promise<SessionAnswer> => {
    const s = session(req);
    if (!s) return { identity: null };
    return { identity: { name: s.name, groups: s.groups, provider: s.provider }, csrfToken: s.csrf };
  });

  app.post(A.logout.url, { schema: routeSchema(A.logout) }, async (req, reply) => {
    const s = session(req);
    if (s && !csrfMatches(s, req.headers['x-csrf-token']))
      return fail(reply, 403, 'csrf', 'missing or wrong x-csrf-token');
    reply.header('set-cookie', deps.sessions.cookie('', { secure, clear: true }));
    return { signedOut: true as const };
  });

  // ---- the API (signed in only) ------------------------------------------------------------------

  void app.register(
    async (api) => {
      api.addHook('onRequest', async (req, reply) => {
        const s = session(req);
        if (!s) return fail(reply, 401, 'unauthenticated', 'sign in first');
        if (req.method !== 'GET' && req.method !== 'HEAD') {
          const bad = sameOriginJson(req);
          if (bad) return fail(reply, 403, 'csrf', bad);
          if (!csrfMatches(s, req.headers['x-csrf-token']))
            return fail(reply, 403, 'csrf', 'missing or wrong x-csrf-token');
        }
        req.session = s;
      });
      const me = (req: FastifyRequest) => req.session as Session;

      /** The planner's pipelines with this person's token; a 401 ends the session. */
      const pipelines = async (req: FastifyRequest, reply: FastifyReply) => {
        const res = await deps.planner.pipelines(me(req).bearer);
        if (res.status === 401) return { reply: signedOut(reply, deps) };
        if (res.status !== 200) {
          const b = res.body as { error?: string; message?: string };
          return {
            reply: fail(reply, res.status, b.error ?? 'planner-error', b.message ?? `HTTP ${res.status}`),
          };
        }
        return { list: (res.body as { pipelines: PipelineStatus[] }).pipelines };
      };

      api.get(C.pipelines.url, { schema: routeSchema(C.pipelines) }, async (req, reply) => {
        const p = await pipelines(req, reply);
        if (!p.list) return p.reply;
        // Drift comes from the audit log; when it is down the page says "unknown", not "none".
        let drift: AuditRecordWire[] | undefined;
        try {
          const [det, cor] = await Promise.all(
            ['DriftDetected', 'DriftCorrected'].map((type) =>
              deps.audit.history(me(req).bearer, { type, limit: '10000' }),
            ),
          );
          if (det?.status === 200 && cor?.status === 200) drift = [...det.body.records, ...cor.body.records];
        } catch {
          drift = undefined;
        }
        const s = me(req);
        return {
          identity: { name: s.name, groups: s.groups },
          pipelines: pipelineViews(p.list, drift?.map(driftRecord), { name: s.name, groups: s.groups }),
          audit: drift ? 'ok' : 'unavailable',
          live: deps.hub.connected,
          at: new Date().toISOString(),
        } satisfies Overview;
      });

      api.get<{ Params: { cluster: string } }>(
        C.cluster.url,
        { schema: routeSchema(C.cluster) },
        async (req, reply) => {
          const p = await pipelines(req, reply);
          if (!p.list) return p.reply;
          const cluster = req.params.cluster;
          const stage = stageOfClusters(p.list).get(cluster);
          if (!stage) return fail(reply, 404, 'not-found', `no cluster ${cluster} in any pipeline`);
          const res = await deps.audit.history(me(req).bearer, { cluster, limit: '10000' });
          if (res.status !== 200)
            return fail(reply, 502, 'audit-error', `audit history answered ${res.status}`);
          return { stage, ...clusterDetail(cluster, res.body.records) } satisfies ClusterPage;
        },
      );

      api.get<{ Params: { id: string } }>(
        C.promotion.url,
        { schema: routeSchema(C.promotion) },
        async (req, reply) => {
          const [p, res] = await Promise.all([
            pipelines(req, reply),
            deps.planner.promotion(me(req).bearer, req.params.id),
          ]);
          if (!p.list) return p.reply;
          if (res.status !== 200) {
            const b = res.body as { error?: string; message?: string };
            return fail(reply, res.status, b.error ?? 'planner-error', b.message ?? `HTTP ${res.status}`);
          }
          const { promotion } = res.body as { promotion: PromotionStatus };
          const s = me(req);
          const views = pipelineViews(p.list, undefined, { name: s.name, groups: s.groups });
          const stages = views.flatMap((v) => v.stages);
          const to = stages.find((x) => x.name === promotion.toStage);
          const from = stages.find((x) => x.name === promotion.fromStage);
          return {
            promotion,
            toStage: to ?? null,
            fromStage: from ?? null,
            /** What changes in the target stage: its current images next to the promoted ones. */
            current: to?.images ?? [],
            approvers: to?.approvers ?? [],
            youMayApprove:
              promotion.status === 'awaiting' &&
              !!to?.promotions.find((x) => x.id === req.params.id)?.youMayApprove,
            commitUrl: deps.commitUrl ?? null,
          } satisfies PromotionPage;
        },
      );

      // The rendered objects a decision changes, as the planner computed and redacted them.
      for (const [of, route] of [
        ['promotions', C.promotionDiff],
        ['changes', C.changeDiff],
      ] as const)
        api.get<{ Params: { id: string } }>(route.url, { schema: routeSchema(route) }, async (req, reply) => {
          const res = await deps.planner.diff(me(req).bearer, of, req.params.id);
          if (res.status === 401) return signedOut(reply, deps);
          if (res.status !== 200) {
            const b = res.body as { error?: string; message?: string };
            return fail(reply, res.status, b.error ?? 'planner-error', b.message ?? `HTTP ${res.status}`);
          }
          return res.body;
        });

      const decide = (verb: 'approve' | 'reject') => async (req: FastifyRequest, reply: FastifyReply) => {
        const id = (req.params as { id: string }).id;
        // Validated by the route's schema (strings of at most 1000 characters).
        const body = (req.body ?? {}) as DecisionBody;
        const text = body.comment ?? body.reason;
        // The page's key for this decision (the same on its retries); a caller without one still
        // gets one, so every decision reaches the planner keyed and the console's own retries of
        // an unreachable planner cannot decide twice.
        const sent = req.headers['idempotency-key'];
        const key = (Array.isArray(sent) ? sent[0] : sent)?.trim() || randomUUID();
        if (!IDEMPOTENCY_KEY.test(key))
          return fail(
            reply,
            400,
            'bad-idempotency-key',
            'Idempotency-Key must be 1 to 200 printable ASCII characters',
          );
        const res = await deps.planner.decide(me(req).bearer, id, verb, text, key);
        if (res.status === 401) return signedOut(reply, deps);
        req.log.info({ user: me(req).name, id, verb, status: res.status }, 'promotion decision forwarded');
        return reply.code(res.status).send(res.body);
      };
      api.post(C.approve.url, { schema: routeSchema(C.approve) }, decide('approve'));
      api.post(C.reject.url, { schema: routeSchema(C.reject) }, decide('reject'));

      api.get(C.timeline.url, { schema: routeSchema(C.timeline) }, async (req, reply) => {
        const q = req.query as Record<string, string | undefined>;
        const filter: HistoryFilter = { limit: '10000' };
        for (const k of HISTORY_FILTERS) if (q[k]) filter[k] = q[k];
        const limit = Math.min(Math.max(Number(q.limit ?? 200) || 200, 1), 2000);
        const [hist, verify] = await Promise.all([
          deps.audit.history(me(req).bearer, filter),
          deps.audit.verify(me(req).bearer),
        ]);
        if (hist.status !== 200) {
          const b = hist.body as unknown as { error?: string; message?: string };
          return fail(reply, hist.status, b.error ?? 'audit-error', b.message ?? `HTTP ${hist.status}`);
        }
        const records = hist.body.records.slice(-limit).reverse().map(timelineRecord);
        return {
          records,
          total: hist.body.records.length,
          verify: chainStatus(verify),
          commitUrl: deps.commitUrl ?? null,
        } satisfies Timeline;
      });

      api.get(C.export.url, { schema: routeSchema(C.export) }, async (req, reply) => {
        const q = req.query as Record<string, string | undefined>;
        const format = q.format === 'csv' ? 'csv' : 'json';
        const url = deps.audit.exportUrl({
          format,
          ...(q.since ? { since: q.since } : {}),
          ...(q.until ? { until: q.until } : {}),
        });
        let res: Response;
        try {
          res = await (deps.audit.fetch ?? fetch)(url, {
            headers: { authorization: `Bearer ${me(req).bearer}` },
            signal: AbortSignal.timeout(30_000),
          });
        } catch (err) {
          throw new FlotillaError(
            'console.audit-unavailable',
            `the audit-writer is unreachable: ${String(err)}`,
            {
              disposition: 'retry',
              details: { upstream: 'audit' },
            },
          );
        }
        reply.code(res.status);
        for (const [k, v] of res.headers) if (k.startsWith('x-flotilla-export-')) reply.header(k, v);
        reply.header('content-type', res.headers.get('content-type') ?? 'application/json');
        reply.header('content-disposition', `attachment; filename="flotilla-production-changes.${format}"`);
        return reply.send(Buffer.from(await res.arrayBuffer()));
      });

      api.get(C.leadTimes.url, { schema: routeSchema(C.leadTimes) }, async (req, reply) => {
        const p = await pipelines(req, reply);
        if (!p.list) return p.reply;
        const results = await Promise.all(
          LEAD_TIME_EVENTS.map((type) => deps.audit.history(me(req).bearer, { type, limit: '10000' })),
        );
        const records = results.flatMap((r) => (r.status === 200 ? r.body.records : []));
        const order = p.list.flatMap((x) => x.stages.map((s) => s.name));
        return leadTimes(records, stageOfClusters(p.list), order) satisfies LeadTimes;
      });

      /** Live events as Server-Sent Events; the page refetches state on (re)connect. */
      api.get(C.events.url, { schema: routeSchema(C.events) }, (req, reply) => {
        reply.hijack();
        const res = reply.raw;
        res.writeHead(200, {
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-store',
          connection: 'keep-alive',
          'x-accel-buffering': 'no',
          'x-content-type-options': 'nosniff',
        });
        res.flushHeaders();
        const write = (event: string, data: unknown, id?: string) => {
          res.write(`${id ? `id: ${id}\n` : ''}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
        };
        res.write('retry: 2000\n\n');
        write('hello', { live: deps.hub.connected, user: me(req).name });
        const off = deps.hub.subscribe((e: LiveEvent) => write('flotilla', e, e.id));
        let lastLive = deps.hub.connected;
        const beat = setInterval(() => {
          if (deps.hub.connected !== lastLive) {
            lastLive = deps.hub.connected;
            write('hello', { live: lastLive, user: me(req).name });
          } else res.write(': keep-alive\n\n');
        }, deps.heartbeatMs ?? 15_000);
        const close = () => {
          clearInterval(beat);
          off();
        };
        req.raw.on('close', close);
        res.on('error', close);
      });
    },
    { prefix: CONSOLE_API_PREFIX },
  );

  // ---- the page -----------------------------------------------------------------------------------

  const serve = (path: string) => async (req: FastifyRequest, reply: FastifyReply) => {
    const asset = deps.assets.get(path);
    if (!asset) return fail(reply, 404, 'not-found', `${path}: the console's assets are not built`);
    if (req.headers['if-none-match'] === asset.etag) return reply.code(304).send();
    const accept = String(req.headers['accept-encoding'] ?? '');
    reply.header('content-type', asset.type).header('etag', asset.etag).header('vary', 'accept-encoding');
    // index.html is revalidated so a new deploy is picked up; hashed bundles could be cached longer.
    reply.header('cache-control', 'no-cache');
    if (/\bbr\b/.test(accept)) return reply.header('content-encoding', 'br').send(asset.br);
    if (/\bgzip\b/.test(accept)) return reply.header('content-encoding', 'gzip').send(asset.gzip);
    return reply.send(asset.raw);
  };
  app.get('/', serve('/index.html'));
  app.get<{ Params: { '*': string } }>('/assets/*', (req, reply) =>
    serve(`/assets/${req.params['*']}`)(req, reply),
  );
}
