import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { DECISION_RETRY, decisionRetryDelayMs } from '@flotilla/api';
import { Agent, fetch, type Headers, type Response } from 'undici';
import { CliError, EXIT } from './exit-codes.ts';

/**
 * Every HTTP call the CLI makes goes through here: the planner API (`/api/v1`) and the
 * audit-writer query API, both with the same bearer token (the audit API needs `read` on every
 * pipeline). Errors
 * become CliErrors with the exit code the status implies.
 */
export interface ApiOptions {
  plannerUrl: string;
  auditUrl: string;
  token?: string | undefined;
  /** The pipeline the planner routes address; none: the repo's root (or only) pipeline. */
  pipeline?: string | undefined;
  /** Per request; the CLI should fail fast when something is down. */
  timeoutMs?: number;
  /**
   * PEM file of the CA that signed the APIs' HTTPS certificates (`--cacert`): trusted instead
   * of the system roots. Verification is never turned off.
   */
  caFile?: string | undefined;
  /**
   * Attempts of a decision when the planner cannot be reached or is not ready (same key each
   * time); by default `DECISION_RETRY`: rides out a planner restart, still fails in seconds.
   */
  retries?: number;
}

export interface TextResponse {
  status: number;
  headers: Headers;
  text: string;
}

type Service = 'planner' | 'audit';

/** Node's (OpenSSL's) codes for a certificate the client could not verify. */
const UNTRUSTED_CERT = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_SIGNATURE_FAILURE',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

const NAMES: Record<Service, string> = { planner: 'planner API', audit: 'audit API' };
const ENV: Record<Service, string> = { planner: 'FLOTILLA_PLANNER_URL', audit: 'FLOTILLA_AUDIT_URL' };

function joinUrl(base: string, path: string): string {
  return `${base.replace(/\/+$/, '')}${path}`;
}

/** Maps a non-2xx response to the CLI's exit codes; the server's `{error, message}` body is kept. */
export function errorForResponse(service: Service, status: number, text: string): CliError {
  let body: { error?: string; message?: string } | undefined;
  try {
    body = JSON.parse(text) as { error?: string; message?: string };
  } catch {
    body = undefined;
  }
  const reason = body?.message ?? (text.trim().slice(0, 300) || `HTTP ${status}`);
  const code = body?.error ? ` (${body.error})` : '';
  if (status === 401)
    return new CliError(
      `${NAMES[service]} refused the request: ${reason}${code}. Pass --token or set FLOTILLA_TOKEN.`,
      EXIT.refused,
      body,
    );
  if (status === 403) return new CliError(`${NAMES[service]} refused: ${reason}${code}`, EXIT.refused, body);
  if (status === 503)
    return new CliError(`${NAMES[service]} is not ready: ${reason}${code}`, EXIT.unreachable, body);
  return new CliError(`${NAMES[service]}: ${reason}${code} [HTTP ${status}]`, EXIT.failure, body);
}

export class ApiClient {
  private readonly timeoutMs: number;
  private readonly dispatcher: Agent | undefined;

  constructor(private readonly o: ApiOptions) {
    this.timeoutMs = o.timeoutMs ?? 15_000;
    if (o.caFile) {
      let ca: string;
      try {
        ca = readFileSync(o.caFile, 'utf8');
      } catch (err) {
        throw new CliError(`cannot read --cacert ${o.caFile}: ${(err as Error).message}`, EXIT.usage);
      }
      this.dispatcher = new Agent({ connect: { ca } });
    }
  }

