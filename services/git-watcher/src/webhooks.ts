import { type GitWebhookAccepted, type GitWebhookIgnored, gitWatcherRoutes } from '@flotilla/api';
import {
  header,
  type Logger,
  registerWebhookReceiver,
  type SignatureCheck,
  verifyGithubSignature,
  verifyGitlabToken,
  verifyHexHmac,
  verifyStandardWebhook,
  WebhookRefusal,
  type WebhookRejection,
} from '@flotilla/runtime';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Config } from './config.ts';
import type { WatcherMetrics } from './metrics.ts';
import type { WatchedRepo } from './repo.ts';
import {
  decodeBody,
  MalformedPayload,
  matchRepos,
  type PushNotice,
  parseWebhook,
  type Receiver,
  signedBytes,
} from './webhook-payload.ts';

export interface WebhookDeps {
  config: Config['webhooks'];
  repos: () => readonly WatchedRepo[];
  metrics: WatcherMetrics;
  logger: Logger;
  /** Publishes WebhookRejected (the receiver rate-limits the calls). */
  publishRejection: (rejection: WebhookRejection<Receiver>) => Promise<void>;
  /** Starts a check of `repo` here or on its owner; says who took it. */
  /** `after`: the branch's new head from the verified payload (see {@link trustedAfter}). */
  dispatch: (repo: WatchedRepo, receivedAt: number, after?: string) => Promise<{ handledBy: string | null }>;
}

/**
 * Every configured GitLab scheme must pass: the signing token when set (over the body), the secret
 * token when set (a header).
 */
function verifyGitlab(config: Config['webhooks'], req: FastifyRequest, body: Buffer | undefined) {
  const { gitlabSecret, gitlabSigningToken } = config;
  if (gitlabSigningToken) {
    if (!body) return undefined;
    const signed = verifyStandardWebhook(gitlabSigningToken, body, {
      id: header(req, 'webhook-id'),
      timestamp: header(req, 'webhook-timestamp'),
      signature: header(req, 'webhook-signature'),
    });
    if (!signed.ok) return signed;
  }
  return gitlabSecret
    ? verifyGitlabToken(gitlabSecret, header(req, 'x-gitlab-token'))
    : { ok: true as const };
}

/**
 * POST /hooks/{github,gitlab,gitea,generic} through the shared receiver: signature (401), payload
 * (400), repository (404), then a check here or on the repo's owner. Only that last step does work,
 * so an unsigned request never causes a fetch.
 */
export async function registerWebhooks(app: FastifyInstance, d: WebhookDeps): Promise<void> {
  const c = d.config;
  const bodySigned =
    (verify: (body: Buffer, req: FastifyRequest) => SignatureCheck) =>
    (req: FastifyRequest, body: Buffer | undefined) =>
      body ? verify(body, req) : undefined;

  await registerWebhookReceiver<Receiver>(app, {
    bodyLimit: c.bodyLimit,
    rejectionEventsPerMinute: c.rejectionEventsPerMinute,
    metrics: d.metrics,
    logger: d.logger,
    publish: d.publishRejection,
    endpoints: [
      {
        receiver: 'github',
        route: gitWatcherRoutes.github,
        enabled: !!c.githubSecret,
        // GitHub signs the body as sent, JSON or form-encoded.
        verify: bodySigned((body, req) =>
          verifyGithubSignature(c.githubSecret!, body, header(req, 'x-hub-signature-256')),
        ),
      },
      {
        receiver: 'gitlab',
        route: gitWatcherRoutes.gitlab,
        enabled: !!(c.gitlabSecret || c.gitlabSigningToken),
        verify: (req, body) => verifyGitlab(c, req, body),
      },
      {
        receiver: 'gitea',
        route: gitWatcherRoutes.gitea,
        enabled: !!c.giteaSecret,
        // Gitea sends X-Gitea-Signature (and a GitHub-style copy), Forgejo X-Forgejo-Signature: bare
        // hex over the JSON payload, which the form content type wraps in `payload=`.
        verify: bodySigned((body, req) => {
          const signed = signedBytes('gitea', body, header(req, 'content-type'));
          const sig =
            header(req, 'x-forgejo-signature') ??
            header(req, 'x-gitea-signature') ??
            header(req, 'x-hub-signature-256');
          if (!signed) return { ok: false, reason: sig ? 'bad-signature' : 'missing-signature' };
          return verifyHexHmac(c.giteaSecret!, signed, sig);
        }),
      },
      {
        receiver: 'generic',
        route: gitWatcherRoutes.generic,
        enabled: !!c.genericSecret,
        verify: bodySigned((body, req) =>
          verifyHexHmac(c.genericSecret!, body, header(req, 'x-flotilla-signature')),
        ),
      },
    ],
    handle: async (receiver, req, body) => {
      const receivedAt = Date.now();
      let notice: ReturnType<typeof parseWebhook>;
      try {
        notice = parseWebhook(receiver, req.headers, decodeBody(body, header(req, 'content-type')));
      } catch (err) {
        if (err instanceof MalformedPayload) throw new WebhookRefusal(400, 'malformed', err.message);
        throw err;
      }
      if (notice.kind !== 'push') {
        d.metrics.webhooks.inc({ receiver, result: notice.kind });
        return { status: 200, body: { ignored: notice.kind } satisfies GitWebhookIgnored };
      }
      const repos = d.repos();
      const matched = matchRepos(notice, repos);
      if (matched.length === 0) {
        // The repository is watched, but not this ref (another branch, a tag): nothing to do.
        const { ref: _ref, ...anyRef } = notice;
        if (matchRepos(anyRef, repos).length > 0) {
          d.metrics.webhooks.inc({ receiver, result: 'other-ref' });
          return {
            status: 202,
            body: { accepted: [], ignored: 'ref', ref: notice.ref } satisfies GitWebhookAccepted,
          };
        }
        throw new WebhookRefusal(
          404,
          'unknown-target',
          `no watched repository matches ${notice.identifiers.slice(0, 3).join(', ')}`,
        );
      }
      const accepted = await Promise.all(
        matched.map(async (repo) => ({
          repo: repo.name,
          ...(await d.dispatch(repo, receivedAt, trustedAfter(notice))),
        })),
      );
      d.metrics.webhooks.inc({ receiver, result: 'accepted' });
      return { status: 202, body: { accepted } satisfies GitWebhookAccepted };
    },
  });
}

/**
 * The payload's new head, when it can stand in for asking the remote: the request's signature was
 * verified before parsing, the payload names the branch's ref (matchRepos matched it to the watched
 * branch), and `after` is a commit id, not the all-zero id of a deleted branch. The watcher still
 * fetches that commit from the remote and takes it only as a fast-forward of what it has seen;
 * anything else (a replayed older payload, a force-push) goes the ls-remote way.
 */
export function trustedAfter(notice: PushNotice): string | undefined {
  const after = notice.after?.toLowerCase();
  if (!notice.ref?.startsWith('refs/heads/') || !after) return undefined;
  if (!/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(after) || /^0+$/.test(after)) return undefined;
  return after;
}
