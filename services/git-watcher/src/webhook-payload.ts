import {
  isFormEncoded,
  parseUntrustedJson,
  type UntrustedJsonError,
  webhookJsonText,
} from '@flotilla/runtime';

/** What a push webhook says, reduced to what the watcher needs: which repo, which ref. */
export type Receiver =
  | 'github'
  | 'gitlab'
  | 'gitea'
  | 'gogs'
  | 'bitbucket-server'
  | 'bitbucket-cloud'
  | 'azure-devops'
  | 'generic';

export interface PushNotice {
  /** `push` triggers a check; `ping` (hook set-up) and other events are acknowledged and ignored. */
  kind: 'push' | 'ping' | 'other';
  /** Names and URLs of the repository as the forge spells them (full name, clone URLs, web URL). */
  identifiers: string[];
  /** Full ref, e.g. `refs/heads/main`, when the payload names one. */
  ref?: string;
  /** New head sha, when given (never for a deleted ref). */
  after?: string;
  deliveryId?: string;
}

export class MalformedPayload extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MalformedPayload';
  }
}

export type Headers = Record<string, string | string[] | undefined>;

export function header(headers: Headers, name: string): string | undefined {
  const v = headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * The bytes a forge signed. GitHub signs the body as sent, form-encoded or not. Gitea and Forgejo
 * sign the JSON payload and then, for the form content type, send it as `payload=<urlencoded
 * JSON>` (go-gitea/gitea services/webhook/deliver.go): the HMAC is over the `payload` field. Gogs,
 * which Gitea forked from, does the same (gogs/gogs internal/database/webhook.go).
 * Undefined when a form body has no such field (the signature check then fails as missing).
 */
export function signedBytes(
  receiver: Receiver,
  body: Buffer,
  contentType: string | undefined,
): Buffer | undefined {
  if ((receiver !== 'gitea' && receiver !== 'gogs') || !isFormEncoded(contentType)) return body;
  const payload = webhookJsonText(body, contentType);
  return payload === null ? undefined : Buffer.from(payload, 'utf8');
}

/** JSON body, or the `application/x-www-form-urlencoded` variant with the JSON in `payload`. */
export function decodeBody(body: Buffer, contentType: string | undefined): unknown {
  const text = webhookJsonText(body, contentType);
  if (text === null) throw new MalformedPayload('form body without a payload field');
  if (text.trim() === '') throw new MalformedPayload('empty body');
  try {
    return parseUntrustedJson(text);
  } catch (err) {
    throw new MalformedPayload(`body ${(err as UntrustedJsonError).message}`);
  }
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function strings(obj: unknown, keys: string[]): string[] {
  if (!isObject(obj)) return [];
  return keys.map((k) => obj[k]).filter((v): v is string => typeof v === 'string' && v.length > 0);
}

function optionalString(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

/** `obj.a.b.c` when every step is an object and the end a non-empty string. */
function path(obj: unknown, ...keys: string[]): string | undefined {
  let node = obj;
  for (const k of keys) node = isObject(node) ? node[k] : undefined;
  return optionalString(node);
}

function requireIdentifiers(ids: string[], receiver: Receiver): string[] {
  if (ids.length === 0) throw new MalformedPayload(`${receiver} push payload names no repository`);
  return [...new Set(ids)];
}

const withDelivery = (deliveryId: string | undefined) => (deliveryId ? { deliveryId } : {});

/** A commit id that is a new head: not the all-zero id git and the forges use for a deleted ref. */
const newHead = (sha: string | undefined) => (sha && !/^0+$/.test(sha) ? sha : undefined);

interface RefUpdate {
  ref: string;
  after?: string | undefined;
}

/**
 * One notice per ref a multi-ref payload reports (Bitbucket, Azure DevOps): each is matched and
 * checked on its own, as if the forge had sent one push per ref. An empty list (nothing says which
 * refs moved) is one notice without a ref: every watched branch of the repository is checked.
 */
function perRef(
  receiver: Receiver,
  identifiers: string[],
  updates: RefUpdate[],
  deliveryId: string | undefined,
): PushNotice[] {
  const ids = requireIdentifiers(identifiers, receiver);
  const d = withDelivery(deliveryId);
  if (updates.length === 0) return [{ kind: 'push', identifiers: ids, ...d }];
  return updates.map(({ ref, after }) => ({
    kind: 'push',
    identifiers: ids,
    ref,
    ...(after ? { after } : {}),
    ...d,
  }));
}

function requireList(v: unknown, message: string): unknown[] {
  if (!Array.isArray(v)) throw new MalformedPayload(message);
  return v;
}

const HUB_REPO_KEYS = ['full_name', 'clone_url', 'ssh_url', 'git_url', 'html_url', 'url'];

/** GitHub, Gitea/Forgejo and Gogs: one ref per push, the same payload shape. */
function parseHubLike(
  receiver: 'github' | 'gitea' | 'gogs',
  headers: Headers,
  body: Record<string, unknown>,
) {
  const event =
    receiver === 'github'
      ? header(headers, 'x-github-event')
      : receiver === 'gogs'
        ? (header(headers, 'x-gogs-event') ?? header(headers, 'x-github-event'))
        : (header(headers, 'x-gitea-event') ??
          header(headers, 'x-forgejo-event') ??
          header(headers, 'x-github-event'));
  const deliveryId =
    receiver === 'github'
      ? header(headers, 'x-github-delivery')
      : receiver === 'gogs'
        ? (header(headers, 'x-gogs-delivery') ?? header(headers, 'x-github-delivery'))
        : (header(headers, 'x-gitea-delivery') ?? header(headers, 'x-forgejo-delivery'));
  const d = withDelivery(deliveryId);
  const ref = optionalString(body.ref);
  const after = optionalString(body.after);
  if (event === 'ping') return { kind: 'ping' as const, identifiers: [], ...d };
  // A deleted branch (GitHub and Gitea send `delete` besides, or instead of, a push with
  // `deleted: true`; Gogs only `delete`, with the short name): the watched branch may be gone,
  // so it is checked like a push.
  if (event === 'delete' && body.ref_type === 'branch' && ref) {
    return {
      kind: 'push' as const,
      identifiers: requireIdentifiers(strings(body.repository, HUB_REPO_KEYS), receiver),
      ref: ref.startsWith('refs/') ? ref : `refs/heads/${ref}`,
      ...d,
    };
  }
  if (event !== undefined && event !== 'push') return { kind: 'other' as const, identifiers: [], ...d };
  if (!ref) throw new MalformedPayload(`${receiver} push payload has no ref`);
  return {
    kind: 'push' as const,
    identifiers: requireIdentifiers(strings(body.repository, HUB_REPO_KEYS), receiver),
    ref,
    ...(after ? { after } : {}),
    ...d,
  };
}

/**
 * Bitbucket Data Center (and Server before it): `repo:refs_changed` lists every ref a push moved
 * in `changes[]` (`ref.id`, `toHash`, `type` ADD/UPDATE/DELETE); the repository by clone links
 * (ssh and http) and `project.key`/`slug`. "Test connection" sends `diagnostics:ping`.
 */
function parseBitbucketServer(headers: Headers, body: Record<string, unknown>): PushNotice[] {
  const deliveryId = header(headers, 'x-request-id');
  const d = withDelivery(deliveryId);
  const event = header(headers, 'x-event-key') ?? optionalString(body.eventKey);
  if (event === undefined)
    throw new MalformedPayload('bitbucket-server request names no event (no X-Event-Key)');
  if (event === 'diagnostics:ping') return [{ kind: 'ping', identifiers: [], ...d }];
  if (event !== 'repo:refs_changed') return [{ kind: 'other', identifiers: [], ...d }];
  const repo = isObject(body.repository) ? body.repository : {};
  const links = isObject(repo.links) ? repo.links : {};
  const hrefs = (v: unknown) => (Array.isArray(v) ? v.flatMap((l) => strings(l, ['href'])) : []);
  const key = path(repo, 'project', 'key');
  const slug = optionalString(repo.slug);
  const ids = [...hrefs(links.clone), ...hrefs(links.self), ...(key && slug ? [`${key}/${slug}`] : [])];
  const changes = requireList(body.changes, 'bitbucket-server repo:refs_changed payload has no changes list');
  const updates = changes.map((c): RefUpdate => {
    const ref = path(c, 'ref', 'id') ?? path(c, 'refId');
    if (!ref) throw new MalformedPayload('bitbucket-server change names no ref (ref.id)');
    const after = isObject(c) && c.type !== 'DELETE' ? newHead(optionalString(c.toHash)) : undefined;
    return { ref, after };
  });
  return perRef('bitbucket-server', ids, updates, deliveryId);
}

/** Git ref of a Bitbucket Cloud ref object (`{ type: branch | tag | annotated_tag, name }`). */
function bitbucketCloudRef(side: Record<string, unknown>): string {
  const name = optionalString(side.name);
  const type = optionalString(side.type);
  if (!name || !type) throw new MalformedPayload('bitbucket-cloud change names no ref (name and type)');
  if (type === 'branch') return `refs/heads/${name}`;
  if (type === 'tag' || type === 'annotated_tag') return `refs/tags/${name}`;
  // Anything else (Mercurial's named branches and bookmarks, of old) is no git branch.
  return `refs/${type}/${name}`;
}

/**
 * Bitbucket Cloud: `repo:push` lists the refs in `push.changes[]`, each with `new` (null when the
 * ref was deleted) and `old` (null when created); the repository by `full_name` and its web link,
 * which names the same path as its clone URLs.
 */
function parseBitbucketCloud(headers: Headers, body: Record<string, unknown>): PushNotice[] {
  const deliveryId = header(headers, 'x-request-uuid');
  const d = withDelivery(deliveryId);
  const event = header(headers, 'x-event-key');
  if (event === undefined)
    throw new MalformedPayload('bitbucket-cloud request names no event (no X-Event-Key)');
  if (event !== 'repo:push') return [{ kind: 'other', identifiers: [], ...d }];
  const ids = [
    ...strings(body.repository, ['full_name']),
    ...[path(body.repository, 'links', 'html', 'href')].filter((v): v is string => v !== undefined),
  ];
  const changes = requireList(
    isObject(body.push) ? body.push.changes : undefined,
    'bitbucket-cloud repo:push payload has no push.changes list',
  );
  const updates = changes.map((c): RefUpdate => {
    const now = isObject(c) && isObject(c.new) ? c.new : undefined;
    const before = isObject(c) && isObject(c.old) ? c.old : undefined;
    const side = now ?? before;
    if (!side) throw new MalformedPayload('bitbucket-cloud change has neither new nor old');
    return { ref: bitbucketCloudRef(side), after: now ? newHead(path(now, 'target', 'hash')) : undefined };
  });
  return perRef('bitbucket-cloud', ids, updates, deliveryId);
}

/**
 * The ssh address Azure DevOps gives the repository of an https remote URL
 * (`https://dev.azure.com/{org}/{project}/_git/{repo}` ↔ `git@ssh.dev.azure.com:v3/{org}/{project}/{repo}`):
 * the payload names only the https one, and a repo may be watched over ssh.
 */
function azureSshUrl(remoteUrl: string): string | undefined {
  try {
    const u = new URL(remoteUrl);
    const m = /^\/([^/]+)\/([^/]+)\/_git\/([^/]+)\/?$/.exec(u.pathname);
    if (u.hostname.toLowerCase() !== 'dev.azure.com' || !m) return undefined;
    return `git@ssh.dev.azure.com:v3/${m[1]}/${m[2]}/${m[3]}`;
  } catch {
    return undefined;
  }
}

/**
 * Azure DevOps "Code pushed" service hook (`eventType: git.push`): the refs in
 * `resource.refUpdates[]` (`name`, `newObjectId`, all zeros when deleted), the repository by its
 * `remoteUrl`; the notification `id` names the delivery (there is no delivery header).
 */
function parseAzureDevOps(body: Record<string, unknown>): PushNotice[] {
  const deliveryId = optionalString(body.id);
  const d = withDelivery(deliveryId);
  const eventType = optionalString(body.eventType);
  if (eventType === undefined) throw new MalformedPayload('azure-devops payload has no eventType');
  if (eventType !== 'git.push') return [{ kind: 'other', identifiers: [], ...d }];
  const resource = isObject(body.resource) ? body.resource : undefined;
  if (!resource) throw new MalformedPayload('azure-devops git.push payload has no resource');
  const repo = resource.repository;
  const remoteUrl = path(repo, 'remoteUrl');
  const project = path(repo, 'project', 'name');
  const name = path(repo, 'name');
  const ids = [
    ...strings(repo, ['remoteUrl', 'sshUrl', 'webUrl']),
    ...[remoteUrl && azureSshUrl(remoteUrl)].filter((v): v is string => !!v),
    ...(project && name ? [`${project}/${name}`] : []),
  ];
  const refUpdates = requireList(
    resource.refUpdates,
    'azure-devops git.push payload has no resource.refUpdates list',
  );
  const updates = refUpdates.map((u): RefUpdate => {
    const ref = path(u, 'name');
    if (!ref) throw new MalformedPayload('azure-devops ref update names no ref (name)');
    return { ref, after: newHead(path(u, 'newObjectId')) };
  });
  return perRef('azure-devops', ids, updates, deliveryId);
}

/**
 * What a verified request asks for: one notice per ref the payload reports (GitHub, GitLab,
 * Gitea, Gogs and the generic receiver report one; Bitbucket and Azure DevOps may report several
 * in one delivery). A ping or another event is one notice of that kind.
 */
export function parseWebhook(receiver: Receiver, headers: Headers, body: unknown): PushNotice[] {
  if (!isObject(body)) throw new MalformedPayload('payload is not a JSON object');
  const ref = optionalString(body.ref);
  const after = optionalString(body.after);
  const base = { ...(ref ? { ref } : {}), ...(after ? { after } : {}) };
  switch (receiver) {
    case 'github':
    case 'gitea':
    case 'gogs':
      return [parseHubLike(receiver, headers, body)];
    case 'bitbucket-server':
      return parseBitbucketServer(headers, body);
    case 'bitbucket-cloud':
      return parseBitbucketCloud(headers, body);
    case 'azure-devops':
      return parseAzureDevOps(body);
    case 'gitlab': {
      const d = withDelivery(
        header(headers, 'x-gitlab-event-uuid') ?? header(headers, 'x-gitlab-webhook-uuid'),
      );
      // Project hooks name the event in `object_kind`; system hooks (`X-Gitlab-Event: System
      // Hook`) in `event_name` only. Tag pushes (`tag_push`) never move a watched branch.
      const kind = optionalString(body.object_kind) ?? optionalString(body.event_name);
      if (kind !== 'push') return [{ kind: 'other', identifiers: [], ...d }];
      if (!ref) throw new MalformedPayload('gitlab push payload has no ref');
      const ids = [
        ...strings(body.project, [
          'path_with_namespace',
          'git_http_url',
          'git_ssh_url',
          'web_url',
          'http_url',
          'ssh_url',
        ]),
        ...strings(body.repository, ['git_http_url', 'git_ssh_url', 'homepage', 'url']),
      ];
      return [{ kind: 'push', identifiers: requireIdentifiers(ids, 'gitlab'), ...base, ...d }];
    }
    case 'generic': {
      // { "repository": "<configured name or URL>" | { name, url, full_name }, "ref"?, "after"? }
      const d = withDelivery(header(headers, 'x-flotilla-delivery'));
      const repo = body.repository ?? body.repo;
      const ids =
        typeof repo === 'string' ? [repo] : strings(repo, ['name', 'full_name', 'url', 'clone_url']);
      return [{ kind: 'push', identifiers: requireIdentifiers(ids, 'generic'), ...base, ...d }];
    }
  }
}

/**
 * A remote URL in a comparable form: `host[:port]/path`, lower-case host, no scheme, user,
 * credentials, `.git` suffix or trailing slash (`git@h:o/r.git` and `https://h/o/r` are equal).
 */
export function normaliseRemote(url: string): string {
  const trimmed = url.trim();
  const scp = /^(?:[^@/]+@)?([^:/]+):(?!\/)(.*)$/.exec(trimmed);
  let hostPath: string;
  if (scp && !/^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed)) hostPath = `${scp[1]!.toLowerCase()}/${scp[2]}`;
  else {
    try {
      const u = new URL(trimmed);
      hostPath = u.protocol === 'file:' ? u.pathname : `${u.host.toLowerCase()}${u.pathname}`;
    } catch {
      hostPath = trimmed;
    }
  }
  return hostPath
    .replace(/\/+$/, '')
    .replace(/\.git$/, '')
    .replace(/\/+$/, '');
}

export interface MatchableRepo {
  name: string;
  url: string;
  branch: string;
  aliases: readonly string[];
}

/** Host name (no port, lower case) of a remote URL or scp-style address; undefined for a bare name. */
export function remoteHost(id: string): string | undefined {
  const t = id.trim();
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(t)) {
    try {
      const u = new URL(t);
      return u.protocol === 'file:' ? undefined : u.hostname.toLowerCase() || undefined;
    } catch {
      return undefined;
    }
  }
  return /^(?:[^@/]+@)?([^:/]+):(?!\/)/.exec(t)?.[1]?.toLowerCase();
}

/**
 * Configured repos this push is about: same repo (by name, alias, URL or `owner/name`) and same
 * branch. `owner/name` alone exists on every forge, so when the payload also names its host (clone
 * and web URLs always do) a repo on another host is not matched: a push to `acme/app` on
 * github.com does not trigger the `acme/app` of a GitHub Enterprise host.
 */
export function matchRepos<R extends MatchableRepo>(notice: PushNotice, repos: readonly R[]): R[] {
  const branch = notice.ref?.startsWith('refs/heads/') ? notice.ref.slice('refs/heads/'.length) : undefined;
  // A tag push (or any non-branch ref) never moves a watched branch.
  if (notice.ref !== undefined && branch === undefined) return [];
  const ids = notice.identifiers.map((i) => i.trim()).filter(Boolean);
  const idsLower = ids.map((i) => i.toLowerCase());
  // Only what names a host is compared as a URL; bare names are handled below.
  const idsRemote = ids
    .filter((i) => remoteHost(i) !== undefined || i.startsWith('file:'))
    .map(normaliseRemote);
  const hosts = new Set(ids.map(remoteHost).filter((h): h is string => h !== undefined));
  return repos.filter((repo) => {
    if (branch !== undefined && branch !== repo.branch) return false;
    // The configured name is unique; URLs carry their host.
    if (idsLower.includes(repo.name.toLowerCase())) return true;
    const remotes = [repo.url, ...repo.aliases.filter((a) => remoteHost(a) !== undefined)].map(
      normaliseRemote,
    );
    if (idsRemote.some((i) => remotes.includes(i))) return true;
    // Bare names from here on: only if the payload's host (when it names one) is the repo's.
    const host = remoteHost(repo.url);
    if (hosts.size > 0 && host !== undefined && !hosts.has(host)) return false;
    const aliases = repo.aliases.map((n) => n.toLowerCase());
    if (idsLower.some((i) => aliases.includes(i))) return true;
    // `owner/name` (GitHub full_name, GitLab path_with_namespace) against the end of the URL path.
    const own = normaliseRemote(repo.url).toLowerCase();
    return idsLower.some(
      (i) => !/[:@]/.test(i) && i.includes('/') && own.endsWith(`/${i.replace(/\.git$/, '')}`),
    );
  });
}
