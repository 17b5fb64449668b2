import { describe, expect, it } from 'vitest';
import { type LoggedTrailers, parseTrailerLog, TrailerIndex } from './trailer-index.ts';

const sha = (n: number) => n.toString(16).padStart(40, '0');
const commit = (n: number, trailers: Record<string, string>, side = '>'): LoggedTrailers => ({
  side,
  sha: sha(n),
  trailers: Object.entries(trailers),
});

describe('parseTrailerLog', () => {
  it('reads side marks, shas and trailers as git prints them with TRAILER_LOG_FORMAT', () => {
    // Two records as `git log --left-right --format=TRAILER_LOG_FORMAT` writes them (one line each).
    const out = `>${sha(2)}\x1fFlotilla-Event\x1devt-2\x1fFlotilla-Epoch\x1d3\x1e\n` + `<${sha(1)}\x1f\x1e\n`;
    expect(parseTrailerLog(out)).toEqual([
      {
        side: '>',
        sha: sha(2),
        trailers: [
          ['Flotilla-Event', 'evt-2'],
          ['Flotilla-Epoch', '3'],
        ],
      },
      { side: '<', sha: sha(1), trailers: [] },
    ]);
    expect(parseTrailerLog('')).toEqual([]);
  });
});

describe('TrailerIndex', () => {
  it('answers the newest commit carrying a value, and cannot say for a key it never indexed', () => {
    const index = new TrailerIndex();
    expect(index.lookup('Flotilla-Event', 'a')).toBeUndefined();
    // Newest first, as git log lists them: evt-a is carried by 3 and (again) by 1.
    index.rebuild(
      sha(3),
      ['Flotilla-Event'],
      [
        commit(3, { 'Flotilla-Event': 'a' }),
        commit(2, { 'Flotilla-Event': 'b' }),
        commit(1, { 'Flotilla-Event': 'a' }),
      ],
    );
    expect(index.lookup('flotilla-event', 'a')).toBe(sha(3));
    expect(index.lookup('Flotilla-Event', 'b')).toBe(sha(2));
    expect(index.lookup('Flotilla-Event', 'c')).toBeNull();
    expect(index.lookup('Flotilla-Request', 'a')).toBeUndefined();
  });

  it('follows commits made on its head, and not ones made elsewhere', () => {
    const index = new TrailerIndex();
    index.rebuild(sha(1), ['Flotilla-Event'], [commit(1, {})]);
    expect(index.committed(sha(1), sha(2), { 'Flotilla-Event': 'x', 'Flotilla-Epoch': '1' })).toBe(true);
    expect(index.head).toBe(sha(2));
    expect(index.lookup('Flotilla-Event', 'x')).toBe(sha(2));
    // A commit whose parent is not the indexed head leaves the index where it was.
    expect(index.committed(sha(7), sha(8), { 'Flotilla-Event': 'y' })).toBe(false);
    expect(index.head).toBe(sha(2));
    expect(index.lookup('Flotilla-Event', 'y')).toBeNull();
  });

  it('takes out what left the history: a value only such a commit carried is unsure until a scan settles it', () => {
    const index = new TrailerIndex();
    index.rebuild(sha(2), ['Flotilla-Event'], [commit(2, { 'Flotilla-Event': 'mine' }), commit(1, {})]);
    // A reset to another writer's head 3 (on top of 1): 2 left, 3 joined.
    index.move(sha(3), [
      commit(3, { 'Flotilla-Event': 'theirs' }),
      commit(2, { 'Flotilla-Event': 'mine' }, '<'),
    ]);
    expect(index.head).toBe(sha(3));
    expect(index.lookup('Flotilla-Event', 'theirs')).toBe(sha(3));
    expect(index.lookup('Flotilla-Event', 'mine')).toBeUndefined();
    index.settle('Flotilla-Event', 'mine', null);
    expect(index.lookup('Flotilla-Event', 'mine')).toBeNull();
  });

  it('a rebased commit keeps its value certain: the rewritten commit carries it', () => {
    const index = new TrailerIndex();
    index.rebuild(sha(2), ['Flotilla-Event'], [commit(2, { 'Flotilla-Event': 'mine' }), commit(1, {})]);
    index.move(sha(4), [
      commit(4, { 'Flotilla-Event': 'mine' }),
      commit(3, { 'Flotilla-Event': 'theirs' }),
      commit(2, { 'Flotilla-Event': 'mine' }, '<'),
    ]);
    expect(index.lookup('Flotilla-Event', 'mine')).toBe(sha(4));
    expect(index.lookup('Flotilla-Event', 'theirs')).toBe(sha(3));
  });

  it('forgets everything on clear', () => {
    const index = new TrailerIndex();
    index.rebuild(sha(1), ['Flotilla-Event'], [commit(1, { 'Flotilla-Event': 'a' })]);
    index.clear();
    expect(index.head).toBeNull();
    expect(index.indexedKeys()).toEqual([]);
    expect(index.lookup('Flotilla-Event', 'a')).toBeUndefined();
  });
});
