import {
  callUpstream,
  type Fetcher,
  type UpstreamResponse,
  type UpstreamTls,
  upstreamFetcher,
} from './upstream.ts';

/** One record of the audit log as `GET /history` returns it (services/audit-writer chain.ts). */
export interface AuditRecordWire {
  seq: number;
  id: string;
  type: string;
  event: string;
  time: string;
  recordedAt: string;
  source: string;
  actor: string;
  subject?: string;
  correlationid: string;
  cluster?: string;
  stage?: string;
  fromStage?: string;
  revision?: string;
  commit?: string;
  promotionId?: string;
  digest?: string;
  code?: string;
  reason?: string;
  data: unknown;
  hash: string;
}

export type VerifyWire =
  | { ok: true; files: number; records: number; head: unknown }
  | { ok: false; kind: string; file?: string; line?: number; seq?: number; message: string };

/** What the timeline shows about the chain: a walk's result, or why there is none right now. */
export type ChainStatus =
  | (Extract<VerifyWire, { ok: true }> & { stale: boolean })
  | (Extract<VerifyWire, { ok: false }> & { stale: boolean })
  | { ok: null; kind: 'unverified'; message: string };

/**
 * Only a 200 (intact) or a 409 (broken) is a verdict about the chain. A 429 (a walk ran moments
 * ago and there is no earlier result), a 401/403 or an outage says nothing about it, and must
 * not be shown as "broken".
 */
export function chainStatus(res: UpstreamResponse<VerifyWire>): ChainStatus {
  const stale = res.headers.get('x-flotilla-verify-stale') === 'true';
  if (res.status === 200 || res.status === 409) return { ...res.body, stale };
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
