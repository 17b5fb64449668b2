import { type RouteDefinition, routeSchema } from '@flotilla/api';
import { messageOf } from '@flotilla/errors';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Counter } from 'prom-client';
import type { Logger } from './logger.ts';
import { RejectionBudget } from './rejection-budget.ts';
import type { SignatureCheck } from './webhook-signatures.ts';

export type WebhookRejectReason =
  | 'bad-signature'
  | 'missing-signature'
  | 'too-large'
  | 'malformed'
  | 'unknown-target';

/** What a WebhookRejected event carries: never the body, never a secret path segment. */
export interface WebhookRejection<R extends string = string> {
  receiver: R;
  reason: WebhookRejectReason;
  path: string;
  remoteAddress: string;
  deliveryId?: string;
  message: string;
}

/** Thrown by a handler for an authenticated request it cannot act on (400 malformed, 404 unknown target). */
export class WebhookRefusal extends Error {
  constructor(
    readonly status: number,
    readonly reason: 'malformed' | 'unknown-target',
    message: string,
  ) {
    super(message);
    this.name = 'WebhookRefusal';
  }
}

export interface WebhookEndpoint<R extends string> {
  receiver: R;
  /**
   * Its contract in libs/api: the path below the prefix (`/github`, `/dockerhub/:token`) and the
   * answers' schemas, which Fastify serializes them with (so a 202 is the same shape however it came).
   */
  route: RouteDefinition;
  /** A receiver without a configured secret is not served: unsigned hooks are never accepted. */
  enabled: boolean;
  /**
   * Authenticity, in constant time. `body` is undefined when it was not read (too large, not
   * parsable): answer undefined if the check needs it, so such requests are told apart.
   */
  verify(req: FastifyRequest, body: Buffer | undefined): SignatureCheck | undefined;
  /** The path as it may be logged and published (a secret path segment redacted). */
  publicPath?(url: string): string;
  /**
   * Headers carrying this sender's delivery id, read before the common ones (a WebhookRejected
   * names the delivery): kept per endpoint since a name such as `X-Request-Id` is also what
   * proxies add, and only Bitbucket Data Center means its delivery by it.
   */
  deliveryHeaders?: readonly string[];
}

export interface WebhookReceiverOptions<R extends string> {
  prefix?: string;
  bodyLimit: number;
  endpoints: Array<WebhookEndpoint<R>>;
  /**
   * An authenticated request: parse it and hand the work to the owner. Throws WebhookRefusal for a
   * payload it cannot act on. Only here can a request cause work, so an unsigned one never does.
   */
  handle(receiver: R, req: FastifyRequest, body: Buffer): Promise<{ status: number; body: unknown }>;
  /** Publishes WebhookRejected. */
  publish(rejection: WebhookRejection<R>): Promise<void>;
  /**
   * WebhookRejected events per receiver and reason per minute. Refusing is free, an event is not:
   * a flood of bad requests must not flood the stream and the audit log. Every request is still
   * answered, logged at debug and counted in the metrics.
   */
  rejectionEventsPerMinute: number;
  metrics: {
    webhooks: Counter<'receiver' | 'result'>;
    webhookRejections: Counter<'receiver' | 'reason'>;
  };
  logger: Logger;
  now?: () => number;
}

const DELIVERY_HEADERS = [
  'x-github-delivery',
  'x-gitlab-event-uuid',
  'x-gitea-delivery',
  'x-forgejo-delivery',
  'x-flotilla-delivery',
  'webhook-id',
];

