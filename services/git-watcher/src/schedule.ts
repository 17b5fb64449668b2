/** When the next check of a repo runs: the interval with jitter, or an exponential backoff after failures. */
export function nextDelayMs(
  opts: { intervalMs: number; jitter: number; maxBackoffMs: number; consecutiveFailures: number },
  random: () => number = Math.random,
): number {
  const base =
    opts.consecutiveFailures === 0
      ? opts.intervalMs
      : Math.min(opts.maxBackoffMs, opts.intervalMs * 2 ** Math.min(opts.consecutiveFailures - 1, 30));
  // interval × (1 ± jitter/2): repos configured alike drift apart instead of polling in lock step.
  const factor = 1 + (random() - 0.5) * opts.jitter;
  return Math.max(50, Math.round(base * factor));
}

/** First check after acquiring a repo: spread over up to one interval so a failover is not a thundering herd. */
export function initialDelayMs(intervalMs: number, random: () => number = Math.random): number {
  return Math.round(random() * Math.min(intervalMs, 1000));
}
