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
  decide(
    token: string,
    id: string,
    verb: 'approve' | 'reject',
    text: string | undefined,
  ): Promise<DecisionResult>;
  /** null when the planner does not accept the token. */
  whoami(token: string): Promise<PlannerIdentity | null>;
}

export interface ErrorBody {
  error: string;
  message: string;
}

export function plannerApi(opts: {
  url: string;
  timeoutMs: number;
  decisionTimeoutMs?: number;
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
    async decide(token, id, verb, text) {
      const res = await callUpstream<DecisionResult['body']>(
        'planner',
        `${base}/promotions/${encodeURIComponent(id)}/${verb}`,
        {
          method: 'POST',
          headers: auth(token),
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
