import { createHash } from 'node:crypto';
import { type BackoffPolicy, parseRetryAfter, retryDelay } from '@flotilla/async';

/** How the client retries 429/502/503/504 and network errors (the shared backoff of @flotilla/async). */
export interface RetryPolicy extends BackoffPolicy {
  /** Total attempts including the first (default 4). */
  attempts: number;
  /** Longest Retry-After we are willing to sleep inside one call (default 30 s); longer → error with `wait`. */
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 4, baseMs: 250, maxMs: 8000, maxRetryAfterMs: 30_000 };

import { drain, readBounded, readErrorText } from './bounded-body.ts';
import { codeForRegistryCode, codeForStatus, OciError, parseErrorBody } from './errors.ts';
import { DOCKER_HUB, DOCKER_HUB_API, isValidDigest, normalizeRegistry } from './image-ref.ts';
import { parseNextLink } from './link-header.ts';
import { BoundedCache } from './lru.ts';
import { baseMediaType, INDEX_MEDIA_TYPES, MANIFEST_ACCEPT } from './media-types.ts';
import { parseWwwAuthenticate } from './www-authenticate.ts';

export type RegistryCredentials = { username: string; password: string } | { token: string };

export interface RegistryClientOptions {
  /** `host[:port]` (https, or http for loopback hosts), a URL string, or a URL. `docker.io` → Docker Hub's API host. */
  registry: string | URL;
  credentials?: RegistryCredentials;
  /** Allow plain http to non-loopback hosts. Loopback (127.0.0.1, localhost, ::1) may always use http. */
  insecure?: boolean;
  userAgent?: string;
  /** Upper bound on tags returned by listTags (default 10,000); a repository with more is reported truncated. */
  maxTags?: number;
  /** Page size sent as `n` (default 1000). Registries may ignore it (Distribution 2.8 returns everything). */
  pageSize?: number;
  /** Upper bound on tag-list pages per listTags call (default: enough for maxTags plus slack, at most 1000). */
  maxPages?: number;
  /** Retry policy for 429/502/503/504 and network errors. */
  backoff?: Partial<RetryPolicy>;
  /** Per-request timeout (default 30 s). */
  timeoutMs?: number;
  /** Send If-None-Match from remembered ETags/digests (default true). */
  conditional?: boolean;
  /** Entries kept for conditional requests and immutable (by-digest) lookups (default 5000). */
  cacheSize?: number;
}

export type RequestKind = 'ping' | 'tags' | 'manifestHead' | 'manifestGet' | 'blob' | 'token';

/** Counters for budgets in tests and benchmarks. Every HTTP exchange counts, including redirects and retries. */
export interface ClientStats {
  requests: number;
  byKind: Record<RequestKind, number>;
  /** 304 answers (a conditional request that found nothing changed). */
  notModified: number;
  /** Answers with 429. */
  rateLimited: number;
  /** Attempts repeated after 429/5xx/network errors. */
  retries: number;
  /** Total time slept in backoff (ms). */
  waitedMs: number;
}

export interface ManifestHead {
  digest: string;
  mediaType: string;
  size: number;
  /** True when the registry answered 304 to our If-None-Match (or the ref is a digest we already know). */
  notModified: boolean;
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
  'os.version'?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
}

export interface ManifestResult extends ManifestHead {
  kind: 'index' | 'image' | 'unknown';
  /** The parsed JSON document. */
  manifest: Record<string, unknown>;
  config?: Descriptor;
  layers?: Descriptor[];
  manifests?: Descriptor[];
  /** For an index: one entry per runnable platform (attestation entries `unknown/unknown` left out). */
  platforms?: (Platform & { digest: string })[];
}

export interface TagList {
  name: string;
  tags: string[];
  /** Every page came back 304: nothing changed since the last call. */
  notModified: boolean;
  /** Stopped at maxTags or maxPages: the list is incomplete. */
  truncated: boolean;
  pages: number;
}

