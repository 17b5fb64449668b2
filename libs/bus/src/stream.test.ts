import { JetStreamApiError } from '@nats-io/jetstream';
import { TimeoutError } from '@nats-io/nats-core';
import { describe, expect, it } from 'vitest';
import { whileClusterSettles } from './stream.ts';

describe('whileClusterSettles', () => {
  it('asks again while the JetStream API call times out, and answers what the call finally answers', async () => {
    let calls = 0;
    const answer = await whileClusterSettles(async () => {
      calls++;
      if (calls === 1) throw new TimeoutError();
      return 'created';
    });
    expect(answer).toBe('created');
    expect(calls).toBe(2);
  });

  it('asks again while no peers can take the replicas yet (a cluster still forming), as the server words it', async () => {
    let calls = 0;
    const answer = await whileClusterSettles(async () => {
      calls++;
      if (calls === 1)
        throw new JetStreamApiError({
          code: 400,
          err_code: 10005,
          description: 'no suitable peers for placement, peer offline',
        });
      return 'created';
    });
    expect(answer).toBe('created');
    expect(calls).toBe(2);
  });

  it('throws any other error at once', async () => {
    let calls = 0;
    await expect(
      whileClusterSettles(async () => {
        calls++;
        throw new Error('stream name already in use with a different configuration');
      }),
    ).rejects.toThrow(/already in use/);
    expect(calls).toBe(1);
  });

  it('gives up with the timeout once its time is spent', async () => {
    let calls = 0;
    await expect(
      whileClusterSettles(async () => {
        calls++;
        throw new TimeoutError();
      }, 0),
    ).rejects.toBeInstanceOf(TimeoutError);
    expect(calls).toBe(1);
  });
});
