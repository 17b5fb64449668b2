import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execGit, type GitServer, GitWorkdir, startGitServer } from '@flotilla/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigRepo } from '../src/config-repo.ts';

/** Every file under `dir`, repo-relative, with its content. */
async function filesOf(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (rel: string) => {
    for (const e of await readdir(join(dir, rel), { withFileTypes: true })) {
      const path = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(path);
      else out[path] = await readFile(join(dir, path), 'utf8');
    }
  };
  await walk('');
  return out;
}

/**
 * A config repo served by a git server, a clone to push from, and the planner's ConfigRepo over
 * it, opened and fetched after `history` (run on the clone) has pushed what the tests start from.
 */
function configRepoFixture(history: (work: GitWorkdir) => Promise<void> = async () => undefined) {
  const fx = {} as { git: GitServer; work: GitWorkdir; repo: ConfigRepo; workDir: string };
  beforeAll(async () => {
    fx.git = await startGitServer();
    await fx.git.createRepo('config', {
      files: { 'pipelines/a.yaml': 'a: 1\n', 'apps/a/dev/x.yaml': 'x: 1\n', 'apps/b/dev/y.yaml': 'y: 1\n' },
    });
    fx.work = await GitWorkdir.clone(fx.git.url('config'));
    await history(fx.work);
    fx.workDir = await mkdtemp(join(tmpdir(), 'config-repo-'));
    fx.repo = await ConfigRepo.open({
      url: fx.git.url('config'),
      branch: 'main',
      workDir: fx.workDir,
      author: { name: 'planner', email: 'planner@example.test' },
    });
    await fx.repo.fetch();
  });
  afterAll(async () => {
    await fx.work?.remove();
    await fx.git?.stop();
    await fx.repo?.close();
    if (fx.workDir) await rm(fx.workDir, { recursive: true, force: true });
  });
  return fx;
}

describe('ConfigRepo.checkout: trees kept between revisions', () => {
  const revs: string[] = [];
  const fx = configRepoFixture(async (work) => {
    revs.push(await work.head());
    await work.writeFile('apps/a/dev/x.yaml', 'x: 2\n');
    await work.removeFile('apps/b');
    revs.push(await work.commit('second'));
    await work.push();
  });

  it('moves a released tree to the next revision: changed files rewritten, removed ones gone', async () => {
    const first = await fx.repo.checkout(revs[0] as string);
    expect(await filesOf(first)).toEqual({
      'pipelines/a.yaml': 'a: 1\n',
      'apps/a/dev/x.yaml': 'x: 1\n',
      'apps/b/dev/y.yaml': 'y: 1\n',
    });
    await fx.repo.release(first);
    const second = await fx.repo.checkout(revs[1] as string);
    // The same directory, now exactly the second revision (apps/b and its directories gone).
    expect(second).toBe(first);
    expect(await filesOf(second)).toEqual({ 'pipelines/a.yaml': 'a: 1\n', 'apps/a/dev/x.yaml': 'x: 2\n' });
    expect(await readdir(join(second, 'apps'))).toEqual(['a']);
    await fx.repo.release(second);
  });

  it('writes again a file changed on disk since, and hands a busy tree to no one', async () => {
    const tree = await fx.repo.checkout(revs[1] as string);
    await writeFile(join(tree, 'apps/a/dev/x.yaml'), 'tampered: true\n');
    // Still held: the next checkout gets another directory, with the revision's content.
    const other = await fx.repo.checkout(revs[0] as string);
    expect(other).not.toBe(tree);
    expect(await readFile(join(other, 'apps/a/dev/x.yaml'), 'utf8')).toBe('x: 1\n');
    await fx.repo.release(other);
    await fx.repo.release(tree);
    const again = await fx.repo.checkout(revs[1] as string);
    expect(await readFile(join(again, 'apps/a/dev/x.yaml'), 'utf8')).toBe('x: 2\n');
    await fx.repo.release(again);
  });

  it('removes a tree beyond the kept ones when it is released', async () => {
    const held = await Promise.all(revs.concat(revs).map((r) => fx.repo.checkout(r)));
    expect(new Set(held).size).toBe(4);
    for (const t of held) await fx.repo.release(t);
    const left = await readdir(join(fx.workDir, 'render'));
    expect(left).toHaveLength(2);
  });

  it('refuses an unknown revision with a typed error', async () => {
    await expect(fx.repo.checkout('0'.repeat(40))).rejects.toMatchObject({ code: 'planner.extract-failed' });
  });
});

