import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureGit } from '../test/fixture-git.ts';
import { readHeadTarget, readRefFast } from './refs.ts';

// A real repository made by git (the fixture), read by the fast path and checked against git.
let dir: string;
let gitDir: string;
const inDir = fixtureGit(() => dir);
const git = (...args: string[]) => inDir(args);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'flotilla-refs-'));
  gitDir = join(dir, '.git');
  git('init', '--quiet', '--initial-branch=main');
  writeFileSync(join(dir, 'a'), 'a\n');
  git('add', 'a');
  git('commit', '--quiet', '-m', 'one');
  git('branch', 'packed');
  git('tag', '-a', '-m', 'tag', 'v1');
  git('pack-refs', '--all');
  writeFileSync(join(dir, 'a'), 'b\n');
  git('commit', '--quiet', '-am', 'two');
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('readRefFast', () => {
  it('reads loose and packed refs as git does', async () => {
    expect(await readRefFast(gitDir, 'refs/heads/main')).toBe(git('rev-parse', 'refs/heads/main'));
    expect(await readRefFast(gitDir, 'refs/heads/packed')).toBe(git('rev-parse', 'refs/heads/packed'));
    // An annotated tag's own object, not the peeled commit on the `^` line below it.
    expect(await readRefFast(gitDir, 'refs/tags/v1')).toBe(git('rev-parse', 'refs/tags/v1'));
    expect(await readRefFast(gitDir, 'refs/tags/v1')).not.toBe(git('rev-parse', 'refs/tags/v1^{commit}'));
  });

  it('cannot tell (undefined) rather than answer for absent, odd or unsafe names', async () => {
    expect(await readRefFast(gitDir, 'refs/heads/missing')).toBeUndefined();
    expect(await readRefFast(gitDir, 'HEAD')).toBeUndefined();
    expect(await readRefFast(gitDir, 'refs/heads/../../config')).toBeUndefined();
    expect(await readRefFast(gitDir, 'refs/heads/main.lock')).toBeUndefined();
    expect(await readRefFast(gitDir, '/etc/passwd')).toBeUndefined();
    writeFileSync(join(gitDir, 'refs/heads/symbolic'), 'ref: refs/heads/main\n');
    expect(await readRefFast(gitDir, 'refs/heads/symbolic')).toBeUndefined();
  });

  it('reads the branch HEAD is on, and nothing when detached', async () => {
    expect(await readHeadTarget(gitDir)).toBe('refs/heads/main');
    git('checkout', '--quiet', '--detach');
    expect(await readHeadTarget(gitDir)).toBeUndefined();
    git('checkout', '--quiet', 'main');
    expect(await readHeadTarget(gitDir)).toBe('refs/heads/main');
  });
});
