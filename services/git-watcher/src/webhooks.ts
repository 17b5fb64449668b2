import { type GitWebhookAccepted, type GitWebhookIgnored, gitWatcherRoutes } from '@flotilla/api';
import {
  header,
  type Logger,
  registerWebhookReceiver,
  type WebhookEndpoint,
  WebhookRefusal,
  type WebhookRejection,
} from '@flotilla/runtime';
import type { FastifyInstance } from 'fastify';
import type { Config } from './config.ts';
import type { WatcherMetrics } from './metrics.ts';
import type { WatchedRepo } from './repo.ts';
import { DELIVERY_HEADERS, receiverEnabled, verifyWebhook } from './webhook-auth.ts';
import {
  decodeBody,
  MalformedPayload,
  matchRepos,
  type PushNotice,
  parseWebhook,
  type Receiver,
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

/** Each receiver's route: `/hooks/<receiver>`. */
const ROUTES = {
  github: gitWatcherRoutes.github,
  gitlab: gitWatcherRoutes.gitlab,
  gitea: gitWatcherRoutes.gitea,
  gogs: gitWatcherRoutes.gogs,
  'bitbucket-server': gitWatcherRoutes.bitbucketServer,
  'bitbucket-cloud': gitWatcherRoutes.bitbucketCloud,
  'azure-devops': gitWatcherRoutes.azureDevOps,
  generic: gitWatcherRoutes.generic,
} as const satisfies Record<Receiver, unknown>;

/**
 * POST /hooks/<receiver> (see ROUTES) through the shared receiver: signature (401, webhook-auth.ts),
 * payload (400), repository (404), then a check here or on the repo's owner. Only that last step
 * does work, so an unsigned request never causes a fetch.
 */
export async function registerWebhooks(app: FastifyInstance, d: WebhookDeps): Promise<void> {
  const c = d.config;
  const endpoints = (Object.keys(ROUTES) as Receiver[]).map(
    (receiver): WebhookEndpoint<Receiver> => ({
      receiver,
      route: ROUTES[receiver],
      enabled: receiverEnabled(receiver, c),
      verify: (req, body) => verifyWebhook(receiver, c, req.headers, body),
      ...(DELIVERY_HEADERS[receiver] ? { deliveryHeaders: DELIVERY_HEADERS[receiver] } : {}),
    }),
  );

  await registerWebhookReceiver<Receiver>(app, {
    bodyLimit: c.bodyLimit,
    rejectionEventsPerMinute: c.rejectionEventsPerMinute,
    metrics: d.metrics,
    logger: d.logger,
    publish: d.publishRejection,
    endpoints,
    handle: async (receiver, req, body) => {
      const receivedAt = Date.now();
      let notices: PushNotice[];
      try {
        notices = parseWebhook(receiver, req.headers, decodeBody(body, header(req, 'content-type')));
      } catch (err) {
        if (err instanceof MalformedPayload) throw new WebhookRefusal(400, 'malformed', err.message);
        throw err;
      }
      const pushes = notices.filter((n) => n.kind === 'push');
      if (pushes.length === 0) {
        const kind = notices[0]?.kind ?? 'other';
        d.metrics.webhooks.inc({ receiver, result: kind });
        return { status: 200, body: { ignored: kind } satisfies GitWebhookIgnored };
      }
      const repos = d.repos();
      // Each ref on its own; a repo entry watches one branch, so at most one ref starts its check.
      const targets = new Map<string, { repo: WatchedRepo; after: string | undefined }>();
      for (const notice of pushes)
        for (const repo of matchRepos(notice, repos))
          if (!targets.has(repo.name)) targets.set(repo.name, { repo, after: trustedAfter(notice) });
      if (targets.size === 0) {
        // The repository is watched, but not these refs (other branches, tags): nothing to do.
        // Every notice of one payload names the same repository.
        const { ref: _ref, ...anyRef } = pushes[0]!;
        if (matchRepos(anyRef, repos).length > 0) {
          d.metrics.webhooks.inc({ receiver, result: 'other-ref' });
          const refs = pushes.map((n) => n.ref).filter((r): r is string => r !== undefined);
          return {
            status: 202,
            body: {
              accepted: [],
              ignored: 'ref',
              ...(refs.length > 0 ? { ref: refs.join(' ') } : {}),
            } satisfies GitWebhookAccepted,
          };
        }
        throw new WebhookRefusal(
          404,
          'unknown-target',
          `no watched repository matches ${pushes[0]!.identifiers.slice(0, 3).join(', ')}`,
        );
      }
      const accepted = await Promise.all(
        [...targets.values()].map(async ({ repo, after }) => ({
          repo: repo.name,
          ...(await d.dispatch(repo, receivedAt, after)),
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
