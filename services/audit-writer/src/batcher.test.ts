import { describe, expect, it } from 'vitest';
import { Batcher } from './batcher.ts';

describe('Batcher', () => {
  it('flushes at maxItems without waiting for the timer', async () => {
    const batches: number[][] = [];
    const b = new Batcher<number>({
      maxItems: 3,
      maxDelayMs: 60_000,
      flush: async (xs) => void batches.push(xs),
    });
    await Promise.all([1, 2, 3].map((x) => b.submit(x)));
    expect(batches).toEqual([[1, 2, 3]]);
  });

  it('flushes a partial batch after maxDelayMs', async () => {
    const batches: number[][] = [];
    const b = new Batcher<number>({
      maxItems: 100,
      maxDelayMs: 20,
      flush: async (xs) => void batches.push(xs),
    });
    const t0 = Date.now();
    await Promise.all([b.submit(1), b.submit(2)]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(15);
    expect(batches).toEqual([[1, 2]]);
  });

  it('runs one flush at a time; items arriving meanwhile form the next batch', async () => {
    const batches: number[][] = [];
    let concurrent = 0;
    let maxConcurrent = 0;
    const b = new Batcher<number>({
      maxItems: 2,
      maxDelayMs: 5,
      flush: async (xs) => {
        concurrent++;
        maxConcurrent = Math.max(maxConcurrent, concurrent);
        await new Promise((r) => setTimeout(r, 20));
        batches.push(xs);
        concurrent--;
      },
    });
    await Promise.all([1, 2, 3, 4, 5].map((x) => b.submit(x)));
    expect(maxConcurrent).toBe(1);
    expect(batches.flat()).toEqual([1, 2, 3, 4, 5]);
    expect(batches.every((x) => x.length <= 2)).toBe(true);
  });

  it('takes up to maxBatchItems of a backlog that piled up during a flush in one batch', async () => {
    const batches: number[][] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const b = new Batcher<number>({
      maxItems: 2,
      maxBatchItems: 5,
      maxDelayMs: 5,
      flush: async (xs) => {
        batches.push(xs);
        if (batches.length === 1) await gate;
      },
    });
    const first = [b.submit(0), b.submit(1)];
    const backlog = Array.from({ length: 7 }, (_, i) => b.submit(i + 2));
    release();
    await Promise.all([...first, ...backlog]);
    expect(batches).toEqual([
      [0, 1],
      [2, 3, 4, 5, 6],
      [7, 8],
    ]);
  });

  it('rejects every item of a failed batch and keeps going', async () => {
    let fail = true;
    const b = new Batcher<number>({
      maxItems: 2,
      maxDelayMs: 5,
      flush: async () => {
        if (fail) throw new Error('disk full');
      },
    });
    const results = await Promise.allSettled([b.submit(1), b.submit(2)]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    fail = false;
    await expect(b.submit(3)).resolves.toBeUndefined();
    await b.close();
    await expect(b.submit(4)).rejects.toThrow('closed');
  });
});
