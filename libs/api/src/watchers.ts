import { type Static, Type } from '@sinclair/typebox';
import { ErrorBody } from './common.ts';
import { defineRoute, type RouteDefinition } from './define-route.ts';

/**
 * The watchers' webhook receivers (libs/runtime webhook-receiver.ts), under `/hooks`. Bodies are
 * read as raw bytes (signatures are over the exact bytes) and parsed per forge or registry after the
 * signature check, so only the answers have schemas here.
 */
export const HOOKS_PREFIX = '/hooks';

const refused = {
  401: {
    description: 'missing or bad signature/token (a rate-limited WebhookRejected is published)',
    schema: ErrorBody,
  },
  413: { description: 'body larger than the configured limit', schema: ErrorBody },
  400: { description: 'authenticated, but not the sender’s payload shape', schema: ErrorBody },
} as const;

/**
 * Every 202 of every forge, one shape (it was `{ accepted }` or `{ ignored, ref }`, so a client had
 * to tell them apart by which field came): a push to a watched branch lists the checks started; a
 * push to another ref of a watched repository (a tag, another branch, a deleted branch) lists none
 * and names the ref. GitLab's tag pushes are another event, answered 200 like a ping.
 */
export const GitWebhookAccepted = Type.Object(
  {
    accepted: Type.Array(
      Type.Object({
        repo: Type.String(),
        handledBy: Type.Union([Type.String(), Type.Null()], {
          description: 'the instance that owns the repo and started the check; null while nobody owns it',
        }),
      }),
    ),
    ignored: Type.Optional(Type.Literal('ref', { description: 'the push was not to a watched branch' })),
    ref: Type.Optional(
      Type.String({
        description:
          'the ref pushed, when ignored; space-separated when one payload carried several (Bitbucket, Azure DevOps)',
      }),
    ),
  },
  { title: 'GitWebhookAccepted' },
);
export const ImageWebhookAccepted = Type.Object(
  {
    accepted: Type.Array(Type.String(), { description: 'watched images a check was started for' }),
    ignored: Type.Integer({ description: 'pushes of repositories not watched' }),
  },
  { title: 'ImageWebhookAccepted' },
);
/** A registry hook's set-up ping (GitHub's `ping` to the GHCR receiver): answered, nothing started. */
export const ImageWebhookPing = Type.Object({ ignored: Type.Literal('ping') }, { title: 'ImageWebhookPing' });
/** A ping (hook set-up) or an event other than a push: acknowledged, nothing started. */
export const GitWebhookIgnored = Type.Object(
  { ignored: Type.String({ description: '`ping` or `other`' }) },
  { title: 'GitWebhookIgnored' },
);

const gitHook = (receiver: string, summary: string) =>
  defineRoute({
    method: 'POST',
    url: `/${receiver}`,
    summary,
    responses: {
      200: {
        description: 'a ping or another event: acknowledged, nothing started',
        schema: GitWebhookIgnored,
      },
      202: {
        description: 'checks started here or on the owners (or another ref: ignored)',
        schema: GitWebhookAccepted,
      },
      ...refused,
      404: { description: 'no watched repository matches', schema: ErrorBody },
    },
  });

/** Answered to a sender's set-up ping (only GitHub's, to the GHCR receiver, is told apart). */
const pinged = {
  200: { description: 'the sender’s set-up ping: answered, nothing started', schema: ImageWebhookPing },
} as const;

const registryHook = (receiver: string, url: string, summary: string, opts: { ping?: boolean } = {}) => {
  const responses = {
    202: { description: `checks started (${receiver})`, schema: ImageWebhookAccepted },
    ...refused,
  };
  return defineRoute({
    method: 'POST',
    url,
    summary,
    ...(url.includes(':token')
      ? { params: Type.Object({ token: Type.String({ description: 'the secret path token' }) }) }
      : {}),
    responses: opts.ping ? { ...pinged, ...responses } : responses,
  });
};

export const gitWatcherRoutes = {
  github: gitHook('github', 'GitHub push webhook (X-Hub-Signature-256)'),
  gitlab: gitHook('gitlab', 'GitLab push/system hook (X-Gitlab-Token and/or the signing token)'),
  gitea: gitHook('gitea', 'Gitea/Forgejo push webhook (X-Gitea-Signature / X-Forgejo-Signature)'),
  gogs: gitHook('gogs', 'Gogs push webhook (X-Gogs-Signature)'),
  bitbucketServer: gitHook(
    'bitbucket-server',
    'Bitbucket Data Center/Server repo:refs_changed webhook (X-Hub-Signature)',
  ),
  bitbucketCloud: gitHook('bitbucket-cloud', 'Bitbucket Cloud repo:push webhook (X-Hub-Signature)'),
  azureDevOps: gitHook('azure-devops', 'Azure DevOps git.push service hook (HTTP Basic credentials)'),
  generic: gitHook(
    'generic',
    '`{ "repository": "<name or URL>", "ref"?: … }` signed with X-Flotilla-Signature',
  ),
} as const;

export const registryWatcherRoutes = {
  distribution: registryHook(
    'distribution',
    '/distribution',
    'CNCF Distribution notifications (Authorization: Bearer)',
  ),
  dockerhub: registryHook('dockerhub', '/dockerhub/:token', 'Docker Hub webhook (secret path token)'),
  harbor: registryHook('harbor', '/harbor', 'Harbor webhook, default or CloudEvents format (Authorization)'),
  quay: registryHook('quay', '/quay/:token', 'Quay "Push to Repository" notification (secret path token)'),
  acr: registryHook('acr', '/acr', 'Azure Container Registry webhook (custom Authorization header)'),
  nexus: registryHook(
    'nexus',
    '/nexus',
    'Sonatype Nexus Repository component webhook (X-Nexus-Webhook-Signature, HMAC-SHA1)',
  ),
  ghcr: registryHook(
    'ghcr',
    '/ghcr',
    'GitHub Container Registry: GitHub `package` / `registry_package` webhook (X-Hub-Signature-256)',
    { ping: true },
  ),
  artifactory: registryHook(
    'artifactory',
    '/artifactory',
    'JFrog Artifactory docker-domain webhook (X-JFrog-Event-Auth: secret token or HMAC-SHA256)',
  ),
  generic: registryHook(
    'generic',
    '/generic',
    '`{ "image": "registry/repo[:tag]", … }` signed with X-Flotilla-Signature',
  ),
} as const;

export const allGitWatcherRoutes = (): RouteDefinition[] => Object.values(gitWatcherRoutes);
export const allRegistryWatcherRoutes = (): RouteDefinition[] => Object.values(registryWatcherRoutes);

export type GitWebhookAccepted = Static<typeof GitWebhookAccepted>;
export type GitWebhookIgnored = Static<typeof GitWebhookIgnored>;
export type ImageWebhookAccepted = Static<typeof ImageWebhookAccepted>;
export type ImageWebhookPing = Static<typeof ImageWebhookPing>;