export interface ListTagsOptions {
  pageSize?: number;
  maxTags?: number;
  maxPages?: number;
}

export interface PingResult {
  status: number;
  apiVersion?: string;
  /** How the registry wants clients to authenticate, when it said so. */
  authScheme?: 'basic' | 'bearer';
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

function isLoopback(hostname: string): boolean {
  return LOOPBACK.has(hostname) || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

/** Resolve the registry option to the API base URL (origin only). */
export function registryBaseUrl(registry: string | URL, insecure = false): URL {
  let url: URL;
  if (registry instanceof URL) {
    url = new URL(registry.origin);
  } else if (registry.includes('://')) {
    url = new URL(new URL(registry).origin);
  } else {
    const host = normalizeRegistry(registry.replace(/\/+$/, ''));
    const apiHost = host === DOCKER_HUB ? DOCKER_HUB_API : host;
    const probe = new URL(`http://${apiHost}`);
    url = new URL(`${isLoopback(probe.hostname) || insecure ? 'http' : 'https'}://${apiHost}`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new OciError('oci.invalid-config', `registry URL must be http(s): ${url.protocol}`);
  }
  if (url.protocol === 'http:' && !insecure && !isLoopback(url.hostname)) {
    throw new OciError('oci.invalid-config', `refusing plain http to ${url.host}; set insecure to allow it`);
  }
  return url;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The registry's own words for a message (` NAME_UNKNOWN (repository name not known)`), if it had any. */
function registrySaid(parsed: { code: string; message: string } | undefined): string {
  return parsed ? ` ${parsed.code}${parsed.message ? ` (${parsed.message})` : ''}` : '';
}

function digestOf(algorithm: string, body: Uint8Array): string | undefined {
  const algo = algorithm === 'sha256' || algorithm === 'sha512' ? algorithm : undefined;
  return algo ? `${algo}:${createHash(algo).update(body).digest('hex')}` : undefined;
}

interface CachedToken {
  token: string;
  expiresAt: number;
}

interface BearerChallenge {
  realm: string;
  service?: string;
}

type ManifestEntry = { etag: string; head: Omit<ManifestHead, 'notModified'>; result?: ManifestResult };
type TagPage = { tags: string[]; next?: string };

const EMPTY_STATS = (): ClientStats => ({
  requests: 0,
  byKind: { ping: 0, tags: 0, manifestHead: 0, manifestGet: 0, blob: 0, token: 0 },
  notModified: 0,
  rateLimited: 0,
  retries: 0,
  waitedMs: 0,
});

/**
 * OCI Distribution client on Node's fetch. Spends as few requests as it can: tokens are cached
 * per scope, the auth scheme is learned once and then sent up front, ETags make repeat reads 304,
 * and by-digest lookups (immutable) are answered from memory.
 */
export class RegistryClient {
  readonly base: URL;
  readonly registry: string;
  readonly stats: ClientStats = EMPTY_STATS();

  private readonly credentials: RegistryCredentials | undefined;
  private readonly insecure: boolean;
  private readonly userAgent: string;
  private readonly maxTags: number;
  private readonly pageSize: number;
  private readonly maxPages: number | undefined;
  private readonly policy: RetryPolicy;
  private readonly timeoutMs: number;
  private readonly conditional: boolean;

  private scheme: 'basic' | 'bearer' | undefined;
  private bearer: BearerChallenge | undefined;
  private readonly tokens = new Map<string, CachedToken>();
  /** Token requests in flight per scope: parallel calls share one instead of each asking. */
  private readonly pendingTokens = new Map<string, Promise<string>>();
  private readonly manifests: BoundedCache<string, ManifestEntry>;
  private readonly tagPages: BoundedCache<string, { etag: string; page: TagPage }>;
  private readonly configCreated: BoundedCache<string, Date | null>;

  constructor(options: RegistryClientOptions) {
    this.insecure = options.insecure ?? false;
    this.base = registryBaseUrl(options.registry, this.insecure);
    this.registry = this.base.host;
    this.credentials = options.credentials;
    this.userAgent = options.userAgent ?? 'flotilla-oci/0.1';
    this.maxTags = options.maxTags ?? 10_000;
    this.pageSize = options.pageSize ?? 1000;
    this.maxPages = options.maxPages;
    this.policy = { ...DEFAULT_RETRY, ...options.backoff };
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.conditional = options.conditional ?? true;
    const size = options.cacheSize ?? 5000;
    this.manifests = new BoundedCache(size);
    this.tagPages = new BoundedCache(size);
    this.configCreated = new BoundedCache(size);
    if ('token' in (this.credentials ?? {})) this.scheme = 'bearer';
  }

  resetStats(): void {
    Object.assign(this.stats, EMPTY_STATS());
  }

  /** `GET /v2/`: checks reachability and, with credentials, that they are accepted. */
  async ping(): Promise<PingResult> {
    const res = await this.send('ping', 'GET', new URL('/v2/', this.base), {});
    await drain(res);
    if (res.status !== 200) throw this.httpError(res.status, '', 'ping', {});
    return {
      status: res.status,
      ...(res.headers.get('docker-distribution-api-version')
        ? { apiVersion: res.headers.get('docker-distribution-api-version')! }
        : {}),
      ...(this.scheme ? { authScheme: this.scheme } : {}),
    };
  }

  /**
   * All tags of a repository, following `Link: <…>; rel="next"` with a bounded number of pages.
   * Registries that ignore `n` (Distribution 2.8) simply answer everything in one page.
   */
  async listTags(repo: string, options: ListTagsOptions = {}): Promise<TagList> {
    const maxTags = options.maxTags ?? this.maxTags;
    const pageSize = options.pageSize ?? this.pageSize;
    const maxPages =
      options.maxPages ?? this.maxPages ?? Math.min(1000, Math.ceil(maxTags / Math.max(1, pageSize)) + 2);
    const first = new URL(`/v2/${repo}/tags/list`, this.base);
    if (pageSize > 0) first.searchParams.set('n', String(Math.min(pageSize, maxTags)));
    const tags: string[] = [];
    const seen = new Set<string>();
    let url: URL | undefined = first;
    let pages = 0;
    let allNotModified = true;
    let truncated = false;
    let name = repo;
    while (url) {
      if (pages >= maxPages) {
        truncated = true;
        break;
      }
      seen.add(url.href);
      pages++;
      const key = `${repo}\n${url.pathname}${url.search}`;
      const cached = this.conditional ? this.tagPages.get(key) : undefined;
      const res = await this.send('tags', 'GET', url, { repo, ifNoneMatch: cached?.etag });
      let page: TagPage;
      if (res.status === 304 && cached) {
        await drain(res);
        this.stats.notModified++;
        page = cached.page;
      } else if (res.status === 200) {
        allNotModified = false;
        const body = this.json(
          await readBounded(res, 'tags', { registry: this.registry, repository: repo }),
          'tag list',
        ) as {
          name?: unknown;
          tags?: unknown;
        };
        if (typeof body.name === 'string') name = body.name;
        const list = Array.isArray(body.tags)
          ? body.tags.filter((t): t is string => typeof t === 'string')
          : [];
        const next = parseNextLink(res.headers.get('link'), url);
        page = { tags: list, ...(next ? { next: next.href } : {}) };
        const etag = res.headers.get('etag');
        if (etag && this.conditional) this.tagPages.set(key, { etag, page });
      } else {
        throw this.httpError(res.status, await readErrorText(res, this.registry), 'tags', {
          repository: repo,
        });
      }
      for (const t of page.tags) {
        if (tags.length >= maxTags) {
          truncated = true;
          break;
        }
        tags.push(t);
      }
      if (truncated) break;
      url = undefined;
      if (page.next) {
        const next = new URL(page.next);
        if (next.origin !== this.base.origin) {
          throw new OciError('oci.protocol', `tag list of ${repo} links to another host (${next.host})`, {
            details: { registry: this.registry, repository: repo },
          });
        }
        // A registry that repeats a page or sends an empty page with a next link would loop forever.
        if (!seen.has(next.href) && page.tags.length > 0) url = next;
      }
    }
    return { name, tags, notModified: pages > 0 && allNotModified && !truncated, truncated, pages };
  }

  /** Digest, media type and size of a manifest without downloading it (HEAD; GET only if the digest header is missing). */
  async headManifest(repo: string, ref: string): Promise<ManifestHead> {
    const key = `${repo}\n${ref}`;
    const cached = this.manifests.get(key);
    if (cached && isValidDigest(ref)) return { ...cached.head, notModified: true };
    const url = new URL(`/v2/${repo}/manifests/${ref}`, this.base);
    const ifNoneMatch = this.conditional ? cached?.etag : undefined;
    const res = await this.send('manifestHead', 'HEAD', url, { repo, accept: MANIFEST_ACCEPT, ifNoneMatch });
    await drain(res);
    if (res.status === 304 && cached) {
      this.stats.notModified++;
      this.manifests.set(key, cached);
      return { ...cached.head, notModified: true };
    }
    if (res.status !== 200)
      throw this.httpError(res.status, '', 'manifest', { repository: repo, reference: ref });
    const digest = res.headers.get('docker-content-digest');
    if (!digest) {
      // Without the header, only the body tells the digest.
      const full = await this.getManifest(repo, ref);
      return {
        digest: full.digest,
        mediaType: full.mediaType,
        size: full.size,
        notModified: full.notModified,
      };
    }
    const head = {
      digest,
      mediaType: baseMediaType(res.headers.get('content-type')) ?? '',
      size: Number(res.headers.get('content-length') ?? 0),
    };
    const prior = cached?.head.digest === digest ? cached.result : undefined;
    this.manifests.set(key, {
      etag: res.headers.get('etag') ?? `"${digest}"`,
      head,
      ...(prior ? { result: prior } : {}),
    });
    return { ...head, notModified: false };
  }

  /** The manifest itself, digest verified; for an index also its platforms. */
  async getManifest(repo: string, ref: string): Promise<ManifestResult> {
    const key = `${repo}\n${ref}`;
    const cached = this.manifests.get(key);
    if (cached?.result && isValidDigest(ref)) return { ...cached.result, notModified: true };
    const url = new URL(`/v2/${repo}/manifests/${ref}`, this.base);
    const ifNoneMatch = this.conditional && cached?.result ? cached.etag : undefined;
    const res = await this.send('manifestGet', 'GET', url, { repo, accept: MANIFEST_ACCEPT, ifNoneMatch });
    if (res.status === 304 && cached?.result) {
      await drain(res);
      this.stats.notModified++;
      return { ...cached.result, notModified: true };
    }
    if (res.status !== 200) {
      throw this.httpError(res.status, await readErrorText(res, this.registry), 'manifest', {
        repository: repo,
        reference: ref,
      });
    }
    const body = await readBounded(res, 'manifest', {
      registry: this.registry,
      repository: repo,
      reference: ref,
    });
    const digest = this.verifiedDigest(body, res.headers.get('docker-content-digest'), ref, repo);
    let manifest: Record<string, unknown>;
    try {
      manifest = JSON.parse(Buffer.from(body).toString('utf8')) as Record<string, unknown>;
    } catch (err) {
      throw new OciError('oci.manifest-invalid', `manifest ${repo}:${ref} is not JSON`, {
        cause: err,
        details: { registry: this.registry, repository: repo, reference: ref },
      });
    }
    const mediaType =
      baseMediaType(res.headers.get('content-type')) ??
      (typeof manifest.mediaType === 'string' ? manifest.mediaType : '');
    const result = describeManifest(manifest, {
      digest,
      // Some registries answer application/json; the document's own mediaType is then the better witness.
      mediaType:
        mediaType === 'application/json' && typeof manifest.mediaType === 'string'
          ? manifest.mediaType
          : mediaType,
      size: body.length,
    });
    const head = { digest, mediaType: result.mediaType, size: body.length };
    this.manifests.set(key, { etag: res.headers.get('etag') ?? `"${digest}"`, head, result });
    if (!isValidDigest(ref)) this.manifests.set(`${repo}\n${digest}`, { etag: `"${digest}"`, head, result });
    return result;
  }

  /**
   * Creation time from the image config blob. Costs one or two extra requests per image (more for
   * an index), which is why watchers keep it off unless asked. Cached by config digest.
   */
  async getConfigCreated(repo: string, manifest: ManifestResult | string): Promise<Date | undefined> {
    let m = typeof manifest === 'string' ? await this.getManifest(repo, manifest) : manifest;
    if (m.kind === 'index') {
      const chosen =
        m.platforms?.find((p) => p.os === 'linux' && p.architecture === 'amd64') ??
        m.platforms?.[0] ??
        undefined;
      const digest = chosen?.digest ?? m.manifests?.[0]?.digest;
      if (!digest) return undefined;
      m = await this.getManifest(repo, digest);
    }
    const config = m.config;
    if (!config) return undefined;
    const known = this.configCreated.get(config.digest);
    if (known !== undefined) return known ?? undefined;
    const url = new URL(`/v2/${repo}/blobs/${config.digest}`, this.base);
    const res = await this.send('blob', 'GET', url, { repo, accept: '*/*' });
    if (res.status !== 200) {
      throw this.httpError(res.status, await readErrorText(res, this.registry), 'blob', {
        repository: repo,
        reference: config.digest,
      });
    }
    const body = await readBounded(res, 'config', {
      registry: this.registry,
      repository: repo,
      reference: config.digest,
    });
    this.verifiedDigest(body, null, config.digest, repo);
    let created: Date | undefined;
    try {
      const parsed = JSON.parse(Buffer.from(body).toString('utf8')) as { created?: unknown };
      if (typeof parsed.created === 'string') {
        const d = new Date(parsed.created);
        if (!Number.isNaN(d.getTime())) created = d;
      }
    } catch {
      created = undefined;
    }
    this.configCreated.set(config.digest, created ?? null);
    return created;
  }

  // -------------------------------------------------------------------------------------------

  private verifiedDigest(body: Uint8Array, header: string | null, ref: string, repo: string): string {
    const expected = [header, isValidDigest(ref) ? ref : null].filter((d): d is string => !!d);
    for (const want of expected) {
      const algo = want.split(':')[0] ?? '';
      const got = digestOf(algo, body);
      if (got !== undefined && got !== want) {
        throw new OciError(
          'oci.digest-mismatch',
          `content of ${repo}@${ref} hashes to ${got}, expected ${want}`,
          {
            details: { registry: this.registry, repository: repo, reference: ref },
          },
        );
      }
    }
    // Prefer the registry's digest (it may use another algorithm); else hash it ourselves.
    return header ?? digestOf('sha256', body)!;
  }

  /** A JSON answer (a tag list page), or `oci.protocol` saying which answer was not JSON. */
  private json(body: Uint8Array, what: string): unknown {
    try {
      return JSON.parse(Buffer.from(body).toString('utf8'));
    } catch (err) {
      throw new OciError('oci.protocol', `${this.registry}: ${what} is not JSON`, {
        cause: err,
        details: { registry: this.registry },
      });
    }
  }

  private httpError(status: number, text: string, kind: string, details: Record<string, unknown>): OciError {
    const parsed = parseErrorBody(text);
    const code = (parsed && codeForRegistryCode(parsed.code)) ?? codeForStatus(status, kind);
    const what = [details.repository, details.reference].filter(Boolean).join(':');
    return new OciError(
      code,
      `${this.registry}${what ? ` ${what}` : ''}: HTTP ${status}${registrySaid(parsed)}`,
      {
        details: {
          status,
          registry: this.registry,
          ...details,
          ...(parsed ? { registryCode: parsed.code, registryMessage: parsed.message } : {}),
        },
      },
    );
  }

  /** One logical request: authentication (at most one challenge round) on top of retrying exchanges. */
  private async send(
    kind: RequestKind,
    method: 'GET' | 'HEAD',
    url: URL,
    opts: { repo?: string; accept?: string; ifNoneMatch?: string | undefined },
  ): Promise<Response> {
    let challenged = false;
    for (;;) {
      const headers: Record<string, string> = { 'user-agent': this.userAgent };
      if (opts.accept) headers.accept = opts.accept;
      if (opts.ifNoneMatch) headers['if-none-match'] = opts.ifNoneMatch;
      const authorization = await this.authorizationFor(opts.repo);
      if (authorization) headers.authorization = authorization;
      const res = await this.exchange(kind, method, url, headers, this.base.origin, opts.repo);
      if (res.status !== 401 || challenged) return res;
      const retry = await this.answerChallenge(res, opts.repo, authorization);
      if (!retry) return res;
      challenged = true;
    }
  }

  private scopeKey(repo: string | undefined): string {
    return repo ? `repository:${repo}:pull` : '';
  }

  private basic(): string | undefined {
    const c = this.credentials;
    if (!c || !('username' in c)) return undefined;
    return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
  }

  private async authorizationFor(repo: string | undefined): Promise<string | undefined> {
    const c = this.credentials;
    if (c && 'token' in c) return `Bearer ${c.token}`;
    if (this.scheme === 'basic') return this.basic();
    if (this.scheme === 'bearer' && this.bearer) {
      const key = this.scopeKey(repo);
      const cached = this.tokens.get(key);
      if (cached && cached.expiresAt > Date.now()) return `Bearer ${cached.token}`;
      // Realm known: fetch the token up front rather than spending a request on a 401.
      const token = await this.sharedToken(this.bearer, key || undefined);
      return `Bearer ${token}`;
    }
    return undefined;
  }

  /** Returns true when the request should be repeated with new credentials. */
  private async answerChallenge(
    res: Response,
    repo: string | undefined,
    sent: string | undefined,
  ): Promise<boolean> {
    const challenges = parseWwwAuthenticate(res.headers.get('www-authenticate'));
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    const c = this.credentials;
    if (bearer?.params.realm && !(c && 'token' in c)) {
      await drain(res);
      this.scheme = 'bearer';
      this.bearer = {
        realm: bearer.params.realm,
        ...(bearer.params.service ? { service: bearer.params.service } : {}),
      };
      const key = this.scopeKey(repo);
      this.tokens.delete(key);
      const token = await this.fetchToken(this.bearer, key || bearer.params.scope);
      // Cache under the challenge's own scope too: it is what the registry will ask for next time.
      if (bearer.params.scope && bearer.params.scope !== key) {
        const entry = this.tokens.get(key);
        if (entry) this.tokens.set(bearer.params.scope, entry);
      }
      return sent !== `Bearer ${token}`;
    }
    if (challenges.some((ch) => ch.scheme === 'basic') && this.basic() && sent !== this.basic()) {
      await drain(res);
      this.scheme = 'basic';
      return true;
    }
    return false;
  }

  private sharedToken(challenge: BearerChallenge, scope: string | undefined): Promise<string> {
    const key = scope ?? '';
    let pending = this.pendingTokens.get(key);
    if (!pending) {
      pending = this.fetchToken(challenge, scope).finally(() => this.pendingTokens.delete(key));
      this.pendingTokens.set(key, pending);
    }
    return pending;
  }

  private async fetchToken(challenge: BearerChallenge, scope: string | undefined): Promise<string> {
    let realm: URL;
    try {
      realm = new URL(challenge.realm);
    } catch (err) {
      throw new OciError('oci.protocol', `token realm is not a URL: ${challenge.realm}`, { cause: err });
    }
    if (
      realm.protocol !== 'https:' &&
      !(realm.protocol === 'http:' && (this.insecure || isLoopback(realm.hostname)))
    ) {
      throw new OciError('oci.protocol', `refusing token realm ${realm.origin} (plain http)`, {
        details: { registry: this.registry },
      });
    }
    if (challenge.service) realm.searchParams.set('service', challenge.service);
    if (scope) realm.searchParams.set('scope', scope);
    const headers: Record<string, string> = { 'user-agent': this.userAgent, accept: 'application/json' };
    const basic = this.basic();
    if (basic) headers.authorization = basic;
    const res = await this.exchange('token', 'GET', realm, headers, realm.origin, undefined);
    const text =
      res.status === 200
        ? Buffer.from(await readBounded(res, 'token', { registry: this.registry })).toString('utf8')
        : await readErrorText(res, this.registry);
    if (res.status !== 200) {
      // By status first: a token server's 401/403 says the credentials are wrong, whatever its body says.
      const parsed = parseErrorBody(text);
      throw new OciError(
        codeForStatus(res.status),
        `${this.registry}: token request for ${scope ?? '(no scope)'} failed: HTTP ${res.status}${registrySaid(parsed)}`,
        {
          details: {
            status: res.status,
            registry: this.registry,
            scope,
            ...(parsed ? { registryCode: parsed.code } : {}),
          },
        },
      );
    }
    let body: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      body = JSON.parse(text) as typeof body;
    } catch (err) {
      throw new OciError('oci.protocol', `${this.registry}: token response is not JSON`, { cause: err });
    }
    const token =
      typeof body.token === 'string' && body.token
        ? body.token
        : typeof body.access_token === 'string'
          ? body.access_token
          : '';
    if (!token)
      throw new OciError(
        'oci.protocol',
        `${this.registry}: token response has neither token nor access_token`,
      );
    // The spec's default and minimum lifetime is 60 s; renew a little early so it never expires in flight.
    const lifetime = Math.max(60, typeof body.expires_in === 'number' ? body.expires_in : 60);
    this.tokens.set(scope ?? '', {
      token,
      expiresAt: Date.now() + (lifetime - Math.min(10, lifetime / 6)) * 1000,
    });
    return token;
  }

  /**
   * One HTTP exchange with manual redirects and retries on 429/502/503/504 and network errors.
   * Authorization only goes to `authOrigin`: a redirect elsewhere (blob storage, CDN) drops it.
   */
  private async exchange(
    kind: RequestKind,
    method: 'GET' | 'HEAD',
    url: URL,
    headers: Record<string, string>,
    authOrigin: string,
    repo: string | undefined,
  ): Promise<Response> {
    for (let attempt = 0; ; attempt++) {
      let res: Response;
      try {
        res = await this.followRedirects(kind, method, url, headers, authOrigin);
      } catch (err) {
        if (err instanceof OciError) throw err;
        const delay =
          attempt + 1 < this.policy.attempts ? retryDelay(attempt, undefined, this.policy) : undefined;
        if (delay === undefined) {
          throw new OciError(
            'oci.network',
            `${this.registry}: ${kind} request failed: ${(err as Error).message}`,
            {
              cause: err,
              details: {
                registry: this.registry,
                attempts: attempt + 1,
                ...(repo ? { repository: repo } : {}),
              },
            },
          );
        }
        await this.pause(delay);
        continue;
      }
      const transient = res.status === 429 || res.status === 502 || res.status === 503 || res.status === 504;
      if (!transient) return res;
      if (res.status === 429) this.stats.rateLimited++;
      const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'));
      const delay =
        attempt + 1 < this.policy.attempts ? retryDelay(attempt, retryAfterMs, this.policy) : undefined;
      if (delay === undefined) {
        const text = await readErrorText(res, this.registry);
        const parsed = parseErrorBody(text);
        // By status: these answers are the transient ones (429, 502-504), whatever code the body names.
        const code = codeForStatus(res.status);
        throw new OciError(
          code,
          `${this.registry}: HTTP ${res.status}${registrySaid(parsed)} after ${attempt + 1} attempt(s)${retryAfterMs !== undefined ? `, retry after ${Math.ceil(retryAfterMs / 1000)} s` : ''}`,
          {
            details: {
              status: res.status,
              registry: this.registry,
              attempts: attempt + 1,
              ...(repo ? { repository: repo } : {}),
              ...(parsed ? { registryCode: parsed.code, registryMessage: parsed.message } : {}),
              ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
            },
          },
        );
      }
      await drain(res);
      await this.pause(delay);
    }
  }

  private async pause(ms: number): Promise<void> {
    this.stats.retries++;
    this.stats.waitedMs += ms;
    await sleep(ms);
  }

  private async followRedirects(
    kind: RequestKind,
    method: 'GET' | 'HEAD',
    start: URL,
    headers: Record<string, string>,
    authOrigin: string,
  ): Promise<Response> {
    let url = start;
    let hdrs = headers;
    for (let hop = 0; hop <= 5; hop++) {
      this.stats.requests++;
      this.stats.byKind[kind]++;
      const res = await fetch(url, {
        method,
        headers: hdrs,
        redirect: 'manual',
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      const location = res.headers.get('location');
      if (![301, 302, 303, 307, 308].includes(res.status) || !location) return res;
      await drain(res);
      const next = new URL(location, url);
      if (next.origin !== authOrigin && hdrs.authorization) {
        // Never hand our credentials to another host (pre-signed blob URLs carry their own auth).
        const { authorization: _dropped, ...rest } = hdrs;
        hdrs = rest;
      }
      url = next;
    }
    throw new OciError('oci.protocol', `${this.registry}: too many redirects for ${start.pathname}`);
  }
}

function asDescriptor(v: unknown): Descriptor | undefined {
  if (!v || typeof v !== 'object') return undefined;
  const d = v as Record<string, unknown>;
  if (typeof d.digest !== 'string') return undefined;
  const out: Descriptor = {
    mediaType: typeof d.mediaType === 'string' ? d.mediaType : '',
    digest: d.digest,
    size: typeof d.size === 'number' ? d.size : 0,
  };
  const p = d.platform as Record<string, unknown> | undefined;
  if (p && typeof p.os === 'string' && typeof p.architecture === 'string') {
    out.platform = {
      os: p.os,
      architecture: p.architecture,
      ...(typeof p.variant === 'string' ? { variant: p.variant } : {}),
      ...(typeof p['os.version'] === 'string' ? { 'os.version': p['os.version'] } : {}),
    };
  }
  if (d.annotations && typeof d.annotations === 'object')
    out.annotations = d.annotations as Record<string, string>;
  return out;
}

/** Classify a parsed manifest and pull out what watchers need. Exported for unit tests. */
export function describeManifest(
  manifest: Record<string, unknown>,
  meta: { digest: string; mediaType: string; size: number },
): ManifestResult {
  const isIndex =
    INDEX_MEDIA_TYPES.has(meta.mediaType) || (!meta.mediaType && Array.isArray(manifest.manifests));
  if (isIndex || Array.isArray(manifest.manifests)) {
    const manifests = (Array.isArray(manifest.manifests) ? manifest.manifests : [])
      .map(asDescriptor)
      .filter((d): d is Descriptor => !!d);
    const platforms = manifests
      .filter((d) => d.platform && d.platform.os !== 'unknown' && d.platform.architecture !== 'unknown')
      .map((d) => ({ ...d.platform!, digest: d.digest }));
    return { ...meta, notModified: false, kind: 'index', manifest, manifests, platforms };
  }
  const config = asDescriptor(manifest.config);
  if (config) {
    const layers = (Array.isArray(manifest.layers) ? manifest.layers : [])
      .map(asDescriptor)
      .filter((d): d is Descriptor => !!d);
    return { ...meta, notModified: false, kind: 'image', manifest, config, layers };
  }
  return { ...meta, notModified: false, kind: 'unknown', manifest };
}
