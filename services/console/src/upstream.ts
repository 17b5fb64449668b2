import { readFileSync } from 'node:fs';
import { FlotillaError, messageOf } from '@flotilla/errors';
import { ConfigError } from '@flotilla/runtime';
import { Agent, fetch as undiciFetch } from 'undici';

/** Which backend a call went to; named in every error the page shows. */
export type UpstreamName = 'planner' | 'audit';

const LABEL: Record<UpstreamName, string> = { planner: 'planner', audit: 'audit-writer' };

/** A backend answered (any status) with this body. */
export interface UpstreamResponse<T = unknown> {
  status: number;
  body: T;
  headers: Headers;
}

/**
 * The backend could not be reached or timed out. The page says "the planner is unreachable"
 * and keeps retrying; the code distinguishes it from a refusal the backend did give.
 */
export function unavailable(upstream: UpstreamName, cause: unknown): FlotillaError {
  return new FlotillaError(
    `console.${upstream}-unavailable`,
    `the ${LABEL[upstream]} is unreachable: ${messageOf(cause)}`,
    { disposition: 'retry', cause, details: { upstream } },
  );
}

/**
 * The backend took the request but did not answer in time. Unlike `unavailable`, the request may
 * still take effect (a decision the planner is carrying out): the page says so, not "failed".
 */
export function timedOut(upstream: UpstreamName, timeoutMs: number): FlotillaError {
  return new FlotillaError(
    `console.${upstream}-timeout`,
    `the ${LABEL[upstream]} has not answered within ${timeoutMs >= 1000 ? `${Math.round(timeoutMs / 1000)} s` : `${timeoutMs} ms`}`,
    { disposition: 'wait', details: { upstream } },
  );
}

/** `fetch`, bound to how one backend is reached. */
export type Fetcher = (url: string, init: RequestInit) => Promise<Response>;

/** How the console reaches a backend served over HTTPS (the backend's `http.tls`). */
export interface UpstreamTls {
  /** The CA that signed the backend's certificate: trusted instead of the system roots. */
  caFile: string;
  /** A client certificate and key, for a backend (or a proxy in front of it) that asks for one. */
  certFile?: string | undefined;
  keyFile?: string | undefined;
}

/**
 * The fetch for one backend. Without `tls`, the platform's (system roots for https URLs). With
 * it, every request verifies the server against that CA only and, when given, presents the
 * client certificate. Files are read once, here: an unreadable one stops the start naming the
 * setting, instead of every later call failing.
 */
export function upstreamFetcher(upstream: UpstreamName, tls: UpstreamTls | undefined): Fetcher {
  if (!tls) return fetch;
  const read = (field: keyof UpstreamTls, file: string) => {
    try {
      return readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigError([`${upstream}.tls.${field}: cannot read ${file}: ${messageOf(err)}`]);
    }
  };
  if (!tls.certFile !== !tls.keyFile)
    throw new ConfigError([`${upstream}.tls: certFile and keyFile go together`]);
  const dispatcher = new Agent({
    connect: {
      ca: read('caFile', tls.caFile),
      ...(tls.certFile && tls.keyFile
        ? { cert: read('certFile', tls.certFile), key: read('keyFile', tls.keyFile) }
        : {}),
    },
  });
  // undici's own fetch with its own Agent (the platform fetch's bundled undici may differ).
  return (url, init) => undiciFetch(url, { ...(init as object), dispatcher }) as unknown as Promise<Response>;
}

/** One HTTP call to a backend, JSON in and out, bounded in time. Never throws for an HTTP status. */
export async function callUpstream<T>(
  upstream: UpstreamName,
  url: string,
  init: {
    method?: 'GET' | 'POST';
    headers?: Record<string, string>;
    body?: unknown;
    timeoutMs: number;
    /** How this backend is reached (`upstreamFetcher`); the platform's fetch by default. */
    fetch?: Fetcher | undefined;
  },
): Promise<UpstreamResponse<T>> {
  let res: Response;
  try {
    res = await (init.fetch ?? fetch)(url, {
      method: init.method ?? 'GET',
      headers: {
        accept: 'application/json',
        ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...init.headers,
      },
      ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
      signal: AbortSignal.timeout(init.timeoutMs),
    });
  } catch (err) {
    if ((err as Error).name === 'TimeoutError') throw timedOut(upstream, init.timeoutMs);
    const cause = (err as { cause?: unknown }).cause ?? err;
    throw unavailable(upstream, cause);
  }
  const text = await res.text().catch(() => '');
  let body: unknown = text;
  if ((res.headers.get('content-type') ?? '').includes('json')) {
    try {
      body = JSON.parse(text);
    } catch {
      body = { error: 'bad-response', message: text.slice(0, 300) };
    }
  }
  // A planner on standby answers 503: for the page that is the same as "down, retrying".
  if (res.status === 502 || res.status === 503 || res.status === 504) {
    const message = (body as { message?: string })?.message ?? `HTTP ${res.status}`;
    throw unavailable(upstream, new Error(message));
  }
  return { status: res.status, body: body as T, headers: res.headers };
}
