import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureGitEnv } from '../test/fixture-git.ts';
import { runGit, runGitStatus } from './git-runner.ts';

// The runner against real git: what comes back, what is refused before any process starts.
let dir: string;
let processes = 0;
const opts = (extra: Record<string, unknown> = {}) => ({
  cwd: dir,
  env: fixtureGitEnv(dir),
  onProcess: () => {
    processes++;
  },
  ...extra,
});

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'flotilla-runner-'));
  execFileSync('git', ['init', '--quiet', '--initial-branch=main', dir]);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('runGit', () => {
  it('returns stdout, writes input to stdin, and a quiet command returns an empty string', async () => {
    // The id of the blob "x\n", as every git computes it.
    expect(await runGit(['hash-object', '--stdin'], opts({ input: 'x\n' }))).toBe(
      '587be6b4c3f93f93c489c0111bba5596147a26cb\n',
    );
    expect(await runGit(['commit', '--quiet', '--allow-empty', '-m', 'one'], opts())).toBe('');
    expect((await runGit(['rev-list', '--count', 'HEAD'], opts())).trim()).toBe('1');
  });

  it('types a non-zero exit (runGitStatus answers the expected ones with the output)', async () => {
    await expect(runGit(['rev-parse', '--verify', 'refs/heads/none'], opts())).rejects.toMatchObject({
      code: 'git.command-failed',
      details: { exitCode: 128 },
    });
    const r = await runGitStatus(['merge-base', '--is-ancestor', 'HEAD', 'HEAD~0'], opts(), [0, 1]);
    expect(r.code).toBe(0);
    const missing = await runGitStatus(['cat-file', '-e', `${'0'.repeat(40)}`], opts(), [0, 1, 128]);
    expect(missing.code).not.toBe(0);
  });

  it("refuses what simple-git's checks refuse, before any process starts; abbreviated options too", async () => {
    const marker = join(dir, 'pwned');
    const before = processes;
    await expect(
      runGit(['fetch', `--upload-pack=touch ${marker}`, `file://${dir}`], opts()),
    ).rejects.toMatchObject({ code: 'git.invalid-argument' });
    await expect(runGit(['-c', `core.pager=touch ${marker}`, 'log'], opts())).rejects.toMatchObject({
      code: 'git.invalid-argument',
    });
    expect(processes).toBe(before);
    expect(existsSync(marker)).toBe(false);
    // Git itself refuses an abbreviation (`--lis` for `--list`) in our commands.
    await expect(runGit(['branch', '--lis'], opts())).rejects.toThrow(/abbreviated/);
  });

  it('kills git after the block timeout without output, and returns before a command git started ends', async () => {
    // The "ssh" git starts outlives git's kill and holds its output pipes open.
    const started = Date.now();
    await expect(
      runGit(
        ['ls-remote', 'ssh://example.invalid/repo'],
        opts({ env: { ...opts().env, GIT_SSH_COMMAND: 'sh -c "sleep 5"' }, timeoutMs: 300 }),
      ),
    ).rejects.toMatchObject({ code: 'git.timeout' });
    // Settled after the kill and the exit grace, not when the sleep ends.
    expect(Date.now() - started).toBeLessThan(4500);
  });

  it('fails for a working directory that does not exist', async () => {
    await expect(runGit(['status'], opts({ cwd: join(dir, 'nowhere') }))).rejects.toMatchObject({
      code: 'git.command-failed',
    });
  });
});
