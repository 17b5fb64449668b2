/**
 * The one way tests wait: on a condition, with a deadline that names what never happened.
 * No dependencies, so leaf libraries' unit tests can import it (`@flotilla/test-support/wait`)
 * without loading the server helpers.
 */

/** Thrown from a waitFor probe to stop waiting at once (the thing waited for has died). */
export class GiveUp extends Error {}

export interface WaitOptions {
  /** Generous by default: a loaded 2-core box is slow, never wrong. */
  timeoutMs?: number;
  intervalMs?: number;
}

/** Resolves with the probe's first defined value; a probe that throws is retried (its last error is reported). */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  { timeoutMs = 30_000, intervalMs = 100 }: WaitOptions = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      if (err instanceof GiveUp) throw err;
      last = err;
    }
    if (Date.now() >= deadline) break;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

/** waitFor for a yes/no condition. */
export async function waitUntil(
  what: string,
  cond: () => boolean | Promise<boolean>,
  opts: WaitOptions = {},
): Promise<void> {
  await waitFor(what, async () => ((await cond()) ? true : undefined), opts);
}
