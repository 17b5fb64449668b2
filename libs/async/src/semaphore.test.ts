import { describe, expect, it } from 'vitest';
import { Semaphore } from './semaphore.ts';

const tick = () => new Promise<void>((r) => setImmediate(r));

describe('Semaphore', () => {
  it('runs at most `limit` at once, in submission order, and hands every result back', async () => {
    const s = new Semaphore(2);
    const started: number[] = [];
    let active = 0;
    let most = 0;
    const results = await Promise.all(
      [0, 1, 2, 3, 4].map((i) =>
        s.run(async () => {
          started.push(i);
          active++;
          most = Math.max(most, active);
          await tick();
          active--;
          return i * 10;
        }),
      ),
    );
    expect(results).toEqual([0, 10, 20, 30, 40]);
    expect(most).toBe(2);
    expect(started).toEqual([0, 1, 2, 3, 4]);
    expect(s.running).toBe(0);
  });

  it('acquire holds a slot until released, in turn with run; a second release does nothing', async () => {
    const s = new Semaphore(1);
    const release = await s.acquire();
    let ran = false;
    const queued = s.run(async () => {
      ran = true;
    });
    await tick();
    expect(ran).toBe(false);
    release();
    release();
    await queued;
    expect(ran).toBe(true);
    expect(s.running).toBe(0);
  });

  it('frees the slot of a failed task; the failure goes to its caller only', async () => {
    const s = new Semaphore(1);
    const failed = s.run(async () => {
      throw new Error('boom');
    });
    const next = s.run(async () => 'ok');
    await expect(failed).rejects.toThrow('boom');
    await expect(next).resolves.toBe('ok');
    expect(s.running).toBe(0);
  });

  it('refuses a limit below 1', () => {
    expect(() => new Semaphore(0)).toThrow(RangeError);
  });
});
