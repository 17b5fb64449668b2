import { randomUUID } from 'node:crypto';
import { type NatsServer, startNats } from '@flotilla/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Bus, type LeaseSet } from '../src/index.ts';

let nats: NatsServer;
let bus: Bus;

beforeAll(async () => {
  nats = await startNats();
  bus = await Bus.connect({ servers: nats.url, service: 'planner', instance: 'test', ensureStream: true });
});

afterAll(async () => {
  await bus?.close();
  await nats?.dispose();
});

const TTL = 10_000;

/** A hand-driven monotonic clock: a process paused by SIGSTOP sees it jump when it resumes. */
function manualClock(start: number) {
  let t = start;
  return {
    now: () => t,
    advance: (ms: number) => {
      t += ms;
    },
  };
}

async function pair(bucket: string, key: string, clockA: () => number, clockB: () => number) {
  const events: string[] = [];
  const make = (owner: string, clock: () => number): Promise<LeaseSet> =>
    bus.leaseSet(bucket, {
      owner,
      ttlMs: TTL,
      keys: () => [key],
      clock,
      onAcquired: (_k, token) => void events.push(`${owner} acquired ${token}`),
      onLost: () => void events.push(`${owner} lost`),
    });
  return { a: await make('a', clockA), b: await make('b', clockB), events };
}

describe('leases without trusting wall clocks', () => {
  it('a contender whose clock is an hour ahead does not take a lease that is being renewed', async () => {
    const a = manualClock(0);
    const b = manualClock(3_600_000); // skew far beyond the TTL
    const { a: holder, b: contender } = await pair(`lease-${randomUUID().slice(0, 8)}`, 'k', a.now, b.now);
    await holder.runCycle();
    expect(holder.holds('k')).toBe(true);
    for (let i = 0; i < 6; i++) {
      // Both clocks advance at the same rate; the holder renews every third of the TTL.
      a.advance(TTL / 3);
      b.advance(TTL / 3);
      await holder.runCycle();
      await contender.runCycle();
      expect(contender.holds('k')).toBe(false);
      expect(holder.holds('k')).toBe(true);
    }
    await holder.stop();
    await contender.stop();
  });

  it('a holder paused past its TTL is fenced: its token is stale and it refuses to act on resume', async () => {
    const a = manualClock(0);
    const b = manualClock(0);
    const bucket = `lease-${randomUUID().slice(0, 8)}`;
    const { a: holder, b: contender, events } = await pair(bucket, 'k', a.now, b.now);
    await holder.runCycle();
    const oldToken = holder.fence('k');

    // The holder is paused (SIGSTOP): it stops renewing. The contender sees the same revision
    // for a whole TTL on its own clock and takes over with a higher fencing token.
    await contender.runCycle();
    b.advance(TTL);
    await contender.runCycle();
    expect(contender.holds('k')).toBe(true);
    const newToken = contender.fence('k');
    expect(newToken).toBeGreaterThan(oldToken);

    // The holder resumes: its monotonic clock jumped past its claim, so it must not act, even
    // before its next lease cycle tells it that it lost.
    a.advance(TTL * 2);
    expect(() => holder.fence('k')).toThrow(expect.objectContaining({ code: 'bus.lease-lost' }));
    await holder.runCycle();
    expect(holder.holds('k')).toBe(false);
    expect(events).toEqual([`a acquired ${oldToken}`, `b acquired ${newToken}`, 'a lost']);
    await holder.stop();
    await contender.stop();
  });

  it('a released lease is taken at once, with a token above every earlier one', async () => {
    const a = manualClock(0);
    const b = manualClock(0);
    const { a: first, b: second } = await pair(`lease-${randomUUID().slice(0, 8)}`, 'k', a.now, b.now);
    await first.runCycle();
    const t1 = first.fence('k');
    await first.stop();
    await second.runCycle();
    expect(second.fence('k')).toBeGreaterThan(t1);
    await second.stop();
  });

  it('a watched key whose holder died is taken as soon as it becomes wanted, not a TTL later', async () => {
    const a = manualClock(0);
    const b = manualClock(0);
    const bucket = `lease-${randomUUID().slice(0, 8)}`;
    let wanted = false;
    const holder = await bus.leaseSet(bucket, { owner: 'a', ttlMs: TTL, keys: () => ['k'], clock: a.now });
    const watcher = await bus.leaseSet(bucket, {
      owner: 'b',
      ttlMs: TTL,
      keys: () => (wanted ? ['k'] : []),
      watch: () => ['k'],
      clock: b.now,
    });
    // The same contender without watching: it starts its TTL of observation only once it wants the key.
    const blind = await bus.leaseSet(bucket, {
      owner: 'c',
      ttlMs: TTL,
      keys: () => (wanted ? ['k'] : []),
      clock: b.now,
    });
    await holder.runCycle();
    // The holder dies (stops renewing); the watcher, not competing yet, sees the key unchanged.
    await watcher.runCycle();
    await blind.runCycle();
    b.advance(TTL);
    await watcher.runCycle();
    expect(watcher.holds('k')).toBe(false);
    // Now the key is wanted (its dead holder left the member list).
    wanted = true;
    await blind.runCycle();
    expect(blind.holds('k')).toBe(false);
    await watcher.runCycle();
    expect(watcher.holds('k')).toBe(true);
    for (const l of [blind, watcher, holder]) await l.stop();
  });
});
