// The one module that knows the planner's API. Everything else in the console works on the
// console's own `PipelineStatus`, so when the planner's API changes shape (pipelines as a
// dimension, a split planner) only this file changes.

import type { RenderedDiffAnswer } from '@flotilla/api';
import type { StatusWire } from '@flotilla/cli';
import { callUpstream, type UpstreamResponse, type UpstreamTls, upstreamFetcher } from './upstream.ts';

/** One pipeline as the planner reports it (`GET /api/v1/pipelines/<name>/stages`). */
export type PipelineStatus = StatusWire;

/** Who a bearer token belongs to, as the planner sees it. */
export interface PlannerIdentity {
  name: string;
  groups: string[];
}

/** A planner answer to a decision: passed to the page as is, refusals included. */
export interface DecisionResult {
  status: number;
  body: { error?: string; message?: string; [k: string]: unknown };
}

export interface PlannerApi {
  /** Every pipeline the planner serves, as seen with this token. */
  pipelines(token: string): Promise<UpstreamResponse<{ pipelines: PipelineStatus[] } | ErrorBody>>;
  promotion(token: string, id: string): Promise<UpstreamResponse<{ promotion: unknown } | ErrorBody>>;
  /** The rendered diff of a promotion or a held change (secret values already hashed by the planner). */
  diff(
    token: string,
    of: 'promotions' | 'changes',
    id: string,
  ): Promise<UpstreamResponse<RenderedDiffAnswer | ErrorBody>>;
  /**
   * Sends a decision with its `Idempotency-Key`; a planner that is unreachable or on standby
   * (503) is asked again with the same key, so a retry can never decide twice.
   */
  decide(
    token: string,
    id: string,
    verb: 'approve' | 'reject',
    text: string | undefined,
    key: string,
  ): Promise<DecisionResult>;
  /** null when the planner does not accept the token. */
  whoami(token: string): Promise<PlannerIdentity | null>;
}

export interface ErrorBody {
  error: string;
  message: string;
}

/**
 * A planner failing over (the new leader answers 503 until it holds the lease) or restarting
 * is back within seconds; a decision is asked again then, with its key, rather than the person
 * being told to click again. A timeout is not retried here: the planner may still be carrying
 * the decision out, and the page says so.
 */
const DECISION_RETRIES = [500, 2000, 5000] as const;

async function retryUnavailable<T>(delays: readonly number[], attempt: () => Promise<T>): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await attempt();
    } catch (err) {
      const delay = delays[i];
      if ((err as { code?: string }).code !== 'console.planner-unavailable' || delay === undefined) throw err;
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

export function plannerApi(opts: {
  url: string;
  timeoutMs: number;
  decisionTimeoutMs?: number;
  /** Delays before asking an unreachable planner again about a decision (same key). */
  decisionRetries?: readonly number[];
  tls?: UpstreamTls | undefined;
}): PlannerApi {
  const base = `${opts.url.replace(/\/+$/, '')}/api/v1`;
  const fetch = upstreamFetcher('planner', opts.tls);
  const auth = (token: string) => ({ authorization: `Bearer ${token}` });
  return {
    async pipelines(token) {
      // The pipelines in force, then each one's stages (GET /pipelines/<name>/stages).
      const list = await callUpstream<{ pipelines: Array<{ name: string }> } | ErrorBody>(
        'planner',
        `${base}/pipelines`,
        { headers: auth(token), timeoutMs: opts.timeoutMs, fetch },
      );
      if (list.status !== 200) return list as UpstreamResponse<ErrorBody>;
      const names = (list.body as { pipelines: Array<{ name: string }> }).pipelines.map((p) => p.name);
      const answers = await Promise.all(
        names.map((name) =>
          callUpstream<StatusWire | ErrorBody>(
            'planner',
            `${base}/pipelines/${encodeURIComponent(name)}/stages`,
            {
              headers: auth(token),
              timeoutMs: opts.timeoutMs,
              fetch,
            },
          ),
        ),
      );
      const failed = answers.find((a) => a.status !== 200);
      if (failed) return failed as UpstreamResponse<ErrorBody>;
      return { ...list, body: { pipelines: answers.map((a) => a.body as StatusWire) } };
    },
    async promotion(token, id) {
      return await callUpstream('planner', `${base}/promotions/${encodeURIComponent(id)}`, {
        headers: auth(token),
        timeoutMs: opts.timeoutMs,
        fetch,
      });
    },
    async diff(token, of, id) {
      return await callUpstream('planner', `${base}/${of}/${encodeURIComponent(id)}/diff`, {
        headers: auth(token),
        // The planner renders both sides (two kustomize builds in its render slots) the first time.
        timeoutMs: Math.max(opts.timeoutMs, 60_000),
        fetch,
      });
    },
    async decide(token, id, verb, text, key) {
      const res = await retryUnavailable(opts.decisionRetries ?? DECISION_RETRIES, () =>
        callUpstream<DecisionResult['body']>(
          'planner',
          `${base}/promotions/${encodeURIComponent(id)}/${verb}`,
          {
            method: 'POST',
            headers: { ...auth(token), 'idempotency-key': key },
            body:
              verb === 'approve'
                ? { ...(text ? { comment: text } : {}) }
                : { ...(text ? { reason: text } : {}) },
            // Not the read timeout: the planner answers once the decision is carried out (commit,
            // push, render), which takes seconds; cutting it short reported a recorded approval
            // as "the planner is unreachable".
            timeoutMs: opts.decisionTimeoutMs ?? Math.max(opts.timeoutMs, 120_000),
            fetch,
          },
        ),
      );
      return { status: res.status, body: res.body };
    },
    async whoami(token) {
      const res = await callUpstream<PlannerIdentity>('planner', `${base}/whoami`, {
        headers: auth(token),
        timeoutMs: opts.timeoutMs,
        fetch,
      });
      if (res.status === 401 || res.status === 403) return null;
      if (res.status !== 200) throw new Error(`planner /whoami answered ${res.status}`);
      return { name: res.body.name, groups: res.body.groups ?? [] };
    },
  };
}
