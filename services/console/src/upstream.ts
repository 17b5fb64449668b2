import { FlotillaError, messageOf } from '@flotilla/errors';

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

/** One HTTP call to a backend, JSON in and out, bounded in time. Never throws for an HTTP status. */
export async function callUpstream<T>(
  upstream: UpstreamName,
  url: string,
  init: { method?: 'GET' | 'POST'; headers?: Record<string, string>; body?: unknown; timeoutMs: number },
): Promise<UpstreamResponse<T>> {
  let res: Response;
  try {
    res = await fetch(url, {
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
