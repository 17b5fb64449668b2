import { CliError, EXIT } from './exit-codes.ts';
import type { ApiClient } from './http-client.ts';
import type { Progress } from './progress.ts';
import { type PromotionWire, rolloutState, type StatusWire } from './status-view.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface WaitOptions {
  api: ApiClient;
  stage: string;
  /** The stage's revision before the change: the rollout is the one after it. */
  revisionBefore: string | null;
  promotionId?: string | undefined;
  timeoutMs: number;
  intervalMs: number;
  progress: Progress;
}

/**
 * Polls the planner until the change reached every cluster of the stage: the promotion was
 * committed, the stage was re-rendered at a newer revision, and each cluster applied its latest
 * plan and reports healthy on it. Throws a CliError on rejection, failure or timeout.
 */
export async function waitForRollout(
  o: WaitOptions,
): Promise<{ revision: string | null; status: StatusWire }> {
  const deadline = Date.now() + o.timeoutMs;
  let commit: string | undefined;
  for (;;) {
    if (o.promotionId && !commit) {
      const { promotion: p } = await o.api.promotion<{
        promotion: PromotionWire & { commit?: string; reason?: string };
      }>(o.promotionId);
      if (p.status === 'committed' && p.commit) commit = p.commit;
      else if (p.status === 'noop')
        return { revision: o.revisionBefore, status: await o.api.stages<StatusWire>() };
      else if (p.status === 'rejected' || p.status === 'cancelled')
        throw new CliError(
          `promotion ${p.id} was ${p.status}${p.reason ? `: ${p.reason}` : ''}`,
          EXIT.failure,
        );
      else
        o.progress.update(
          `promotion ${p.id} ${p.status}${p.status === 'awaiting' ? ' (needs approval)' : ''}`,
        );
    }
    if (!o.promotionId || commit) {
      const status = await o.api.stages<StatusWire>();
      const stage = status.stages.find((s) => s.name === o.stage);
      if (!stage) throw new CliError(`stage ${o.stage} is not in the pipeline any more`, EXIT.failure);
      const moved = stage.revision !== o.revisionBefore;
      const r = rolloutState(stage);
      if (r.failed && moved) throw new CliError(`rollout of ${o.stage} failed: ${r.failed}`, EXIT.failure);
      if (moved && r.done) return { revision: stage.revision, status };
      o.progress.update(
        moved
          ? `rolling out ${o.stage} at ${stage.revision?.slice(0, 12)}: ${r.summary}`
          : `waiting for ${o.stage} to render ${commit ? commit.slice(0, 12) : 'the new revision'}`,
      );
    }
    if (Date.now() >= deadline)
      throw new CliError(
        `timed out after ${Math.round(o.timeoutMs / 1000)}s waiting for ${o.stage}`,
        EXIT.failure,
      );
    await sleep(o.intervalMs);
  }
}

/** `90s`, `5m`, `1h`, or plain milliseconds. */
export function parseDuration(value: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/.exec(value.trim());
  if (!m) return undefined;
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 'ms') as 'ms'];
  return Math.round(Number(m[1]) * unit);
}
