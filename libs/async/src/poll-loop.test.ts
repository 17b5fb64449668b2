import { FlotillaError } from '@flotilla/errors';
import { waitUntil } from '@flotilla/test-support/wait';
import { describe, expect, it } from 'vitest';
import { type CheckFailure, PollLoop, pollDelayMs, type Trigger } from './poll-loop.ts';

const until = (what: string, cond: () => boolean) => waitUntil(what, cond, { intervalMs: 5 });

const base = { intervalMs: 1000, jitter: 0.2, maxBackoffMs: 10_000 };

describe('pollDelayMs', () => {
  it('jitters the interval by ±jitter/2 and backs off exponentially up to the cap', () => {
    expect(pollDelayMs({ ...base, failures: 0 }, () => 0)).toBe(900);
    expect(pollDelayMs({ ...base, failures: 0 }, () => 1)).toBe(1100);
    expect(pollDelayMs({ ...base, failures: 1 }, () => 0.5)).toBe(1000);
    expect(pollDelayMs({ ...base, failures: 3 }, () => 0.5)).toBe(4000);
    expect(pollDelayMs({ ...base, failures: 50 }, () => 0.5)).toBe(10_000);
  });
  it('never comes sooner than the Retry-After the source asked for', () => {
    expect(pollDelayMs({ ...base, failures: 1, retryAfterMs: 5000 }, () => 0.5)).toBe(5000);
    expect(pollDelayMs({ ...base, failures: 1, retryAfterMs: 5000, carriedRetryMs: 100 }, () => 0.5)).toBe(
      5000,
    );
  });
  it('retries soon when hints from a webhook wait for the retry, doubling per failure', () => {
    const hourly = { ...base, intervalMs: 3_600_000, maxBackoffMs: 7_200_000 };
    expect(pollDelayMs({ ...hourly, failures: 1 }, () => 0.5)).toBe(3_600_000);
    expect(pollDelayMs({ ...hourly, failures: 1, carriedRetryMs: 1000 }, () => 0.5)).toBe(1000);
    expect(pollDelayMs({ ...hourly, failures: 3, carriedRetryMs: 1000 }, () => 0.5)).toBe(4000);
    // Never later than the plain backoff would have come.
    expect(pollDelayMs({ ...base, failures: 1, carriedRetryMs: 5000 }, () => 0.5)).toBe(1000);
  });
});

describe('PollLoop', () => {
  it('merges triggers that arrive during a check into one follow-up carrying every hint', async () => {
    const calls: Array<{ trigger: Trigger; hints: string[] }> = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const loop = new PollLoop<string>({
      ...base,
      intervalMs: 600_000,
      initialDelayMs: 0,
      unknownCode: 'x',
      check: async (trigger, hints) => {
        calls.push({ trigger, hints });
        if (calls.length === 1) await gate;
      },
    });
    const first = loop.trigger(['a']);
    await until('the first check runs', () => calls.length === 1);
    void loop.trigger(['b']);
    void loop.trigger(['c']);
    release();
    await first;
    await loop.stop();
    expect(calls).toEqual([
      { trigger: 'webhook', hints: ['a'] },
      { trigger: 'webhook', hints: ['b', 'c'] },
    ]);
  });

  it('reports a failure once it lasts, a new code at once when stalled, the same code only as a reminder', async () => {
    let now = 0;
    const reports: Array<[string, number]> = [];
    const failures: number[] = [];
    const errors = [
      new FlotillaError('net', 'down', { disposition: 'retry' }),
      new FlotillaError('net', 'down', { disposition: 'retry' }),
      new FlotillaError('net', 'down', { disposition: 'retry' }),
      new FlotillaError('auth', 'denied', { disposition: 'stall' }),
      new FlotillaError('auth', 'denied', { disposition: 'stall' }),
      new FlotillaError('auth', 'denied', { disposition: 'stall' }),
    ];
    const loop = new PollLoop<never>({
      ...base,
      maxBackoffMs: 1,
      initialDelayMs: 0,
      unknownCode: 'x',
      now: () => now,
      reportAfter: 2,
      remindEveryMs: 1000,
      check: async () => {
        const err = errors.shift();
        if (err) throw err;
      },
      report: async (f: CheckFailure, n) => {
        reports.push([f.code, n]);
      },
      onFailure: (_f, n) => {
        failures.push(n);
        // The fifth failure comes a reminder interval after the last report.
        if (n === 4) now = 1000;
      },
    });
    for (let i = 0; i < 6; i++) await loop.trigger();
    expect(failures).toEqual([1, 2, 3, 4, 5, 6]);
    expect(reports).toEqual([
      ['net', 2],
      ['auth', 4],
      ['auth', 5],
    ]);
    await loop.trigger();
    expect(loop.consecutiveFailures).toBe(0);
    await loop.stop();
  });

  it('carries the hints of a failed check to the next one, as the watcher bounds them', async () => {
    const calls: string[][] = [];
    const loop = new PollLoop<string>({
      ...base,
      initialDelayMs: 0,
      unknownCode: 'x',
      check: async (_t, hints) => {
        calls.push(hints);
        if (calls.length === 1) throw new Error('boom');
      },
      carry: (hints) => hints.filter((h) => h !== 'drop'),
    });
    await loop.trigger(['keep', 'drop']);
    await loop.trigger(['next']);
    await loop.stop();
    expect(calls).toEqual([
      ['keep', 'drop'],
      ['keep', 'next'],
    ]);
  });

  it('runs the carried hints again on its own soon, without waiting for a poll or another webhook', async () => {
    const calls: Array<{ trigger: Trigger; hints: string[] }> = [];
    const loop = new PollLoop<string>({
      ...base,
      intervalMs: 3_600_000,
      maxBackoffMs: 7_200_000,
      initialDelayMs: 0,
      carriedRetryMs: 20,
      unknownCode: 'x',
      check: async (trigger, hints) => {
        calls.push({ trigger, hints });
        if (calls.length === 1) throw new Error('registry timed out');
      },
      carry: (hints) => hints,
    });
    await loop.trigger(['v1']);
    await until('the retry of the failed check', () => calls.length === 2);
    await loop.stop();
    expect(calls).toEqual([
      { trigger: 'webhook', hints: ['v1'] },
      { trigger: 'webhook', hints: ['v1'] },
    ]);
  });
});
