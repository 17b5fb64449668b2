import { preferredOwner } from '@flotilla/bus';
import { describe, expect, it } from 'vitest';
import { HostLimiter, remoteHost } from './host-limiter.ts';
import { eventId } from './repo-watcher.ts';

describe('remoteHost', () => {
  it('finds the host of every URL form', () => {
    expect(remoteHost('https://user@GitHub.com/a/b.git')).toBe('github.com');
    expect(remoteHost('git@gitlab.com:a/b.git')).toBe('gitlab.com');
    expect(remoteHost('ssh://git@host:2222/a/b.git')).toBe('host:2222');
    expect(remoteHost('git://127.0.0.1:9418/x.git')).toBe('127.0.0.1:9418');
    expect(remoteHost('file:///srv/x.git')).toBe('local');
  });
});

describe('HostLimiter', () => {
  it('runs at most `limit` tasks per host at once, hosts independently', async () => {
    const limiter = new HostLimiter(2);
    let peak = 0;
    let active = 0;
    const task = () =>
      limiter.run('h', async () => {
        active++;
        peak = Math.max(peak, active);
        await new Promise((r) => setTimeout(r, 5));
        active--;
      });
    const other = limiter.run('other', async () => limiter.inFlight('other'));
    await Promise.all([task(), task(), task(), task(), task()]);
    expect(peak).toBe(2);
    expect(await other).toBe(1);
    expect(limiter.inFlight('h')).toBe(0);
  });
});

describe('preferredOwner', () => {
  it('agrees for the same members and moves only the leaving member’s share', () => {
    const keys = Array.from({ length: 300 }, (_, i) => `repo-${i}`);
    const three = ['a', 'b', 'c'];
    const before = new Map(keys.map((k) => [k, preferredOwner(k, three)]));
    const counts = ['a', 'b', 'c'].map((m) => keys.filter((k) => before.get(k) === m).length);
    expect(Math.min(...counts)).toBeGreaterThan(60);
    for (const k of keys) {
      const after = preferredOwner(k, ['a', 'c']);
      if (before.get(k) !== 'b') expect(after).toBe(before.get(k));
    }
    expect(preferredOwner('x', [])).toBeUndefined();
  });
});

describe('eventId', () => {
  it('is deterministic and at most 128 characters', () => {
    const sha = 'f'.repeat(40);
    expect(eventId('git', 'config', sha)).toBe(`git-config-${sha}`);
    const long = eventId('git', 'r'.repeat(200), sha);
    expect(long.length).toBeLessThanOrEqual(128);
    expect(long.endsWith(sha)).toBe(true);
    expect(eventId('git', 'r'.repeat(200), sha)).toBe(long);
  });
});
