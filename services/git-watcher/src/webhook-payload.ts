/** What a push webhook says, reduced to what the watcher needs: which repo, which ref. */
export type Receiver = 'github' | 'gitlab' | 'gitea' | 'generic';

export interface PushNotice {
  /** `push` triggers a check; `ping` (hook set-up) and other events are acknowledged and ignored. */
  kind: 'push' | 'ping' | 'other';
  /** Names and URLs of the repository as the forge spells them (full name, clone URLs, web URL). */
  identifiers: string[];
  /** Full ref, e.g. `refs/heads/main`, when the payload names one. */
  ref?: string;
  /** New head sha, when given. */
  after?: string;
  deliveryId?: string;
}

export class MalformedPayload extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MalformedPayload';
  }
}

type Headers = Record<string, string | string[] | undefined>;

function header(headers: Headers, name: string): string | undefined {
  const v = headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

const isForm = (contentType: string | undefined) =>
  contentType?.toLowerCase().startsWith('application/x-www-form-urlencoded') ?? false;

/**
 * The bytes a forge signed. GitHub signs the body as sent, form-encoded or not. Gitea and Forgejo
 * sign the JSON payload and then, for the form content type, send it as `payload=<urlencoded
 * JSON>` (go-gitea/gitea services/webhook/deliver.go): the HMAC is over the `payload` field.
 * Undefined when a form body has no such field (the signature check then fails as missing).
 */
export function signedBytes(
  receiver: Receiver,
  body: Buffer,
  contentType: string | undefined,
): Buffer | undefined {
  if (receiver !== 'gitea' || !isForm(contentType)) return body;
  const payload = new URLSearchParams(body.toString('utf8')).get('payload');
  return payload === null ? undefined : Buffer.from(payload, 'utf8');
}

/** JSON body, or the `application/x-www-form-urlencoded` variant with the JSON in `payload`. */
export function decodeBody(body: Buffer, contentType: string | undefined): unknown {
  let text = body.toString('utf8');
  if (isForm(contentType)) {
    const payload = new URLSearchParams(text).get('payload');
    if (payload === null) throw new MalformedPayload('form body without a payload field');
    text = payload;
  }
  if (text.trim() === '') throw new MalformedPayload('empty body');
  try {
    return JSON.parse(text);
  } catch {
    throw new MalformedPayload('body is not valid JSON');
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

function requireIdentifiers(ids: string[], receiver: Receiver): string[] {
  if (ids.length === 0) throw new MalformedPayload(`${receiver} push payload names no repository`);
  return [...new Set(ids)];
}

const HUB_REPO_KEYS = ['full_name', 'clone_url', 'ssh_url', 'git_url', 'html_url', 'url'];

export function parseWebhook(receiver: Receiver, headers: Headers, body: unknown): PushNotice {
  if (!isObject(body)) throw new MalformedPayload('payload is not a JSON object');
  const ref = optionalString(body.ref);
  const after = optionalString(body.after);
  const base = { ...(ref ? { ref } : {}), ...(after ? { after } : {}) };
  switch (receiver) {
    case 'github':
    case 'gitea': {
      const event =
        receiver === 'github'
          ? header(headers, 'x-github-event')
          : (header(headers, 'x-gitea-event') ??
            header(headers, 'x-forgejo-event') ??
            header(headers, 'x-github-event'));
      const deliveryId =
        receiver === 'github'
          ? header(headers, 'x-github-delivery')
          : (header(headers, 'x-gitea-delivery') ?? header(headers, 'x-forgejo-delivery'));
      const d = deliveryId ? { deliveryId } : {};
      if (event === 'ping') return { kind: 'ping', identifiers: [], ...d };
      // A deleted branch (GitHub and Gitea send `delete` besides, or instead of, a push with
      // `deleted: true`): the watched branch may be gone, so it is checked like a push.
      if (event === 'delete' && body.ref_type === 'branch' && ref) {
        return {
          kind: 'push',
          identifiers: requireIdentifiers(strings(body.repository, HUB_REPO_KEYS), receiver),
          ref: ref.startsWith('refs/') ? ref : `refs/heads/${ref}`,
          ...d,
        };
      }
      if (event !== undefined && event !== 'push') return { kind: 'other', identifiers: [], ...d };
      if (!ref) throw new MalformedPayload(`${receiver} push payload has no ref`);
      return {
        kind: 'push',
        identifiers: requireIdentifiers(strings(body.repository, HUB_REPO_KEYS), receiver),
        ...base,
        ...d,
      };
    }
    case 'gitlab': {
      const deliveryId = header(headers, 'x-gitlab-event-uuid') ?? header(headers, 'x-gitlab-webhook-uuid');
      const d = deliveryId ? { deliveryId } : {};
      // Project hooks name the event in `object_kind`; system hooks (`X-Gitlab-Event: System
      // Hook`) in `event_name` only. Tag pushes (`tag_push`) never move a watched branch.
      const kind = optionalString(body.object_kind) ?? optionalString(body.event_name);
      if (kind !== 'push') return { kind: 'other', identifiers: [], ...d };
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
      return { kind: 'push', identifiers: requireIdentifiers(ids, 'gitlab'), ...base, ...d };
    }
    case 'generic': {
      // { "repository": "<configured name or URL>" | { name, url, full_name }, "ref"?, "after"? }
      const deliveryId = header(headers, 'x-flotilla-delivery');
      const d = deliveryId ? { deliveryId } : {};
      const repo = body.repository ?? body.repo;
      const ids =
        typeof repo === 'string' ? [repo] : strings(repo, ['name', 'full_name', 'url', 'clone_url']);
      return { kind: 'push', identifiers: requireIdentifiers(ids, 'generic'), ...base, ...d };
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
