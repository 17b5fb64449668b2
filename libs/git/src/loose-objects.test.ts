import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureGit } from '../test/fixture-git.ts';
import { looseCommitParents, readLooseCommitParents } from './loose-objects.ts';

// Commits made by git (the fixture), their parents read from the loose objects and checked against git.
let dir: string;
let gitDir: string;
const inDir = fixtureGit(() => dir);
const git = (...args: string[]) => inDir(args);
const parentsByGit = (sha: string) => git('rev-list', '--parents', '-n', '1', sha).split(' ').slice(1);
const objectFile = (sha: string) => join(gitDir, 'objects', sha.slice(0, 2), sha.slice(2));
const shas: Record<string, string> = {};

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'flotilla-loose-'));
  gitDir = join(dir, '.git');
  git('init', '--quiet', '--initial-branch=main');
  writeFileSync(join(dir, 'a'), 'a\n');
  git('add', 'a');
  git('commit', '--quiet', '-m', 'root');
  shas.root = git('rev-parse', 'HEAD');
  git('checkout', '--quiet', '-b', 'side');
  writeFileSync(join(dir, 'b'), 'b\n');
  git('add', 'b');
  git('commit', '--quiet', '-m', 'side');
  shas.side = git('rev-parse', 'HEAD');
  git('checkout', '--quiet', 'main');
  writeFileSync(join(dir, 'a'), 'a2\n');
  git('commit', '--quiet', '-am', 'child');
  shas.child = git('rev-parse', 'HEAD');
  git('merge', '--quiet', '--no-ff', '-m', 'merge', 'side');
  shas.merge = git('rev-parse', 'HEAD');
  shas.blob = git('rev-parse', 'HEAD:a');
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('readLooseCommitParents', () => {
  it("reads a loose commit's parents as git does: none, one, a merge's two in order", async () => {
    for (const name of ['root', 'child', 'merge']) {
      const sha = shas[name] as string;
      expect(await readLooseCommitParents(gitDir, sha)).toEqual(parentsByGit(sha));
    }
    expect(await readLooseCommitParents(gitDir, shas.merge as string)).toEqual([shas.child, shas.side]);
  });

  it('does not guess: another object, a file whose content is another commit, a bad id, a packed commit', async () => {
    expect(await readLooseCommitParents(gitDir, shas.blob as string)).toBeUndefined();
    expect(await readLooseCommitParents(gitDir, '../../etc/passwd')).toBeUndefined();
    expect(await readLooseCommitParents(gitDir, 'f'.repeat(40))).toBeUndefined();
    // The child's bytes under the root's name: the id is checked, not trusted.
    const bytes = readFileSync(objectFile(shas.child as string));
    expect(looseCommitParents(bytes, shas.root as string)).toBeUndefined();
    expect(looseCommitParents(bytes, shas.child as string)).toEqual([shas.root]);
    expect(
      looseCommitParents(deflateSync(Buffer.from('commit 3\0abc')), shas.root as string),
    ).toBeUndefined();
    expect(looseCommitParents(Buffer.from('not zlib'), shas.root as string)).toBeUndefined();
    // Once packed (gc), it is git's to answer.
    const copy = join(dir, 'child-object');
    copyFileSync(objectFile(shas.child as string), copy);
    git('gc', '--quiet', '--prune=now');
    expect(await readLooseCommitParents(gitDir, shas.child as string)).toBeUndefined();
    mkdirSync(join(gitDir, 'objects', (shas.child as string).slice(0, 2)), { recursive: true });
    copyFileSync(copy, objectFile(shas.child as string));
    expect(await readLooseCommitParents(gitDir, shas.child as string)).toEqual([shas.root]);
  });
});
