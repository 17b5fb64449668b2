import { describe, expect, it } from 'vitest';
import { SerialQueue } from './serial-queue.ts';

const tick = () => new Promise<void>((r) => setImmediate(r));

describe('SerialQueue', () => {
  it('runs one task at a time in submission order', async () => {
    const q = new SerialQueue();
    const log: string[] = [];
    let active = 0;
    let most = 0;
    const task = (name: string) => async () => {
      active++;
      most = Math.max(most, active);
      log.push(`start ${name}`);
      await tick();
      log.push(`end ${name}`);
      active--;
      return name;
    };
    const results = await Promise.all([q.run(task('a')), q.run(task('b')), q.run(task('c'))]);
    expect(results).toEqual(['a', 'b', 'c']);
    expect(most).toBe(1);
    expect(log).toEqual(['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
  });

  it('gives a failure to its caller only; later tasks still run', async () => {
    const q = new SerialQueue();
    const failed = q.run(async () => {
      throw new Error('boom');
    });
    const next = q.run(async () => 'next');
    await expect(failed).rejects.toThrow('boom');
    await expect(next).resolves.toBe('next');
  });

  it('counts queued tasks and resolves idle() once they are done', async () => {
    const q = new SerialQueue();
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    void q.run(() => gate);
    void q.run(async () => undefined);
    expect(q.size).toBe(2);
    let idle = false;
    const waiting = q.idle().then(() => {
      idle = true;
    });
    await tick();
    expect(idle).toBe(false);
    release();
    await waiting;
    expect(q.size).toBe(0);
  });
});