describe('ConfigRepo: a reported commit fetched by id, and what changed between two trees', () => {
  let first: string;
  let next: string;
  const fx = configRepoFixture(async (work) => {
    first = await work.head();
  });

  it('fetches a pushed commit by its id (the branch follows), an older one through the branch, and refuses an unknown one', async () => {
    await fx.work.writeFile('apps/a/dev/x.yaml', 'x: 2\n');
    next = await fx.work.commit('next');
    await fx.work.push();
    expect(await fx.repo.fetchReported(next)).toBe(true);
    expect(fx.repo.mirror.lastFetched('main')).toBe(next);
    expect(await fx.repo.readFile(next, 'apps/a/dev/x.yaml')).toBe('x: 2\n');
    // Not a fast-forward of the mirror's branch: asked through the branch, which has it.
    expect(await fx.repo.fetchReported(first)).toBe(true);
    expect(await fx.repo.mirror.localHead('main')).toBe(next);
    expect(await fx.repo.fetchReported('0123456789abcdef0123456789abcdef01234567')).toBe(false);
  });

  it('tells what changed from the trees: what git diff-tree says, and no git process once the object reader runs', async () => {
    const base = await fx.repo.checkout(first);
    await fx.repo.release(base);
    await fx.work.writeFile('apps/b/dev/y.yaml', 'y: 2\n');
    await fx.work.writeFile('apps/c/prod/z.yaml', 'z: 1\n');
    await fx.work.removeFile('pipelines/a.yaml');
    const head = await fx.work.commit('third');
    await fx.work.push();
    expect(await fx.repo.fetchReported(head)).toBe(true);
    // The parents of the commit just fetched, read through the object reader.
    expect((await fx.repo.mirror.commit(head))?.parents).toEqual([next]);
    const processes = fx.repo.mirror.stats.processes;
    const { dir, changed } = await fx.repo.checkoutChanges(head, first);
    expect(fx.repo.mirror.stats.processes).toBe(processes);
    const byGit = async (a: string, b: string) =>
      (await execGit(['-C', fx.git.path('config'), 'diff-tree', '-r', '--name-only', a, b]))
        .split('\n')
        .filter(Boolean)
        .sort();
    expect(changed).toEqual(await byGit(first, head));
    expect(changed).toEqual([
      'apps/a/dev/x.yaml',
      'apps/b/dev/y.yaml',
      'apps/c/prod/z.yaml',
      'pipelines/a.yaml',
    ]);
    expect(await filesOf(dir)).toEqual({
      'apps/a/dev/x.yaml': 'x: 2\n',
      'apps/b/dev/y.yaml': 'y: 2\n',
      'apps/c/prod/z.yaml': 'z: 1\n',
    });
    // Since a revision no kept tree holds: its tree against the new one, the same answer.
    const other = await fx.repo.checkoutChanges(next, head);
    expect(other.changed).toEqual(await byGit(head, next));
    await fx.repo.release(other.dir);
    await fx.repo.release(dir);
    expect(fx.repo.mirror.stats.processes).toBe(processes);
    // A revision the mirror does not have: unknown, for git to answer.
    const unknown = await fx.repo.checkoutChanges(first, 'f'.repeat(40));
    expect(unknown.changed).toBeNull();
    await fx.repo.release(unknown.dir);
  });
});

describe('ConfigRepo.extract: the tree as committed', () => {
  let rev = '';
  const fx = configRepoFixture(async (work) => {
    // A hostile repo's attributes: hide one file from archives and rewrite another on the way out.
    await work.writeFile(
      '.gitattributes',
      'apps/a/dev/x.yaml export-ignore\napps/b/dev/y.yaml export-subst\n',
    );
    await work.writeFile('apps/b/dev/y.yaml', 'y: "$Format:%H %an$"\n');
    rev = await work.commit('attributes that would change what is extracted');
    await work.push();
  });

  it('ignores export-ignore and export-subst: every file, byte for byte, as checkout has it', async () => {
    for (const from of ['mirror', 'workspace'] as const) {
      if (from === 'workspace') await fx.repo.workspace.pull();
      const dir = await fx.repo.extract(rev, { from });
      try {
        const files = await filesOf(dir);
        expect(files['apps/a/dev/x.yaml'], from).toBe('x: 1\n');
        expect(files['apps/b/dev/y.yaml'], from).toBe('y: "$Format:%H %an$"\n');
        const tree = await fx.repo.checkout(rev);
        try {
          expect(files).toEqual(await filesOf(tree));
        } finally {
          await fx.repo.release(tree);
        }
      } finally {
        await fx.repo.release(dir);
      }
    }
  });
});
