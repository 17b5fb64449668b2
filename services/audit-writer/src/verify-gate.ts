import type { VerifyResult } from './chain.ts';

export interface VerifyGateOptions {
  /** Walks the whole log: the expensive part this gate exists to ration. */
  verify: () => Promise<VerifyResult>;
  /** The chain head (`<seq> <hash>`): a result stays valid while it does not move. */
  head: () => string;
  /** No new walk sooner than this after the last one started. */
  minIntervalMs: number;
  /**
   * Even for the same head, a result older than this is not reused: the head is what the writer
   * appended, and a file edited on disk behind its back does not move it.
   */
  maxAgeMs: number;
  now?: () => number;
}

export type VerifyAnswer =
  | {
      kind: 'result';
      result: VerifyResult;
      cached: boolean;
      /** The head the result covers; older than the current one when `stale`. */
      head: string;
      verifiedAt: number;
      /** The head moved since, and a new walk is not due yet: this covers the log up to `head`. */
      stale: boolean;
    }
  | { kind: 'rate-limited'; retryAfterMs: number };

/**
 * `/verify` reads every record of the log, so anyone who may call it could keep the writer's
 * disk busy. This gate answers from the last result while the chain head has not moved (and it
 * is younger than `maxAgeMs`), shares one walk among concurrent callers, and starts a new walk
 * at most once per `minIntervalMs`. Inside that interval a caller gets the last result marked
 * stale, naming the head it covers (on a busy log the head moves with every event, and a reader
 * should not see "try later" each time); only with no result at all is it told when to come back.
 */
export class VerifyGate {
  private last: { head: string; at: number; result: VerifyResult } | undefined;
  private running: { head: string; promise: Promise<VerifyAnswer> } | undefined;
  private lastStart = Number.NEGATIVE_INFINITY;
  private readonly now: () => number;

  constructor(private readonly o: VerifyGateOptions) {
    this.now = o.now ?? Date.now;
  }

  async answer(): Promise<VerifyAnswer> {
    const head = this.o.head();
    const now = this.now();
    const last = this.last;
    if (last && last.head === head && now - last.at < this.o.maxAgeMs)
      return { kind: 'result', result: last.result, cached: true, head, verifiedAt: last.at, stale: false };
    if (this.running?.head === head) return await this.running.promise;
    const wait = this.lastStart + this.o.minIntervalMs - now;
    if (wait > 0)
      return last
        ? {
            kind: 'result',
            result: last.result,
            cached: true,
            head: last.head,
            verifiedAt: last.at,
            stale: true,
          }
        : { kind: 'rate-limited', retryAfterMs: wait };
    this.lastStart = now;
    const promise = this.o.verify().then((result): VerifyAnswer => {
      this.last = { head, at: now, result };
      return { kind: 'result', result, cached: false, head, verifiedAt: now, stale: false };
    });
    this.running = { head, promise };
    try {
      return await promise;
    } finally {
      if (this.running?.promise === promise) this.running = undefined;
    }
  }
}
