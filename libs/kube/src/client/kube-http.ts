import { Pool } from 'undici';
import type { KubeAccess } from './kube-access.ts';
import { type KubeRequestContext, kubeErrorFromResponse, kubeNetworkError } from './kube-errors.ts';

export interface KubeHttpOptions {
  /**
   * Keep-alive connections to the apiserver. Over HTTP/1.1 this bounds requests in flight; the
   * apiserver normally negotiates HTTP/2, where undici multiplexes every request over one
   * connection and callers bound concurrency themselves (mapSettled). Default 16.
   */
  connections?: number;
  /** Per-request timeout. Default 30 s. */
  timeoutMs?: number;
}

export interface KubeRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  query?: Record<string, string | undefined>;
  body?: unknown;
  contentType?: string;
  accept?: string;
  /**
   * A 2xx answer's body is read off the wire and dropped, not decoded or parsed: a dry-run's
   * answer (the object as it would be stored, managedFields and all) is never looked at, and
   * parsing thousands of them was client CPU taken from the apiserver on a shared node (#20).
   * An error's body is still read, for its message.
   */
  discardBody?: boolean;
  ctx: KubeRequestContext;
}

export interface KubeResponse<T> {
  status: number;
  body: T;
  /** The apiserver's `Warning` headers (deprecated APIs and fields, pod template advice), as text. */
  warnings: string[];
}

/** `299 - "text"`, several per header when comma-separated (RFC 7234 §5.5, as the apiserver writes them). */
const WARNING = /\d{3}\s+\S+\s+"((?:[^"\\]|\\.)*)"/g;

/** The texts of a response's `Warning` headers, unescaped. */
export function parseWarnings(header: string | string[] | undefined): string[] {
  if (header === undefined) return [];
  const out: string[] = [];
  for (const h of Array.isArray(header) ? header : [header])
    for (const m of h.matchAll(WARNING)) out.push((m[1] as string).replace(/\\(.)/g, '$1'));
  return out;
}

/**
 * Raw JSON over HTTPS to one apiserver, with keep-alive connections and a bound on requests in
 * flight. Bodies go out as the JSON we built, never through generated typed models (which drop
 * fields they do not know, and under server-side apply that silently disowns them).
 */
export class KubeHttp {
  private readonly pool: Pool;
  private readonly prefix: string;
  readonly requests = { total: 0 };

  constructor(
    readonly access: KubeAccess,
    opts: KubeHttpOptions = {},
  ) {
    const url = new URL(access.server);
    this.prefix = url.pathname.replace(/\/+$/, '');
    const timeout = opts.timeoutMs ?? 30_000;
    this.pool = new Pool(url.origin, {
      connections: opts.connections ?? 16,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      headersTimeout: timeout,
      bodyTimeout: timeout,
      connect: {
        ...(access.ca ? { ca: access.ca } : {}),
        ...(access.cert ? { cert: access.cert } : {}),
        ...(access.key ? { key: access.key } : {}),
        ...(access.tlsServerName ? { servername: access.tlsServerName } : {}),
        rejectUnauthorized: !access.insecureSkipTlsVerify,
        timeout: 10_000,
      },
    });
  }

  get identity(): string {
    return this.access.identity;
  }

  /** Returns the parsed body for 2xx; throws a {@link KubeApiError} otherwise. */
  async request<T = unknown>(req: KubeRequest): Promise<KubeResponse<T>> {
    const qs = req.query
      ? Object.entries(req.query)
          .filter(([, v]) => v !== undefined)
          .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v as string)}`)
          .join('&')
      : '';
    const path = `${this.prefix}${req.path}${qs ? `?${qs}` : ''}`;
    const headers: Record<string, string> = {
      accept: req.accept ?? 'application/json',
      'user-agent': 'flotilla-cluster-applier',
      ...(await this.access.headers()),
    };
    let payload: string | undefined;
    if (req.body !== undefined) {
      payload = typeof req.body === 'string' ? req.body : JSON.stringify(req.body);
      headers['content-type'] = req.contentType ?? 'application/json';
    }
    this.requests.total++;
    let status: number;
    let text: string;
    let warnings: string[];
    try {
      const res = await this.pool.request({
        method: req.method,
        path,
        headers,
        ...(payload === undefined ? {} : { body: payload }),
      });
      status = res.statusCode;
      warnings = parseWarnings(res.headers.warning);
      if (req.discardBody && status >= 200 && status <= 299) {
        for await (const _ of res.body);
        return { status, body: undefined as T, warnings };
      }
      text = await res.body.text();
    } catch (err) {
      throw kubeNetworkError(err, this.access.server, { identity: this.identity, ...req.ctx });
    }
    if (status < 200 || status > 299)
      throw kubeErrorFromResponse(status, text, { identity: this.identity, ...req.ctx });
    return { status, body: (text === '' ? undefined : JSON.parse(text)) as T, warnings };
  }

  /**
   * Whether the apiserver answers `/readyz` (2xx, or a refusal: see below) within `timeoutMs` (a partitioned server
   * accepts nothing and answers nothing, so the probe has its own short deadline). Never throws:
   * a cheap question asked in a loop while an outage lasts.
   */
  async ready(timeoutMs = 2000): Promise<boolean> {
    try {
      const res = await this.pool.request({
        method: 'GET',
        path: `${this.prefix}/readyz`,
        headers: {
          accept: 'text/plain',
          'user-agent': 'flotilla-cluster-applier',
          ...(await this.access.headers()),
        },
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        signal: AbortSignal.timeout(timeoutMs),
      });
      await res.body.text();
      // 401/403: an apiserver that answers but will not tell this identity (RBAC without the
      // default public-info-viewer binding) is up; 5xx is one that is not ready (etcd down).
      return (
        (res.statusCode >= 200 && res.statusCode <= 299) || res.statusCode === 401 || res.statusCode === 403
      );
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    await this.pool.close().catch(() => {});
  }
}
