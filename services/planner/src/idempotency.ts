/**
 * How long a client's `Idempotency-Key` is answered with the decision it made. Stripe keeps keys
 * for 24 hours; so do we by default (`idempotency.ttlMs`). Retries come within seconds or minutes
 * (a lost answer, a restarted planner); past the lifetime the same key is a new request, so a
 * client that reuses keys (a counter, a date) is not answered with a stale decision forever.
 */
export const DEFAULT_IDEMPOTENCY_TTL_MS = 24 * 3600_000;

/** A request tag as a record keeps it: when the decision it made was recorded. */
export interface RequestStamp {
  tag: string;
  at: string;
}

/**
 * Whether a request recorded at `at` still answers a retry at `nowMs`. Pure. A record without a
 * usable time (written before keys expired) counts as recorded at `fallbackAt`, the record's
 * own last change; without either it is expired, the conservative side: a new decision is
 * checked afresh rather than a stale one replayed.
 */
export function requestLive(
  at: string | undefined,
  nowMs: number,
  ttlMs: number,
  fallbackAt?: string,
): boolean {
  const t = Date.parse(at ?? fallbackAt ?? '');
  return Number.isFinite(t) && nowMs - t < ttlMs;
}

/**
 * Whether `tag` is among `list`'s live requests. Entries are stamps, or bare tags from records
 * written before keys expired (dated by `fallbackAt`).
 */
export function hasLiveRequest(
  list: ReadonlyArray<RequestStamp | string> | undefined,
  tag: string,
  nowMs: number,
  ttlMs: number,
  fallbackAt?: string,
): boolean {
  return (list ?? []).some((r) =>
    typeof r === 'string'
      ? r === tag && requestLive(undefined, nowMs, ttlMs, fallbackAt)
      : r.tag === tag && requestLive(r.at, nowMs, ttlMs),
  );
}
