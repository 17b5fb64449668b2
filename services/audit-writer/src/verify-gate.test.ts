import { describe, expect, it } from 'vitest';
import type { VerifyResult } from './chain.ts';
import { VerifyGate } from './verify-gate.ts';

function gate(opts: { minIntervalMs?: number; maxAgeMs?: number } = {}) {
  const state = { head: '1 sha256:a', now: 1_000_000, walks: 0, release: [] as Array<() => void> };
  const g = new VerifyGate({
    head: () => state.head,
    now: () => state.now,
    minIntervalMs: opts.minIntervalMs ?? 5_000,
    maxAgeMs: opts.maxAgeMs ?? 60_000,
    verify: () => {
      state.walks++;
      return new Promise<VerifyResult>((resolve) =>
        state.release.push(() => resolve({ ok: true, records: state.walks } as unknown as VerifyResult)),
      );
    },
  });
  const settle = () => {
    for (const r of state.release.splice(0)) r();
  };
  return { g, state, settle };
}

describe('VerifyGate', () => {
  it('answers from the last walk while the head does not move', async () => {
    const { g, state, settle } = gate();
    const first = g.answer();
    settle();
    expect(await first).toMatchObject({ kind: 'result', cached: false });
    state.now += 30_000;
    expect(await g.answer()).toMatchObject({ kind: 'result', cached: true, head: '1 sha256:a' });
    expect(state.walks).toBe(1);
  });

  it('shares one walk among concurrent callers', async () => {
    const { g, state, settle } = gate();
    const all = [g.answer(), g.answer(), g.answer()];
    settle();
    const answers = await Promise.all(all);
    expect(answers.map((a) => a.kind)).toEqual(['result', 'result', 'result']);
    expect(state.walks).toBe(1);
  });

  it('a moved head walks again, but not sooner than the interval; meanwhile the last result, marked stale', async () => {
    const { g, state, settle } = gate({ minIntervalMs: 5_000 });
    const first = g.answer();
    settle();
    await first;
    state.head = '2 sha256:b';
    state.now += 1_000;
    expect(await g.answer()).toMatchObject({ kind: 'result', cached: true, stale: true, head: '1 sha256:a' });
    expect(state.walks).toBe(1);
    state.now += 4_000;
    const second = g.answer();
    settle();
    expect(await second).toMatchObject({ kind: 'result', cached: false, head: '2 sha256:b' });
    expect(state.walks).toBe(2);
  });

  it('an old result is walked again even at the same head (files edited behind the writer)', async () => {
    const { g, state, settle } = gate({ maxAgeMs: 60_000 });
    const first = g.answer();
    settle();
    await first;
    state.now += 60_000;
    const again = g.answer();
    settle();
    expect(await again).toMatchObject({ cached: false });
    expect(state.walks).toBe(2);
  });

  it('a failed walk is not cached', async () => {
    let calls = 0;
    const g = new VerifyGate({
      head: () => 'h',
      minIntervalMs: 0,
      maxAgeMs: 60_000,
      verify: async () => {
        calls++;
        if (calls === 1) throw new Error('disk gone');
        return { ok: true } as unknown as VerifyResult;
      },
    });
    await expect(g.answer()).rejects.toThrow('disk gone');
    expect(await g.answer()).toMatchObject({ kind: 'result', cached: false });
  });

  it('with no result to fall back on, a caller inside the interval is told when to come back', async () => {
    let now = 1_000_000;
    const g = new VerifyGate({
      head: () => 'h',
      now: () => now,
      minIntervalMs: 5_000,
      maxAgeMs: 60_000,
      verify: async () => {
        throw new Error('disk gone');
      },
    });
    await expect(g.answer()).rejects.toThrow('disk gone');
    now += 1_000;
    expect(await g.answer()).toEqual({ kind: 'rate-limited', retryAfterMs: 4_000 });
  });
});
