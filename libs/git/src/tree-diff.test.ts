import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureGit, fixtureGitEnv } from '../test/fixture-git.ts';
import { ObjectReader } from './object-reader.ts';
import { TreeCopy, treeReader } from './tree-copy.ts';
import { diffTrees } from './tree-diff.ts';

// Trees git made, compared by diffTrees and checked against `git diff-tree -r`; a TreeCopy moved
// through them checked against `git ls-tree -r` (content, executable bit, link target).
let dir: string;
let scratch: string;
let reader: ObjectReader;
const inDir = fixtureGit(() => dir);
const git = (...args: string[]) => inDir(args);
const commits: Record<string, string> = {};
const put = (path: string, text: string) => {
  mkdirSync(dirname(join(dir, path)), { recursive: true });
  writeFileSync(join(dir, path), text);
};
const commit = (name: string) => {
  git('add', '--all');
  git('commit', '--quiet', '--allow-empty', '-m', name);
  commits[name] = git('rev-parse', 'HEAD');
};
const treeOf = (name: string) => git('rev-parse', `${commits[name]}^{tree}`);
const byGit = (a: string, b: string) =>
  git('diff-tree', '-r', '--name-only', '--no-renames', commits[a] as string, commits[b] as string)
    .split('\n')
    .filter(Boolean)
    .sort();

/** What is on disk below `root`: path → content, `link:` target, or `dir` for an empty directory. */
function onDisk(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    const names = readdirSync(join(root, rel));
    if (names.length === 0 && rel) out[rel] = 'dir';
    for (const n of names) {
      const path = rel ? `${rel}/${n}` : n;
      const st = lstatSync(join(root, path));
      if (st.isSymbolicLink()) out[path] = `link:${readlinkSync(join(root, path))}`;
      else if (st.isDirectory()) walk(path);
      else out[path] = `${st.mode & 0o100 ? 'x:' : ''}${readFileSync(join(root, path), 'utf8')}`;
    }
  };
  walk('');
  return out;
}

/** The same from git: what `read-tree -u` of the commit would leave (one `cat-file --batch` for the blobs). */
const expectedCache = new Map<string, Record<string, string>>();
function expected(name: string): Record<string, string> {
  const known = expectedCache.get(name);
  if (known) return known;
  const entries = git('ls-tree', '-r', '-z', commits[name] as string)
    .split('\0')
    .filter(Boolean)
    .map((line) => {
      const [meta, path] = line.split('\t') as [string, string];
      const [mode, , oid] = meta.split(' ') as [string, string, string];
      return { mode, oid, path };
    });
  const blobs = entries.filter((e) => e.mode !== '160000');
  const out = execFileSync('git', ['cat-file', '--batch'], {
    cwd: dir,
    env: fixtureGitEnv(dir),
    input: blobs.map((e) => e.oid).join('\n'),
  });
  const content = new Map<string, string>();
  let at = 0;
  for (const e of blobs) {
    const eol = out.indexOf(10, at);
    const size = Number(out.subarray(at, eol).toString('latin1').split(' ')[2]);
    content.set(e.oid, out.subarray(eol + 1, eol + 1 + size).toString('utf8'));
    at = eol + 1 + size + 1;
  }
  const files: Record<string, string> = {};
  for (const e of entries)
    files[e.path] =
      e.mode === '160000'
        ? 'dir'
        : `${e.mode === '120000' ? 'link:' : e.mode === '100755' ? 'x:' : ''}${content.get(e.oid)}`;
  expectedCache.set(name, files);
  return files;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'flotilla-trees-'));
  scratch = mkdtempSync(join(tmpdir(), 'flotilla-tree-copy-'));
  git('init', '--quiet', '--initial-branch=main');
  put('pipelines/a.yaml', 'a: 1\n');
  put('apps/a/dev/x.yaml', 'x: 1\n');
  put('apps/a/prod/x.yaml', 'x: prod\n');
  put('apps/b/dev/y.yaml', 'y: 1\n');
  put('apps/c', 'c is a file\n');
  put('tools/run.sh', 'echo run\n');
  commit('base');
  // Content changed, added, deleted, renamed (delete + add), mode changed.
  put('apps/a/dev/x.yaml', 'x: 2\n');
  put('apps/d/dev/z.yaml', 'z: 1\n');
  rmSync(join(dir, 'apps/b'), { recursive: true });
  git('mv', 'pipelines/a.yaml', 'pipelines/renamed.yaml');
  chmodSync(join(dir, 'tools/run.sh'), 0o755);
  commit('edits');
  // File ↔ directory, links.
  rmSync(join(dir, 'apps/c'));
  put('apps/c/dev/c.yaml', 'c: 1\n');
  rmSync(join(dir, 'apps/d'), { recursive: true });
  put('apps/d', 'd is a file now\n');
  symlinkSync('../a/dev/x.yaml', join(dir, 'apps/d-link'));
  rmSync(join(dir, 'tools/run.sh'));
  symlinkSync('elsewhere.sh', join(dir, 'tools/run.sh'));
  commit('types');
  // A submodule's gitlink (no .gitmodules needed for the tree entry; `add --all` would drop it).
  git('update-index', '--add', '--cacheinfo', `160000,${commits.base},vendor/sub`);
  git('commit', '--quiet', '-m', 'gitlink');
  commits.gitlink = git('rev-parse', 'HEAD');
  // More changes than a move writes synchronously (the thread pool's path).
  for (let i = 0; i < 40; i++) put(`bulk/${i % 4}/f${i}.yaml`, `i: ${i}\n`);
  chmodSync(join(dir, 'bulk/0/f0.yaml'), 0o755);
  git('add', 'bulk');
  git('commit', '--quiet', '-m', 'many');
  commits.many = git('rev-parse', 'HEAD');
  reader = new ObjectReader({ gitDir: join(dir, '.git') });
});

