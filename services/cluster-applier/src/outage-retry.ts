import { dispositionOf } from '@flotilla/errors';
import { isKubeApiError } from '@flotilla/kube';

export interface OutageRetryOptions {
  /** Does the apiserver answer `/readyz`? (`KubeHttp.ready`: never throws.) */
  ready: () => Promise<boolean>;
  /** Longest one outage is waited out inside the handler before the consumer's backoff takes over. */
  maxWaitMs: number;
  /** Between probes while the apiserver is down. */
  probeEveryMs: number;
  /** Outages waited out per delivery (an apiserver that flaps forever still reaches the backoff). */
  maxOutages: number;
  /** Called before each probe while waiting: keeps the message in flight (`msg.working()`). */
  working: () => void;
  /**
   * Stop waiting (the last error goes to the consumer): the replica is stopping or lost its Lease,
   * which an outage long enough also causes, and whoever leads next retries the plan.
   */
  abandon?: () => boolean;
  /**
   * Whether the attempt failed because the apiserver did not answer at all (refused, reset, timed
   * out: {@link apiserverUnreachable}). Such a failure is an outage even when `/readyz` answers
   * by the time it is asked: a partition shorter than the client's connect timeout surfaces only
   * after it healed. Absent: only a failing `/readyz` says outage.
   */
  unreachable?: (err: unknown) => boolean;
  /** Called once per outage waited out (metrics, logs). */
  onOutage?: (err: unknown) => void;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

/**
 * Runs `attempt`; when it fails with a retryable error *because the apiserver is down* (its
 * `/readyz` does not answer), waits for `/readyz` and runs it again at once, instead of handing
 * the plan back to the consumer's backoff (2, 5, 15, 30, 60 s). Under repeated outages that
 * backoff walked up to a minute, so a cluster stayed on its old plan for up to a minute after
 * its apiserver was back (found by the apiserver-kill nemesis, test/faults). A failure while the
 * apiserver answers is not an outage and goes to the backoff unchanged, as do stalls; a failure
 * for want of any answer (`unreachable`) is one even if it is over by the time `/readyz` is asked
 * (found by the apiserver-partition nemesis: a 6 s partition surfaced after its heal, through
 * the 10 s TLS connect timeout, and every cut walked the plan up the backoff).
 */
export async function retryAcrossOutages<T>(attempt: () => Promise<T>, o: OutageRetryOptions): Promise<T> {
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const now = o.now ?? (() => performance.now());
  for (let outages = 0; ; outages++) {
    try {
      return await attempt();
    } catch (err) {
      if (dispositionOf(err) !== 'retry' || outages >= o.maxOutages) throw err;
      const up = await o.ready();
      if (up && !o.unreachable?.(err)) throw err;
      o.onOutage?.(err);
      // Unreachable then, answering now: the outage is already over.
      if (up) continue;
      const deadline = now() + o.maxWaitMs;
      let back = false;
      while (!back && now() < deadline && !o.abandon?.()) {
        o.working();
        await sleep(o.probeEveryMs);
        back = await o.ready();
      }
      if (!back) throw err;
    }
  }
}

/**
 * Whether `err` (or an error it wraps, as `ApplyError` and the consumer's `retryable` do) is the
 * apiserver not answering at all: a network-level failure carries no HTTP status.
 */
export function apiserverUnreachable(err: unknown): boolean {
  let e: unknown = err;
  for (let depth = 0; e !== undefined && e !== null && depth < 10; depth++) {
    if (isKubeApiError(e) && e.httpStatus === 0) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}
