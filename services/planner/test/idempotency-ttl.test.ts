// An Idempotency-Key answers retries with the recorded decision while it lives (24 h by default)
// and is a new request once it has expired (issue 15): here a planner with the default lifetime,
// then one whose keys expire at once (`idempotency.ttlMs: 0`), on the same recorded state.
import { StageLockChanged } from '@flotilla/events';
import { waitFor } from '@flotilla/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness, TOKENS } from './harness.ts';
import './status-matcher.ts';

type D = Record<string, unknown>;
let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => {
  await h?.stop();
});

const key = { 'idempotency-key': 'lock-dev-for-the-release' };
const locks = (locked: boolean) =>
  h.events.of<D>(StageLockChanged, (d) => d.stage === 'dev' && d.locked === locked);

describe('Idempotency-Key lifetime', () => {
  it('a live key returns the recorded response; an expired key is treated as new', async () => {
    const planner = await h.start();
    // A planner answers 503 until it leads; a client retries that with the same key.
    const lock = (p: typeof planner, headers = key) =>
      waitFor(
        'the planner to answer',
        async () => {
          const r = await h.api(
            p,
            'POST',
            '/api/v1/stages/dev/lock',
            TOKENS.bob,
            { reason: 'release' },
            headers,
          );
          return r.status === 503 ? undefined : r;
        },
        { timeoutMs: 60_000, intervalMs: 250 },
      );
    const first = await lock(planner);
    expect(first).toMatchObject({
      status: 200,
      body: { stage: { stage: 'dev', locked: { by: 'user:bob' } } },
    });
    await h.events.wait(StageLockChanged, (d: D) => d.stage === 'dev' && d.locked === true);
    const unlocked = await h.api(planner, 'POST', '/api/v1/stages/dev/unlock', TOKENS.bob, {});
    expect(unlocked).toHaveStatus(200);
    await h.events.wait(StageLockChanged, (d: D) => d.stage === 'dev' && d.locked === false);

    // The key lives: its retry is answered from the record (the stage as that request left it
    // is not re-applied: no second lock, no second event), even though the stage moved on.
    const retried = await lock(planner);
    expect(retried).toHaveStatus(200);
    expect((retried.body.stage as D).locked).toBeUndefined();
    await planner.stop();

    // The same state, keys expiring at once: the same key is a new request and locks again.
    const expiring = await h.start({ idempotency: { ttlMs: 0 } });
    const again = await lock(expiring);
    expect(again).toMatchObject({
      status: 200,
      body: { stage: { locked: { by: 'user:bob', reason: 'release' } } },
    });
    await waitFor('the second lock event', async () => (locks(true).length >= 2 ? true : undefined), {
      timeoutMs: 60_000,
    });
    await h.drained();
    // Two locks (the first and the one after expiry) and one unlock: the live retry published nothing.
    expect(locks(true)).toHaveLength(2);
    expect(locks(false)).toHaveLength(1);
    await expiring.stop();
  }, 180_000);
});
