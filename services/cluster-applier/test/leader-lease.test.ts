import { randomBytes } from 'node:crypto';
import { KubeClient, LeaderLease } from '@flotilla/kube';
import { startTestClusters, type TestCluster } from '@flotilla/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let cluster: TestCluster;
let client: KubeClient;

beforeAll(async () => {
  const [c] = await startTestClusters([`lease-${randomBytes(3).toString('hex')}`], { kwok: false });
  if (!c) throw new Error('no cluster');
  cluster = c;
  client = await KubeClient.connect({ kubeconfigPath: cluster.kubeconfigPath, inCluster: false });
});
afterAll(async () => {
  await client?.close();
  await cluster?.stop();
});

const DURATION_S = 15;

/** A hand-driven monotonic clock: a process paused by SIGSTOP sees it jump when it resumes. */
function manualClock() {
  let t = 0;
  return {
    now: () => t,
    advance: (ms: number) => {
      t += ms;
    },
  };
}

function candidate(name: string, identity: string, clock: () => number, log: string[]): LeaderLease {
  return new LeaderLease(client, {
    namespace: 'default',
    name,
    identity,
    durationSeconds: DURATION_S,
    clock,
    onAcquired: () => void log.push(`${identity} acquired`),
    onLost: (reason) => void log.push(`${identity} ${reason}`),
  });
}

describe('LeaderLease on a real kube-apiserver, without trusting wall clocks', () => {
  it('a standby takes over only after seeing the same Lease for a whole duration on its own clock; the paused holder is fenced', async () => {
    const name = `lease-${randomBytes(3).toString('hex')}`;
    const log: string[] = [];
    const a = manualClock();
    const b = manualClock();
    const holder = candidate(name, 'a', a.now, log);
    const standby = candidate(name, 'b', b.now, log);
    expect(await holder.tryOnce()).toBe(true);
    const oldToken = holder.fence();

    // The Lease's renewTime is the holder's wall clock; the standby never compares it with its own.
    expect(await standby.tryOnce()).toBe(false);
    b.advance(DURATION_S * 1000 - 1);
    expect(await standby.tryOnce()).toBe(false);

    // The holder is paused (no renewals); the standby's clock passes the duration: it takes over.
    b.advance(2);
    expect(await standby.tryOnce()).toBe(true);
    const newToken = standby.fence();
    expect(newToken).toBeGreaterThan(oldToken);

    // The holder resumes: its claim ran out on its own clock, so it refuses to act before its next round…
    a.advance(DURATION_S * 2000);
    expect(holder.isLeader).toBe(false);
    expect(() => holder.fence()).toThrow(expect.objectContaining({ code: 'kube.lease-lost' }));
    // …and that round tells it that someone else holds the Lease.
    expect(await holder.tryOnce()).toBe(false);
    expect(log).toEqual(['a acquired', 'b acquired', 'a lost']);
  });

  it('while the holder renews, a standby whose clock runs far ahead never takes over', async () => {
    const name = `lease-${randomBytes(3).toString('hex')}`;
    const log: string[] = [];
    const a = manualClock();
    const b = manualClock();
    b.advance(3_600_000);
    const holder = candidate(name, 'a', a.now, log);
    const standby = candidate(name, 'b', b.now, log);
    expect(await holder.tryOnce()).toBe(true);
    for (let i = 0; i < 5; i++) {
      a.advance((DURATION_S * 1000) / 3);
      b.advance((DURATION_S * 1000) / 3);
      expect(await standby.tryOnce()).toBe(false);
      expect(await holder.tryOnce()).toBe(true);
    }
    expect(log).toEqual(['a acquired']);
  });
});
