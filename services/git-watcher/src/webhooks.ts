import type { Bus } from '@flotilla/bus';
import { messageOf } from '@flotilla/errors';
import { WebhookRejected } from '@flotilla/events';
import {
  type Logger,
  type SignatureCheck,
  verifyGithubSignature,
  verifyGitlabToken,
  verifyHexHmac,
  verifyStandardWebhook,
} from '@flotilla/runtime';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from './config.ts';
import type { WatcherMetrics } from './metrics.ts';
import type { WatchedRepo } from './repo.ts';
import {
  decodeBody,
  MalformedPayload,
  matchRepos,
  parseWebhook,
  type Receiver,
  signedBytes,
} from './webhook-payload.ts';

type RejectReason = 'bad-signature' | 'missing-signature' | 'too-large' | 'malformed' | 'unknown-target';

export interface WebhookDeps {
  config: Config['webhooks'];
  repos: () => readonly WatchedRepo[];
  bus: Bus;
  metrics: WatcherMetrics;
  logger: Logger;
  /** Starts a check of `repo` here or on its owner; says who took it. */
  dispatch: (repo: WatchedRepo, receivedAt: number) => Promise<{ handledBy: string | null }>;
}

const header = (req: FastifyRequest, name: string): string | undefined => {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
};

interface ReceiverSpec {
  receiver: Receiver;
  /** A receiver without any configured secret is not served. */
  enabled: boolean;
  verify: (body: Buffer, req: FastifyRequest) => SignatureCheck;
}

/** Every configured GitLab scheme must pass: the signing token when set, the secret token when set. */
function verifyGitlab(config: Config['webhooks'], body: Buffer, req: FastifyRequest): SignatureCheck {
  const { gitlabSecret, gitlabSigningToken } = config;
  if (gitlabSigningToken) {
    const signed = verifyStandardWebhook(gitlabSigningToken, body, {
      id: header(req, 'webhook-id'),
      timestamp: header(req, 'webhook-timestamp'),
      signature: header(req, 'webhook-signature'),
    });
    if (!signed.ok) return signed;
  }
  return gitlabSecret ? verifyGitlabToken(gitlabSecret, header(req, 'x-gitlab-token')) : { ok: true };
}

/**
 * POST /hooks/{github,gitlab,gitea,generic}. Order of checks: size (413, before the body is read
 * whole), signature over the signed bytes (401), payload (400), repository (404). Only then is a
 * check started, so an unsigned request never causes a fetch. A receiver without a secret is not served.
 */