afterAll(async () => {
  await reader.close();
  rmSync(dir, { recursive: true, force: true });
  rmSync(scratch, { recursive: true, force: true });
});

describe('diffTrees', () => {
  const pairs: Array<[string, string]> = [
    ['base', 'edits'],
    ['edits', 'types'],
    ['types', 'gitlink'],
    ['base', 'gitlink'],
    ['gitlink', 'base'],
    ['edits', 'many'],
  ];
  it.each(pairs)('%s → %s: the paths git diff-tree -r names', async (a, b) => {
    const changes = await diffTrees(treeReader(reader), treeOf(a), treeOf(b));
    expect(changes.map((c) => c.path)).toEqual(byGit(a, b));
  });

  it('types each change: added, removed, mode and kind changes, and a file that became a directory', async () => {
    const edits = await diffTrees(treeReader(reader), treeOf('base'), treeOf('edits'));
    const run = edits.find((c) => c.path === 'tools/run.sh');
    expect([run?.before?.mode, run?.after?.mode]).toEqual(['100644', '100755']);
    expect(run?.before?.oid).toBe(run?.after?.oid);
    const types = await diffTrees(treeReader(reader), treeOf('edits'), treeOf('types'));
    const kinds = Object.fromEntries(types.map((c) => [c.path, [c.before?.kind, c.after?.kind]]));
    expect(kinds).toMatchObject({
      'apps/c': ['blob', undefined],
      'apps/c/dev/c.yaml': [undefined, 'blob'],
      'apps/d': [undefined, 'blob'],
      'apps/d/dev/z.yaml': ['blob', undefined],
      'apps/d-link': [undefined, 'link'],
      'tools/run.sh': ['blob', 'link'],
    });
    const sub = await diffTrees(treeReader(reader), treeOf('types'), treeOf('gitlink'));
    expect(sub).toEqual([
      { path: 'vendor/sub', after: expect.objectContaining({ kind: 'gitlink', oid: commits.base }) },
    ]);
  });

  it('reads only the subtrees whose ids differ', async () => {
    const read: string[] = [];
    const counting = treeReader(reader);
    await diffTrees(
      async (oid) => {
        read.push(oid);
        return counting(oid);
      },
      treeOf('base'),
      treeOf('edits'),
    );
    const unchanged = git('rev-parse', `${commits.base}:apps/a/prod`);
    expect(read).not.toContain(unchanged);
    expect(await diffTrees(treeReader(reader), treeOf('base'), treeOf('base'))).toEqual([]);
  });

  it('refuses a tree with an entry git would not check out', async () => {
    const blob = git('rev-parse', `${commits.base}:apps/c`);
    const evil = Buffer.concat([Buffer.from('100644 ..\0'), Buffer.from(blob, 'hex')]);
    const oid = execFileSync('git', ['hash-object', '-t', 'tree', '-w', '--literally', '--stdin'], {
      cwd: dir,
      env: fixtureGitEnv(dir),
      input: evil,
    })
      .toString()
      .trim();
    await expect(diffTrees(treeReader(reader), null, oid)).rejects.toMatchObject({
      code: 'git.invalid-argument',
    });
  });
});

describe('TreeCopy', () => {
  it('moved through every commit and back, holds exactly what git would check out', async () => {
    const copy = new TreeCopy(mkdtempSync(join(scratch, 'copy-')));
    for (const name of ['base', 'edits', 'types', 'gitlink', 'edits', 'many', 'base', 'many', 'gitlink']) {
      await copy.moveTo(reader, treeOf(name));
      expect(copy.tree).toBe(treeOf(name));
      expect(onDisk(copy.dir)).toEqual(expected(name));
    }
  });

  it('returns what changed, and writes again a file changed or deleted on disk since', async () => {
    const copy = new TreeCopy(mkdtempSync(join(scratch, 'copy-')));
    await copy.moveTo(reader, treeOf('base'));
    writeFileSync(join(copy.dir, 'apps/a/prod/x.yaml'), 'tampered: true\n');
    rmSync(join(copy.dir, 'apps/b/dev/y.yaml'));
    const changes = await copy.moveTo(reader, treeOf('edits'));
    expect(changes.map((c) => c.path)).toEqual(byGit('base', 'edits'));
    expect(onDisk(copy.dir)).toEqual(expected('edits'));
    writeFileSync(join(copy.dir, 'apps/a/prod/x.yaml'), 'again\n');
    expect(await copy.moveTo(reader, treeOf('edits'))).toEqual([]);
    expect(onDisk(copy.dir)).toEqual(expected('edits'));
  });
});
