import { describe, expect, it } from 'vitest';
import { changePeople, commitsBy, isSamePerson } from './separation-of-duties.ts';

const alice = { name: 'Alice Liddell', email: 'Alice@Example.com' };
const bob = { name: 'bob', email: 'robert@example.com' };
const commit = (sha: string, author = alice, committer = author) => ({ commit: sha, author, committer });

describe('separation of duties', () => {
  it('an API identity is the Git person by name, email or email local part, case-insensitively', () => {
    expect(isSamePerson('user:alice', alice)).toBe(true);
    expect(isSamePerson('user:alice@example.com', alice)).toBe(true);
    expect(isSamePerson('user:Alice Liddell', alice)).toBe(true);
    expect(isSamePerson('user:bob', bob)).toBe(true);
    expect(isSamePerson('user:robert', bob)).toBe(true);
    expect(isSamePerson('user:carol', alice)).toBe(false);
    expect(isSamePerson('user:', alice)).toBe(false);
  });

  it('names the commits an approver authored or committed; a committer counts as much as an author', () => {
    const commits = [commit('a1'), commit('b1', bob), commit('c1', bob, alice)];
    expect(commitsBy('user:alice', commits)).toEqual(['a1', 'c1']);
    expect(commitsBy('user:bob', commits)).toEqual(['b1', 'c1']);
    expect(commitsBy('user:carol', commits)).toEqual([]);
    expect(changePeople(commits)).toEqual(['Alice@Example.com', 'robert@example.com']);
  });
});
