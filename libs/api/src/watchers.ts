import { Type } from '@sinclair/typebox';
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

const GitAccepted = Type.Object({
  accepted: Type.Array(
    Type.Object({
      repo: Type.String(),
      handledBy: Type.Union([Type.String(), Type.Null()], {
        description: 'the instance that owns the repo and started the check; null while nobody owns it',
      }),
    }),
  ),
});
const ImageAccepted = Type.Object({
  accepted: Type.Array(Type.String(), { description: 'watched images a check was started for' }),
  ignored: Type.Integer({ description: 'pushes of repositories not watched' }),
});
const Ignored = Type.Object({ ignored: Type.String() }, { additionalProperties: true });

const gitHook = (receiver: string, summary: string) =>
  defineRoute({
    method: 'POST',
    url: `/${receiver}`,
    summary,
    responses: {
      200: { description: 'a ping or another event: acknowledged, nothing started', schema: Ignored },
      202: {
        description: 'checks started here or on the owners (or another ref: ignored)',
        schema: GitAccepted,
      },
      ...refused,
      404: { description: 'no watched repository matches', schema: ErrorBody },
    },
  });

const registryHook = (receiver: string, url: string, summary: string) =>
  defineRoute({
    method: 'POST',
    url,
    summary,
    ...(url.includes(':token')
      ? { params: Type.Object({ token: Type.String({ description: 'the secret path token' }) }) }
      : {}),
    responses: { 202: { description: `checks started (${receiver})`, schema: ImageAccepted }, ...refused },
  });

export const gitWatcherRoutes = {
  github: gitHook('github', 'GitHub push webhook (X-Hub-Signature-256)'),
  gitlab: gitHook('gitlab', 'GitLab push/system hook (X-Gitlab-Token and/or the signing token)'),
  gitea: gitHook('gitea', 'Gitea/Forgejo push webhook (X-Gitea-Signature / X-Forgejo-Signature)'),
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
  generic: registryHook(
    'generic',
    '/generic',
    '`{ "image": "registry/repo[:tag]", … }` signed with X-Flotilla-Signature',
  ),
} as const;

export const allGitWatcherRoutes = (): RouteDefinition[] => Object.values(gitWatcherRoutes);
export const allRegistryWatcherRoutes = (): RouteDefinition[] => Object.values(registryWatcherRoutes);
