import { waitUntil } from '@flotilla/test-support/wait';
import { describe, expect, it } from 'vitest';
import { RetryLoop } from './retry-loop.ts';

const until = (what: string, cond: () => boolean) => waitUntil(what, cond, { intervalMs: 1 });

describe('RetryLoop', () => {
  it('backs off after failures, starts over after a success, and idles until kicked', async () => {
    const queue: string[] = [];
    const done: string[] = [];
    let failuresLeft = 2;
    const failuresSeen: number[] = [];
    const loop: RetryLoop = new RetryLoop({
      hasWork: () => queue.length > 0,
      step: async () => {
        failuresSeen.push(loop.failures);
        if (failuresLeft > 0) {
          failuresLeft--;
          return false;
        }
        done.push(queue.shift() as string);
        return true;
      },
      backoff: { baseMs: 1, maxMs: 4 },
      idleMs: 60_000,
    });
    loop.start();
    queue.push('a');
    loop.kick();
    await until('a done', () => done.length === 1);
    // Two failures counted up, then the success; the counter is back at zero afterwards.
    expect(failuresSeen).toEqual([0, 1, 2]);
    expect(loop.failures).toBe(0);
    // Idle now (a 60 s sleep): a kick wakes it for new work at once.
    queue.push('b');
    loop.kick();
    await until('b done', () => done.length === 2);
    expect(done).toEqual(['a', 'b']);
    await loop.stop();
  });

  it('a step that throws counts as a failure', async () => {
    let calls = 0;
    const loop = new RetryLoop({
      hasWork: () => calls < 3,
      step: async () => {
        calls++;
        throw new Error('remote away');
      },
      backoff: { baseMs: 1, maxMs: 2 },
    });
    loop.start();
    await until('three attempts', () => calls === 3);
    expect(loop.failures).toBe(3);
    await loop.stop();
  });

  it('with minIntervalMs, work arriving during the pause waits for one attempt after it', async () => {
    const queue: string[] = [];
    const attempts: Array<{ at: number; items: string[] }> = [];
    const loop = new RetryLoop({
      hasWork: () => queue.length > 0,
      step: async () => {
        attempts.push({ at: Date.now(), items: queue.splice(0) });
        return true;
      },
      backoff: { baseMs: 1, maxMs: 2 },
      minIntervalMs: 300,
    });
    loop.start();
    queue.push('a');
    loop.kick();
    await until('first attempt', () => attempts.length === 1);
    // Kicked three times inside the interval: one attempt takes all three, not before 300 ms.
    for (const item of ['b', 'c', 'd']) {
      queue.push(item);
      loop.kick();
    }
    await until('second attempt', () => attempts.length === 2);
    expect(attempts.map((a) => a.items)).toEqual([['a'], ['b', 'c', 'd']]);
    // The loop reads the clock for the interval just before `step` reads it for this record: the
    // two reads may fall either side of a millisecond tick, so the records may be 1 ms short of it.
    expect(attempts[1]!.at - attempts[0]!.at).toBeGreaterThanOrEqual(300 - 1);
    await loop.stop();
  });

  it('stop() ends a minIntervalMs pause without another attempt', async () => {
    const queue: string[] = [];
    let attempts = 0;
    const loop = new RetryLoop({
      hasWork: () => queue.length > 0,
      step: async () => {
        attempts++;
        queue.length = 0;
        return true;
      },
      backoff: { baseMs: 1, maxMs: 2 },
      // Far beyond the test's timeout: the test finishes only if stop() cuts the pause short.
      minIntervalMs: 3_600_000,
    });
    loop.start();
    queue.push('a');
    loop.kick();
    await until('first attempt', () => attempts === 1);
    queue.push('b');
    loop.kick();
    await loop.stop();
    expect(attempts).toBe(1);
    expect(queue).toEqual(['b']);
  });
});
