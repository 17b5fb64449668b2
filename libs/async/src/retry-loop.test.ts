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
});
