import { describe, expect, it } from 'vitest';
import { matchesPaths, normalisePaths, parseLog } from './commit-log.ts';
import { classifyGitFailure, GitCommandError } from './errors.ts';
import { formatCommitMessage } from './trailers.ts';

const rec = (sha: string, parents: string, msg: string, names: string[]) =>
  `\x1e${sha}\x1f${parents}\x1fA\x1fa@x\x1f100\x1fC\x1fc@x\x1f200\x1f${msg}\n\x1f\0\n${names.map((n) => `${n}\0`).join('')}`;

describe('parseLog', () => {
  it('parses records with names, multi-line messages and root commits', () => {
    const out = rec('s1', '', 'root\n\nbody', ['a.txt', 'dir/b c.yaml']) + rec('s2', 's1 s0', 'merge', []);
    const commits = parseLog(out);
    expect(commits).toHaveLength(2);
    expect(commits[0]).toEqual({
      sha: 's1',
      parents: [],
      author: { name: 'A', email: 'a@x', time: new Date(100_000) },
      committer: { name: 'C', email: 'c@x', time: new Date(200_000) },
      message: 'root\n\nbody',
      changedPaths: ['a.txt', 'dir/b c.yaml'],
      relevant: true,
    });
    expect(commits[1]).toMatchObject({ parents: ['s1', 's0'], changedPaths: [], relevant: true });
  });

  it('filters by directory prefix, not string prefix', () => {
    const paths = normalisePaths(['./clusters/dev/', '/base']);
    expect(paths).toEqual(['clusters/dev', 'base']);
    expect(matchesPaths('clusters/dev/x.yaml', paths)).toBe(true);
    expect(matchesPaths('clusters/devx/x.yaml', paths)).toBe(false);
    expect(matchesPaths('base', paths)).toBe(true);
    expect(normalisePaths(['.'])).toBeUndefined();
    const [c] = parseLog(rec('s', '', 'm', ['docs/x.md']), paths);
    expect(c).toMatchObject({ changedPaths: [], relevant: false });
  });
});

describe('formatCommitMessage', () => {
  it('appends trailers as a separate paragraph and validates them', () => {
    expect(
      formatCommitMessage('subject\n\nbody\n\n', { 'Flotilla-Event': 'e1', 'Flotilla-Approved-By': 'alice' }),
    ).toBe('subject\n\nbody\n\nFlotilla-Event: e1\nFlotilla-Approved-By: alice\n');
    expect(formatCommitMessage('subject')).toBe('subject\n');
    expect(() => formatCommitMessage('')).toThrow(/empty/);
    expect(() => formatCommitMessage('s', { 'a b': 'x' })).toThrow(/trailer key/);
    expect(() => formatCommitMessage('s', { k: 'a\nb' })).toThrow(/trailer k/);
  });
});

describe('classifyGitFailure', () => {
  const cases: Array<[string, string, string]> = [
    [
      'push',
      ' ! [rejected]        HEAD -> main (fetch first)\nerror: failed to push some refs',
      'git.non-fast-forward',
    ],
    [
      'fetch',
      'fatal: unable to connect to 127.0.0.1:\n127.0.0.1[0: 127.0.0.1]: errno=Connection refused',
      'git.unreachable',
    ],
    ['fetch', "fatal: Authentication failed for 'https://h/r.git/'", 'git.auth-failed'],
    [
      'fetch',
      'git@h: Permission denied (publickey).\nfatal: Could not read from remote repository.',
      'git.auth-failed',
    ],
    ['fetch', "fatal: couldn't find remote ref refs/heads/nope", 'git.ref-not-found'],
    ['fetch', 'fatal: remote error: access denied or repository not exported: /x.git', 'git.repo-not-found'],
    ['fsck', 'broken link from commit abc\nmissing tree def', 'git.corrupt-cache'],
    [
      'push',
      'remote: main is protected\n ! [remote rejected] HEAD -> main (pre-receive hook declined)\nerror: failed to push some refs',
      'git.push-rejected',
    ],
    [
      'push',
      'remote: error: GH006: Protected branch update failed for refs/heads/main.\n ! [remote rejected] main -> main (protected branch hook declined)',
      'git.push-rejected',
    ],
    ['commit', 'fatal: something unexpected', 'git.command-failed'],
  ];
  it.each(cases)('%s: %s → %s', (op, stderr, code) => {
    const err = classifyGitFailure(new GitCommandError(128, stderr, ''), {
      op,
      url: 'https://u:pw12345@h/r.git',
    });
    expect(err.code).toBe(code);
    expect(err.message).not.toContain('pw12345');
    expect(err.details.url).toBe('https://***@h/r.git');
  });
});