  private async request(
    service: Service,
    method: 'GET' | 'POST',
    path: string,
    body?: unknown,
    extra: Record<string, string> = {},
  ): Promise<TextResponse> {
    const base = service === 'planner' ? this.o.plannerUrl : this.o.auditUrl;
    const url = joinUrl(base, path);
    const headers: Record<string, string> = { ...extra, accept: 'application/json, text/csv;q=0.9' };
    // One token for both APIs: the audit-writer reads the planner's token file.
    if (this.o.token) headers.authorization = `Bearer ${this.o.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(this.timeoutMs),
        ...(this.dispatcher ? { dispatcher: this.dispatcher } : {}),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      if (cause?.code && UNTRUSTED_CERT.has(cause.code))
        throw new CliError(
          `refusing the ${NAMES[service]} at ${base}: its TLS certificate is not trusted (${cause.code}: ${cause.message}). ` +
            (this.o.caFile
              ? `It was not issued by the CA in ${this.o.caFile} for this host.`
              : 'Pass --cacert <file> or set FLOTILLA_CACERT to the CA that issued it.'),
          EXIT.refused,
        );
      const why =
        (err as Error).name === 'TimeoutError'
          ? `no answer within ${this.timeoutMs} ms`
          : (cause?.code ?? cause?.message ?? (err as Error).message);
      throw new CliError(
        `cannot reach the ${NAMES[service]} at ${base} (${why}). Is it running? Set --${service}-url or ${ENV[service]}.`,
        EXIT.unreachable,
      );
    }
    const text = await res.text();
    if (!res.ok) throw errorForResponse(service, res.status, text);
    return { status: res.status, headers: res.headers, text };
  }

  private async json<T>(
    service: Service,
    method: 'GET' | 'POST',
    path: string,
    body?: unknown,
    extra?: Record<string, string>,
  ): Promise<T> {
    const res = await this.request(service, method, path, body, extra);
    try {
      return JSON.parse(res.text) as T;
    } catch {
      throw new CliError(`${NAMES[service]} answered ${path} with something that is not JSON`, EXIT.failure);
    }
  }

  /**
   * A decision (approve, reject, promote, lock, unlock, rollback): sent with one Idempotency-Key,
   * and sent again with the same key when the planner could not be reached or was not ready (a
   * restart, a failover, a lost answer). The planner answers a key it has seen with the decision
   * it recorded, so a retry never decides twice, and an approval whose plan already went out is
   * answered 200, not 404.
   */
  private async decide<T>(path: string, body: unknown): Promise<T> {
    const key = randomUUID();
    const attempts = this.o.retries ?? DECISION_RETRY.attempts;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.json<T>('planner', 'POST', path, body, { 'idempotency-key': key });
      } catch (err) {
        if (!(err instanceof CliError) || err.exitCode !== EXIT.unreachable || attempt >= attempts) throw err;
        await new Promise((r) => setTimeout(r, decisionRetryDelayMs(attempt)));
      }
    }
  }

  // ---- planner (/api/v1, services/planner/src/api.ts) ---------------------------------------

  /** `/api/v1`, or `/api/v1/pipelines/<name>` when a pipeline is named. */
  private get pipelineBase(): string {
    return this.o.pipeline ? `/api/v1/pipelines/${encodeURIComponent(this.o.pipeline)}` : '/api/v1';
  }

  pipelines<T = unknown>(): Promise<T> {
    return this.json<T>('planner', 'GET', '/api/v1/pipelines');
  }

  stages<T = unknown>(): Promise<T> {
    return this.json<T>('planner', 'GET', `${this.pipelineBase}/stages`);
  }

  promotion<T = unknown>(id: string): Promise<T> {
    return this.json<T>('planner', 'GET', `/api/v1/promotions/${encodeURIComponent(id)}`);
  }

  approve<T = unknown>(id: string, comment?: string): Promise<T> {
    return this.decide<T>(
      `${this.pipelineBase}/promotions/${encodeURIComponent(id)}/approve`,
      comment ? { comment } : {},
    );
  }

  reject<T = unknown>(id: string, reason: string): Promise<T> {
    return this.decide<T>(`${this.pipelineBase}/promotions/${encodeURIComponent(id)}/reject`, { reason });
  }

  stageAction<T = unknown>(
    stage: string,
    action: 'promote' | 'lock' | 'unlock' | 'rollback',
    body: Record<string, string> = {},
  ): Promise<T> {
    return this.decide<T>(`${this.pipelineBase}/stages/${encodeURIComponent(stage)}/${action}`, body);
  }

  // ---- audit-writer (services/audit-writer/src/routes.ts) ------------------------------------

  history<T = unknown>(query: Record<string, string | undefined>): Promise<T> {
    return this.json<T>('audit', 'GET', `/history${queryString(query)}`);
  }

  /** `/verify` answers 409 with the problem when the chain is broken: that is a result, not an error. */
  async verify<T = unknown>(): Promise<{ ok: boolean; body: T }> {
    try {
      const body = await this.json<T>('audit', 'GET', '/verify');
      return { ok: true, body };
    } catch (err) {
      if (err instanceof CliError && err.exitCode === EXIT.failure && isVerifyResult(err.details))
        return { ok: false, body: err.details as T };
      throw err;
    }
  }

  checkpoint<T = unknown>(): Promise<T> {
    return this.json<T>('audit', 'GET', '/checkpoint');
  }

  /** The export as the server wrote it (CSV bytes are hashed by the server; keep them intact). */
  exportChanges(query: { since?: string; until?: string; format: 'csv' | 'json' }): Promise<TextResponse> {
    return this.request('audit', 'GET', `/export${queryString(query)}`);
  }
}

function isVerifyResult(x: unknown): boolean {
  return typeof x === 'object' && x !== null && 'ok' in x && 'records' in x;
}

export function queryString(query: Record<string, string | number | undefined>): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== '') params.set(k, String(v));
  const s = params.toString();
  return s ? `?${s}` : '';
}
