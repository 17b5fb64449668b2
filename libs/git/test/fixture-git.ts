import { execFileSync } from 'node:child_process';

/**
 * The environment the libs/git fixture tests run git in: no system or user config (HOME is the
 * fixture's own directory) and a fixed author, so what git writes is the same on every machine.
 */
export function fixtureGitEnv(home: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: home,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_AUTHOR_NAME: 'T',
    GIT_AUTHOR_EMAIL: 't@example.test',
    GIT_COMMITTER_NAME: 'T',
    GIT_COMMITTER_EMAIL: 't@example.test',
    ...extra,
  };
}

/** Runs git in `dir()` (read at each call: fixtures make their directory in beforeAll), trimmed stdout. */
export const fixtureGit =
  (dir: () => string) =>
  (args: string[], extra?: Record<string, string>): string =>
    execFileSync('git', args, { cwd: dir(), env: fixtureGitEnv(dir(), extra) })
      .toString()
      .trim();
