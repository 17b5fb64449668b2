import { dispositionOf } from '@flotilla/errors';

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
 * apiserver answers is not an outage and goes to the backoff unchanged, as do stalls.
 */
export async function retryAcrossOutages<T>(attempt: () => Promise<T>, o: OutageRetryOptions): Promise<T> {
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const now = o.now ?? (() => performance.now());
  for (let outages = 0; ; outages++) {
    try {
      return await attempt();
    } catch (err) {
      if (dispositionOf(err) !== 'retry' || outages >= o.maxOutages) throw err;
      if (await o.ready()) throw err;
      o.onOutage?.(err);
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
