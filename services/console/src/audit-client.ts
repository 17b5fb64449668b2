import type { AuditRecord, Verify } from '@flotilla/api';
import {
  callUpstream,
  type Fetcher,
  type UpstreamResponse,
  type UpstreamTls,
  upstreamFetcher,
} from './upstream.ts';

/** One record of the audit log as `GET /history` returns it: the audit API's own schema. */
export type AuditRecordWire = AuditRecord;

/** What `GET /verify` answers, 200 (intact) or 409 (broken): the audit API's own schema. */
export type VerifyWire = Verify;

/** What the timeline shows about the chain: a walk's result, or why there is none right now. */
export type ChainStatus =
  | { ok: true; files: number; records: number; head?: Verify['head']; stale: boolean }
  | {
      ok: false;
      kind: string;
      file?: string;
      line?: number;
      seq?: number;
      message: string;
      stale: boolean;
    }
  | { ok: null; kind: 'unverified'; message: string };

/**
 * Only a 200 (intact) or a 409 (broken) is a verdict about the chain. A 429 (a walk ran moments
 * ago and there is no earlier result), a 401/403 or an outage says nothing about it, and must
 * not be shown as "broken". A broken chain is shown by where the walk stopped (`problem`).
 */
export function chainStatus(res: UpstreamResponse<VerifyWire>): ChainStatus {
  const stale = res.headers.get('x-flotilla-verify-stale') === 'true';
  if (res.status === 200 && res.body.ok) {
    const { files, records, head } = res.body;
    return { ok: true, files, records, ...(head ? { head } : {}), stale };
  }
  if (res.status === 409) {
    const p = res.body.problem;
    return {
      ok: false,
      kind: p?.kind ?? 'unknown',
      ...(p ? { file: p.file, line: p.line } : {}),
      ...(p?.seq !== undefined ? { seq: p.seq } : {}),
      message: p?.message ?? 'the audit API found the chain broken without saying where',
      stale,
    };
  }
  const message = (res.body as { message?: unknown } | null)?.message;
  return {
    ok: null,
    kind: 'unverified',
    message: typeof message === 'string' ? message : `the audit API answered HTTP ${res.status}`,
  };
}

export const HISTORY_FILTERS = ['cluster', 'stage', 'type', 'actor', 'revision', 'since', 'until'] as const;
export type HistoryFilter = Partial<Record<(typeof HISTORY_FILTERS)[number] | 'limit', string>>;

/**
 * The audit-writer's query API. The console only reads, and with the signed-in person's own
 * token (the audit-writer reads the planner's token file): someone whose token may not read the
 * whole log sees the audit-writer's 403, not the log.
 */
export interface AuditApi {
  history(bearer: string, filter: HistoryFilter): Promise<UpstreamResponse<{ records: AuditRecordWire[] }>>;
  verify(bearer: string): Promise<UpstreamResponse<VerifyWire>>;
  /** The production-change export, passed through (JSON or CSV). */
  exportUrl(query: { since?: string; until?: string; format: 'json' | 'csv' }): string;
  /** How the audit-writer is reached (its CA when it serves HTTPS); the platform's fetch if unset. */
  fetch?: Fetcher;
}

export function auditApi(opts: { url: string; timeoutMs: number; tls?: UpstreamTls | undefined }): AuditApi {
  const base = opts.url.replace(/\/+$/, '');
  const fetch = upstreamFetcher('audit', opts.tls);
  return {
    fetch,
    async history(bearer, filter) {
      const q = new URLSearchParams();
      for (const [k, v] of Object.entries(filter)) if (v) q.set(k, v);
      return await callUpstream('audit', `${base}/history?${q}`, {
        timeoutMs: opts.timeoutMs,
        headers: { authorization: `Bearer ${bearer}` },
        fetch,
      });
    },
    async verify(bearer) {
      return await callUpstream('audit', `${base}/verify`, {
        timeoutMs: opts.timeoutMs,
        headers: { authorization: `Bearer ${bearer}` },
        fetch,
      });
    },
    exportUrl(query) {
      const q = new URLSearchParams({ format: query.format });
      if (query.since) q.set('since', query.since);
      if (query.until) q.set('until', query.until);
      return `${base}/export?${q}`;
    },
  };
}
