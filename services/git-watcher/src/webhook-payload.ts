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

/** JSON body, or GitHub's `application/x-www-form-urlencoded` variant with the JSON in `payload`. */
export function decodeBody(body: Buffer, contentType: string | undefined): unknown {
  let text = body.toString('utf8');
  if (contentType?.toLowerCase().startsWith('application/x-www-form-urlencoded')) {
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
      // Project hooks say `Push Hook`, system hooks `System Hook`; object_kind tells both apart.
      if (body.object_kind !== 'push') return { kind: 'other', identifiers: [], ...d };
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

/** Configured repos this push is about: same repo (by name, alias, URL or `owner/name`) and same branch. */
export function matchRepos<R extends MatchableRepo>(notice: PushNotice, repos: readonly R[]): R[] {
  const branch = notice.ref?.startsWith('refs/heads/') ? notice.ref.slice('refs/heads/'.length) : undefined;
  // A tag push (or any non-branch ref) never moves a watched branch.
  if (notice.ref !== undefined && branch === undefined) return [];
  const ids = notice.identifiers.map((i) => i.trim()).filter(Boolean);
  const idsLower = ids.map((i) => i.toLowerCase());
  const idsRemote = ids.map(normaliseRemote);
  return repos.filter((repo) => {
    if (branch !== undefined && branch !== repo.branch) return false;
    const names = [repo.name, ...repo.aliases].map((n) => n.toLowerCase());
    if (idsLower.some((i) => names.includes(i))) return true;
    const remotes = [repo.url, ...repo.aliases].map(normaliseRemote);
    if (idsRemote.some((i) => remotes.includes(i))) return true;
    // `owner/name` (GitHub full_name, GitLab path_with_namespace) against the end of the URL path.
    const own = normaliseRemote(repo.url).toLowerCase();
    return idsLower.some(
      (i) => !/[:@]/.test(i) && i.includes('/') && own.endsWith(`/${i.replace(/\.git$/, '')}`),
    );
  });
}