export function header(req: FastifyRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * The JSON text of a webhook body. Forges whose hook content type is
 * `application/x-www-form-urlencoded` (GitHub's settings page default; Gitea, Forgejo, Gogs) send
 * `payload=<urlencoded JSON>`: the JSON is that field. Null for a form body without it.
 */
export function webhookJsonText(body: Buffer, contentType: string | undefined): string | null {
  const text = body.toString('utf8');
  return isFormEncoded(contentType) ? new URLSearchParams(text).get('payload') : text;
}

export const isFormEncoded = (contentType: string | undefined): boolean =>
  contentType?.trim().toLowerCase().startsWith('application/x-www-form-urlencoded') ?? false;

const unauthenticated = (reason: 'missing-signature' | 'bad-signature') =>
  reason === 'missing-signature' ? 'no signature or token' : 'signature or token does not match';

/**
 * POST `<prefix><endpoint.path>` for every enabled endpoint: verify → reject (status, reason, a
 * rate-limited WebhookRejected) → handle (parse, forward to the owner). Bodies are taken as raw
 * bytes whatever their content type, since signatures are over the exact bytes. Checks in order:
 * size and unparsable requests before the handler, answered 401 when the headers alone show them
 * unauthenticated; then signature (401), payload (400), target (404).
 */
export async function registerWebhookReceiver<R extends string>(
  app: FastifyInstance,
  o: WebhookReceiverOptions<R>,
): Promise<void> {
  const budget = new RejectionBudget(o.rejectionEventsPerMinute, o.now ?? Date.now);
  const byReceiver = new Map(o.endpoints.map((e) => [e.receiver, e]));

  const reject = async (
    endpoint: WebhookEndpoint<R>,
    req: FastifyRequest,
    reply: FastifyReply,
    status: number,
    reason: WebhookRejectReason,
    message: string,
  ) => {
    const { receiver } = endpoint;
    o.metrics.webhookRejections.inc({ receiver, reason });
    o.metrics.webhooks.inc({ receiver, result: 'rejected' });
    const path = endpoint.publicPath?.(req.url) ?? (req.url.split('?')[0] ?? req.url).slice(0, 2048);
    const { admitted, suppressedBefore } = budget.take(`${receiver}|${reason}`);
    if (suppressedBefore > 0)
      o.logger.warn({ receiver, reason, suppressed: suppressedBefore }, 'webhook rejections not published');
    // Logged at warn only when published: the log must not grow with the flood either.
    o.logger[admitted ? 'warn' : 'debug'](
      { receiver, reason, remote: req.ip, path },
      `webhook rejected: ${message}`,
    );
    if (admitted) {
      const deliveryId = [...(endpoint.deliveryHeaders ?? []), ...DELIVERY_HEADERS]
        .map((h) => header(req, h))
        .find((v) => v);
      try {
        await o.publish({
          receiver,
          reason,
          path,
          remoteAddress: req.ip,
          ...(deliveryId ? { deliveryId: deliveryId.slice(0, 256) } : {}),
          message,
        });
      } catch (err) {
        o.logger.error({ err: messageOf(err) }, 'could not publish WebhookRejected');
      }
    }
    return reply.code(status).send({ error: reason, message });
  };

  await app.register(
    async (scope) => {
      scope.removeAllContentTypeParsers();
      scope.addContentTypeParser('*', { parseAs: 'buffer' }, (req, body, done) => {
        req.rawBody = body as Buffer;
        done(null, body);
      });
      // Errors raised before the handler (too large, a broken stream) end up here.
      scope.setErrorHandler(async (err: Error & { statusCode?: number; code?: string }, req, reply) => {
        const receiver = (req.routeOptions.config as { receiver?: R } | undefined)?.receiver;
        const endpoint = receiver === undefined ? undefined : byReceiver.get(receiver);
        const status = err.statusCode ?? 500;
        if (!endpoint || status >= 500) {
          o.logger.error({ err: messageOf(err), receiver }, 'webhook handling failed');
          return reply.code(500).send({ error: 'internal' });
        }
        const auth = endpoint.verify(req, undefined);
        if (auth && !auth.ok)
          return reject(endpoint, req, reply, 401, auth.reason, unauthenticated(auth.reason));
        if (status === 413 || err.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
          return reject(endpoint, req, reply, 413, 'too-large', `body larger than ${o.bodyLimit} bytes`);
        return reject(endpoint, req, reply, 400, 'malformed', err.message.slice(0, 500));
      });

      for (const endpoint of o.endpoints) {
        if (!endpoint.enabled) continue;
        scope.post(
          endpoint.route.url,
          {
            bodyLimit: o.bodyLimit,
            config: { receiver: endpoint.receiver },
            schema: routeSchema(endpoint.route),
          },
          async (req, reply) => {
            const body = req.rawBody ?? Buffer.alloc(0);
            const auth = endpoint.verify(req, body) ?? { ok: false, reason: 'missing-signature' };
            if (!auth.ok) return reject(endpoint, req, reply, 401, auth.reason, unauthenticated(auth.reason));
            try {
              const res = await o.handle(endpoint.receiver, req, body);
              return reply.code(res.status).send(res.body);
            } catch (err) {
              if (err instanceof WebhookRefusal)
                return reject(endpoint, req, reply, err.status, err.reason, err.message.slice(0, 1000));
              throw err;
            }
          },
        );
      }
    },
    { prefix: o.prefix ?? '/hooks' },
  );
}