export async function registerWebhooks(app: FastifyInstance, d: WebhookDeps): Promise<void> {
  const c = d.config;
  const specs: ReceiverSpec[] = [
    {
      receiver: 'github',
      enabled: !!c.githubSecret,
      // GitHub signs the body as sent, JSON or form-encoded.
      verify: (body, req) => verifyGithubSignature(c.githubSecret!, body, header(req, 'x-hub-signature-256')),
    },
    {
      receiver: 'gitlab',
      enabled: !!(c.gitlabSecret || c.gitlabSigningToken),
      verify: (body, req) => verifyGitlab(c, body, req),
    },
    {
      receiver: 'gitea',
      enabled: !!c.giteaSecret,
      // Gitea sends X-Gitea-Signature (and a GitHub-style copy), Forgejo X-Forgejo-Signature: bare
      // hex over the JSON payload, which the form content type wraps in `payload=`.
      verify: (body, req) => {
        const signed = signedBytes('gitea', body, header(req, 'content-type'));
        const sig =
          header(req, 'x-forgejo-signature') ??
          header(req, 'x-gitea-signature') ??
          header(req, 'x-hub-signature-256');
        if (!signed) return { ok: false, reason: sig ? 'bad-signature' : 'missing-signature' };
        return verifyHexHmac(c.giteaSecret!, signed, sig);
      },
    },
    {
      receiver: 'generic',
      enabled: !!c.genericSecret,
      verify: (body, req) => verifyHexHmac(c.genericSecret!, body, header(req, 'x-flotilla-signature')),
    },
  ];

  const reject = async (
    receiver: Receiver,
    req: FastifyRequest,
    reply: FastifyReply,
    status: number,
    reason: RejectReason,
    message: string,
  ) => {
    d.metrics.webhookRejections.inc({ receiver, reason });
    d.metrics.webhooks.inc({ receiver, result: 'rejected' });
    d.logger.warn({ receiver, reason, remote: req.ip, path: req.url }, `webhook rejected: ${message}`);
    const deliveryId =
      header(req, 'x-github-delivery') ??
      header(req, 'x-gitlab-event-uuid') ??
      header(req, 'x-gitea-delivery') ??
      header(req, 'x-forgejo-delivery') ??
      header(req, 'x-flotilla-delivery');
    try {
      await d.bus.publish(WebhookRejected, {
        receiver,
        reason,
        path: req.url.slice(0, 2048),
        remoteAddress: req.ip,
        ...(deliveryId ? { deliveryId: deliveryId.slice(0, 256) } : {}),
        message,
      });
    } catch (err) {
      d.logger.error({ err: messageOf(err) }, 'could not publish WebhookRejected');
    }
    return reply.code(status).send({ error: reason, message });
  };

  await app.register(async (scope) => {
    // Signatures are over the exact bytes: take every content type as a raw buffer, parse later.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer' }, (req, body, done) => {
      req.rawBody = body as Buffer;
      done(null, body);
    });
    scope.setErrorHandler(async (err: Error & { statusCode?: number; code?: string }, req, reply) => {
      const receiver = (/^\/hooks\/([a-z]+)/.exec(req.url)?.[1] ?? 'generic') as Receiver;
      if (err.statusCode === 413 || err.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
        return reject(receiver, req, reply, 413, 'too-large', `body larger than ${d.config.bodyLimit} bytes`);
      if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500)
        return reject(receiver, req, reply, err.statusCode, 'malformed', err.message);
      d.logger.error({ err: messageOf(err), path: req.url }, 'webhook handler failed');
      return reply.code(500).send({ error: 'internal' });
    });

    for (const spec of specs) {
      if (!spec.enabled) continue;
      scope.post(`/hooks/${spec.receiver}`, { bodyLimit: d.config.bodyLimit }, async (req, reply) => {
        const receivedAt = Date.now();
        const body = req.rawBody ?? Buffer.alloc(0);
        const sig = spec.verify(body, req);
        if (!sig.ok)
          return reject(
            spec.receiver,
            req,
            reply,
            401,
            sig.reason,
            sig.reason === 'missing-signature' ? 'no signature header' : 'signature does not match',
          );
        let notice: ReturnType<typeof parseWebhook>;
        try {
          notice = parseWebhook(spec.receiver, req.headers, decodeBody(body, header(req, 'content-type')));
        } catch (err) {
          if (err instanceof MalformedPayload)
            return reject(spec.receiver, req, reply, 400, 'malformed', err.message);
          throw err;
        }
        if (notice.kind !== 'push') {
          d.metrics.webhooks.inc({ receiver: spec.receiver, result: notice.kind });
          return reply.code(200).send({ ignored: notice.kind });
        }
        const repos = d.repos();
        const matched = matchRepos(notice, repos);
        if (matched.length === 0) {
          // The repository is watched, but not this ref (another branch, a tag): nothing to do.
          const { ref: _ref, ...anyRef } = notice;
          const other = matchRepos(anyRef, repos);
          if (other.length > 0) {
            d.metrics.webhooks.inc({ receiver: spec.receiver, result: 'other-ref' });
            return reply.code(202).send({ ignored: 'ref', ref: notice.ref });
          }
          return reject(
            spec.receiver,
            req,
            reply,
            404,
            'unknown-target',
            `no watched repository matches ${notice.identifiers.slice(0, 3).join(', ')}`.slice(0, 1000),
          );
        }
        const results = await Promise.all(
          matched.map(async (repo) => ({ repo: repo.name, ...(await d.dispatch(repo, receivedAt)) })),
        );
        d.metrics.webhooks.inc({ receiver: spec.receiver, result: 'accepted' });
        return reply.code(202).send({ accepted: results });
      });
    }
  });
}
