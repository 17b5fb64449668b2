import { describe, expect, it } from 'vitest';
import { readCookie, SessionSealer } from './session.ts';

const who = { provider: 'token', name: 'alice', groups: ['g'], bearer: 'tok-0123456789' };

describe('sealed sessions', () => {
  it('round-trips, and expires at its time', () => {
    let now = 1_000_000;
    const sealer = new SessionSealer('s'.repeat(32), 60_000, () => now);
    const sealed = sealer.seal(sealer.create(who));
    expect(sealer.open(sealed)).toMatchObject({ name: 'alice', bearer: 'tok-0123456789', exp: 1_060_000 });
    now = 1_060_000;
    expect(sealer.open(sealed)).toBeUndefined();
  });

  it('gives every session its own CSRF token and IV: two seals of one session differ', () => {
    const sealer = new SessionSealer('s'.repeat(32), 60_000);
    const a = sealer.create(who);
    const b = sealer.create(who);
    expect(a.csrf).not.toBe(b.csrf);
    expect(sealer.seal(a)).not.toBe(sealer.seal(a));
  });

  it('reads one cookie among several', () => {
    expect(readCookie('a=1; flotilla_session=xyz; b=2', 'flotilla_session')).toBe('xyz');
    expect(readCookie('a=1', 'flotilla_session')).toBeUndefined();
    expect(readCookie(undefined, 'flotilla_session')).toBeUndefined();
  });
});
