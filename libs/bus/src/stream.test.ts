import { TimeoutError } from '@nats-io/nats-core';
import { describe, expect, it } from 'vitest';
import { whileTimingOut } from './stream.ts';

describe('whileTimingOut', () => {
  it('asks again while the JetStream API call times out, and answers what the call finally answers', async () => {
    let calls = 0;
    const answer = await whileTimingOut(async () => {
      calls++;
      if (calls === 1) throw new TimeoutError();
      return 'created';
    });
    expect(answer).toBe('created');
    expect(calls).toBe(2);
  });

  it('throws any other error at once', async () => {
    let calls = 0;
    await expect(
      whileTimingOut(async () => {
        calls++;
        throw new Error('stream name already in use with a different configuration');
      }),
    ).rejects.toThrow(/already in use/);
    expect(calls).toBe(1);
  });

  it('gives up with the timeout once its time is spent', async () => {
    let calls = 0;
    await expect(
      whileTimingOut(async () => {
        calls++;
        throw new TimeoutError();
      }, 0),
    ).rejects.toBeInstanceOf(TimeoutError);
    expect(calls).toBe(1);
  });
});
