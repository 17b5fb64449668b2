/**
 * The `Idempotency-Key` of the decisions a person makes on the page: one key per decision (the
 * verb, the promotion and the comment), the same key for every retry of it while its outcome is
 * unknown (the console or the planner unreachable, no answer in time). The planner then answers a
 * retry with the decision it recorded instead of deciding twice or saying "not pending" about a
 * promotion the first attempt already approved. Once an answer comes (done or refused), the next
 * click is a new decision with a new key. Pure and browser-safe: the page bundles it.
 */
export class DecisionKeys {
  private pending: { action: string; key: string } | undefined;

  constructor(private readonly newKey: () => string) {}

  /** The key to send for `action`: the pending one when this is its retry, else a new one. */
  keyFor(action: string): string {
    if (this.pending?.action !== action) this.pending = { action, key: this.newKey() };
    return this.pending.key;
  }

  /**
   * The attempt ended. `answered`: the planner decided or refused, so the key is spent.
   * `unknown`: no answer (unreachable, timed out), so the same decision retried reuses the key.
   */
  settled(outcome: 'answered' | 'unknown'): void {
    if (outcome === 'answered') this.pending = undefined;
  }
}

/** What makes two clicks the same decision. */
export const decisionAction = (verb: 'approve' | 'reject', promotion: string, text: string): string =>
  JSON.stringify([verb, promotion, text]);

/** The planner's rule for a key (printable ASCII, 1 to 200 characters). */
export const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,200}$/;
