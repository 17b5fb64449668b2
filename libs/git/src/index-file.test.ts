import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureGitEnv } from '../test/fixture-git.ts';
import { changedIndexPaths, parseIndexEntries } from './index-file.ts';

// Index files written by git (the fixture), read here and checked against what git says of them.
let dir: string;
const git = (args: string[], extra?: Record<string, string>) =>
  execFileSync('git', args, { cwd: dir, env: fixtureGitEnv(dir, extra) }).toString();
const write = (path: string, content: string) => {
  mkdirSync(dirname(join(dir, path)), { recursive: true });
  writeFileSync(join(dir, path), content);
};
/** The index of `rev` as the planner's kept trees get it: `read-tree --reset` into a file of its own. */
const indexOf = (rev: string, name: string) => {
  const file = join(dir, `${name}.index`);
  git(['read-tree', '--reset', rev], { GIT_INDEX_FILE: file });
  return readFileSync(file);
};
/** `git ls-files -s` as the parser's map: path → `<mode> <id>`. */
const lsFiles = (indexFile: string) =>
  new Map(
    git(['ls-files', '-s', '-z'], { GIT_INDEX_FILE: indexFile })
      .split('\0')
      .filter(Boolean)
      .map((l) => {
        const [meta = '', path = ''] = l.split('\t');
        const [mode, oid] = meta.split(' ');
        return [path, `${mode} ${oid}`] as [string, string];
      }),
  );
const revs: string[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'flotilla-index-'));
  git(['init', '--quiet', '--initial-branch=main']);
  write('pipelines/a.yaml', 'a: 1\n');
  write('apps/a/dev/x.yaml', 'x: 1\n');
  write('apps/b/dev/y.yaml', 'y: 1\n');
  write('apps/b/dev/z.yaml', 'z: 1\n');
  write('run.sh', 'echo\n');
  write('ünï côdé/ß.yaml', 's: 1\n');
  git(['add', '-A']);
  git(['commit', '--quiet', '-m', 'one']);
  revs.push(git(['rev-parse', 'HEAD']).trim());
  write('apps/a/dev/x.yaml', 'x: 2\n');
  rmSync(join(dir, 'apps/b/dev/y.yaml'));
  write('apps/c/prod/new.yaml', 'n: 1\n');
  git(['add', '-A']);
  git(['update-index', '--chmod=+x', 'run.sh']);
  git(['commit', '--quiet', '-m', 'two']);
  revs.push(git(['rev-parse', 'HEAD']).trim());
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('parseIndexEntries', () => {
  it('reads every entry of a version 2 index as git lists it', () => {
    const bytes = indexOf(revs[0] as string, 'one');
    expect(bytes.readUInt32BE(4)).toBe(2);
    const entries = parseIndexEntries(bytes, 20);
    expect(entries).toEqual(lsFiles(join(dir, 'one.index')));
    expect(entries?.has('ünï côdé/ß.yaml')).toBe(true);
  });

  it('reads version 3 (extended flags) and names longer than the 12-bit length field', () => {
    const file = join(dir, 'v3.index');
    git(['read-tree', '--reset', revs[0] as string], { GIT_INDEX_FILE: file });
    const long = Array.from({ length: 22 }, (_, i) => `${String(i).padStart(2, '0')}${'d'.repeat(198)}`).join(
      '/',
    );
    const blob = git(['hash-object', '-w', '--stdin'], {}).trim();
    git(['update-index', '--add', '--cacheinfo', `100644,${blob},${long}/f.yaml`], { GIT_INDEX_FILE: file });
    git(['update-index', '--skip-worktree', 'pipelines/a.yaml'], { GIT_INDEX_FILE: file });
    const bytes = readFileSync(file);
    expect(bytes.readUInt32BE(4)).toBe(3);
    const entries = parseIndexEntries(bytes, 20);
    expect(entries).toEqual(lsFiles(file));
    expect(entries?.has(`${long}/f.yaml`)).toBe(true);
  });

  it('does not guess: version 4, unmerged entries, truncated or foreign bytes are undefined', () => {
    const v4 = join(dir, 'v4.index');
    git(['read-tree', '--reset', revs[0] as string], { GIT_INDEX_FILE: v4 });
    git(['update-index', '--index-version', '4'], { GIT_INDEX_FILE: v4 });
    expect(parseIndexEntries(readFileSync(v4), 20)).toBeUndefined();

    const unmerged = join(dir, 'unmerged.index');
    const blob = git(['rev-parse', `${revs[0]}:pipelines/a.yaml`]).trim();
    execFileSync('git', ['update-index', '--index-info'], {
      cwd: dir,
      env: fixtureGitEnv(dir, { GIT_INDEX_FILE: unmerged }),
      input: `100644 ${blob} 1\tconflict.yaml\n100644 ${blob} 2\tconflict.yaml\n`,
    });
    expect(parseIndexEntries(readFileSync(unmerged), 20)).toBeUndefined();

    const good = indexOf(revs[0] as string, 'cut');
    expect(parseIndexEntries(good.subarray(0, 80), 20)).toBeUndefined();
    expect(parseIndexEntries(Buffer.from('PACK\0\0\0\x02\0\0\0\x01'), 20)).toBeUndefined();
    expect(parseIndexEntries(new Uint8Array(4), 20)).toBeUndefined();
  });
});

describe('changedIndexPaths', () => {
  it('is what `git diff-tree -r --name-only` says changed between two revisions', () => {
    const before = parseIndexEntries(indexOf(revs[0] as string, 'a'), 20);
    const after = parseIndexEntries(indexOf(revs[1] as string, 'b'), 20);
    if (!before || !after) throw new Error('fixture indexes unreadable');
    const diff = git([
      'diff-tree',
      '-r',
      '-z',
      '--name-only',
      '--no-renames',
      revs[0] as string,
      revs[1] as string,
    ])
      .split('\0')
      .filter(Boolean)
      .sort();
    // Content, removal, addition and a mode change alone.
    expect(diff).toEqual(['apps/a/dev/x.yaml', 'apps/b/dev/y.yaml', 'apps/c/prod/new.yaml', 'run.sh']);
    expect(changedIndexPaths(before, after)).toEqual(diff);
    expect(changedIndexPaths(after, before)).toEqual(diff);
    expect(changedIndexPaths(after, after)).toEqual([]);
  });
});
