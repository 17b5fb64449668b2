import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execGit, type GitServer, GitWorkdir, startGitServer } from '@flotilla/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_NOTES_REF, GitError, Mirror, Workspace } from '../src/index.ts';

const name = (p: string) => `${p}-${randomBytes(4).toString('hex')}`;
const bot = { name: 'Flotilla Bot', email: 'bot@flotilla.test' };

let server: GitServer;
let scratch: string;

beforeAll(async () => {
  server = await startGitServer();
  scratch = await mkdtemp(join(tmpdir(), 'flotilla-ws-'));
});

afterAll(async () => {
  await server?.stop();
  await rm(scratch, { recursive: true, force: true });
});

const open = (url: string, extra: Partial<Parameters<typeof Workspace.open>[0]> = {}) =>
  Workspace.open({ url, branch: 'main', dir: join(scratch, name('ws')), author: bot, ...extra });

describe('Workspace against git daemon', () => {
  it('a pull that would bring more than maxFetchBytes is stopped, and the work tree stays where it was', async () => {
    const { url, head } = await server.createRepo(name('config'), { files: { 'a.yaml': 'a: 1\n' } });
    const ws = await open(url, { maxFetchBytes: 1024 * 1024 });
    const other = await GitWorkdir.clone(url);
    await writeFile(join(other.dir, 'blob.bin'), randomBytes(4 * 1024 * 1024));
    await other.commit('a blob of 4 MiB');
    await other.push();
    await expect(ws.pull()).rejects.toMatchObject({ code: 'git.fetch-too-large' });
    expect(await ws.head()).toBe(head);
    expect(await ws.readFile('blob.bin')).toBeNull();
    await rm(other.dir, { recursive: true, force: true });
  });

  it('commits with trailers, pushes, and finds commits by trailer', async () => {
    const { url } = await server.createRepo(name('config'), {
      files: { 'clusters/dev/app.yaml': 'image: a:1\n' },
    });
    const ws = await open(url);
    expect(await ws.readFile('clusters/dev/app.yaml')).toBe('image: a:1\n');
    expect(await ws.readFile('missing.yaml')).toBeNull();
    await expect(ws.writeFile('../escape.txt', 'x')).rejects.toMatchObject({ code: 'git.invalid-argument' });

    await ws.writeFile('clusters/dev/app.yaml', 'image: a:2\n');
    const sha = await ws.commit({
      message: 'dev: update app to a:2',
      trailers: {
        'Flotilla-Event': 'evt-123',
        'Flotilla-Image': 'a:2@sha256:abc',
        'Flotilla-Policy': 'semver',
      },
      author: { name: 'Alice', email: 'alice@example.test' },
      date: new Date(Date.UTC(2024, 5, 1)),
    });
    expect(sha).toMatch(/^[0-9a-f]{40}$/);
    // Nothing changed: no empty commit.
    expect(await ws.commit({ message: 'noop' })).toBeNull();
    expect(await ws.unpushedCount()).toBe(1);
    const pushed = await ws.push();
    expect(pushed).toEqual({ head: sha, rebases: 0 });
    expect(await ws.unpushedCount()).toBe(0);

    expect(await ws.trailers(sha!)).toEqual([
      ['Flotilla-Event', 'evt-123'],
      ['Flotilla-Image', 'a:2@sha256:abc'],
      ['Flotilla-Policy', 'semver'],
    ]);
    expect(await ws.findCommitByTrailer('Flotilla-Event', 'evt-123')).toBe(sha);
    expect(await ws.findCommitByTrailer('Flotilla-Event', 'evt-12')).toBeNull();
    expect(await ws.findCommitByTrailer('Flotilla-Image', 'evt-123')).toBeNull();

    // What the watcher sees: author, committer, message with trailers.
    const mirror = new Mirror({ url, cacheDir: join(scratch, 'cache') });
    const { head, previous } = await mirror.fetch('main');
    const [c] = await mirror.commitsBetween(`${head}~1`, head);
    expect(previous).toBeNull();
    expect(c).toMatchObject({
      sha,
      author: { name: 'Alice', email: 'alice@example.test', time: new Date(Date.UTC(2024, 5, 1)) },
      committer: { name: 'Flotilla Bot', email: 'bot@flotilla.test' },
      message:
        'dev: update app to a:2\n\nFlotilla-Event: evt-123\nFlotilla-Image: a:2@sha256:abc\nFlotilla-Policy: semver',
      changedPaths: ['clusters/dev/app.yaml'],
    });

    await expect(ws.commit({ message: 'bad', trailers: { 'Bad Key': 'x' } })).rejects.toBeInstanceOf(
      GitError,
    );
    await expect(ws.commit({ message: 'bad', trailers: { Key: 'two\nlines' } })).rejects.toMatchObject({
      code: 'git.invalid-argument',
    });
  });

  it('resets to the remote: discards writes and unpushed commits, takes other writers, one ls-remote when in step', async () => {
    const { url } = await server.createRepo(name('reset'), { files: { 'a.yaml': 'a: 1\n' } });
    const ws = await open(url);
    const other = await open(url);
    await ws.resetToRemote();
    const cost = async (fn: () => Promise<unknown>) => {
      const before = ws.stats.processes;
      await fn();
      return ws.stats.processes - before;
    };
    // In step with the remote and nothing written since: only the remote head is asked for.
    expect(await cost(() => ws.resetToRemote())).toBe(1);

    await ws.writeFile('a.yaml', 'a: 2\n');
    await ws.writeFile('new/b.yaml', 'b: 1\n');
    await ws.resetToRemote();
    expect(await ws.readFile('a.yaml')).toBe('a: 1\n');
    expect(await ws.readFile('new/b.yaml')).toBeNull();

    // A change to tracked files costs one `git commit --all`; the head is read from the ref files.
    await ws.writeFile('a.yaml', 'a: 3\n');
    let sha: string | null = null;
    expect(
      await cost(async () => {
        sha = await ws.commit({ message: 'three' });
      }),
    ).toBe(1);
    expect(sha).toBe(await execGit(['rev-parse', 'HEAD'], { cwd: ws.dir }));
    // A new file needs `git add --all` first; a removed one does not.
    await ws.writeFile('c.yaml', 'c: 1\n');
    await ws.writeFile('a.yaml', 'a: 3.1\n');
    expect(await cost(() => ws.commit({ message: 'new file' }))).toBe(2);
    await ws.removeFile('c.yaml');
    await ws.writeFile('a.yaml', 'a: 3.2\n');
    expect(await cost(() => ws.commit({ message: 'removed file' }))).toBe(1);
    expect(await execGit(['ls-tree', '--name-only', 'HEAD'], { cwd: ws.dir })).toBe('a.yaml');
    expect(await execGit(['show', 'HEAD:a.yaml'], { cwd: ws.dir })).toBe('a: 3.2');
    expect(await execGit(['status', '--porcelain'], { cwd: ws.dir })).toBe('');
    sha = await ws.head();
    await ws.push();
    expect(await cost(() => ws.resetToRemote())).toBe(1);
    expect(await ws.head()).toBe(sha);

    // Another writer's push is taken.
    await other.resetToRemote();
    await other.writeFile('a.yaml', 'a: 4\n');
    const theirs = await other.commit({ message: 'four' });
    await other.push();
    await ws.resetToRemote();
    expect(await ws.head()).toBe(theirs);
    expect(await ws.readFile('a.yaml')).toBe('a: 4\n');

    // A local commit that was never pushed is dropped.
    await ws.writeFile('a.yaml', 'a: 5\n');
    expect(await ws.commit({ message: 'five' })).not.toBeNull();
    await ws.resetToRemote();
    expect(await ws.head()).toBe(theirs);
    expect(await ws.readFile('a.yaml')).toBe('a: 4\n');

    // A file changed behind the workspace's back (not through it) is not trusted away: reopening
    // forgets what was known, and the first reset is a full one.
    await writeFile(join(ws.dir, 'a.yaml'), 'a: tampered\n');
    const reopened = await Workspace.open({ url, branch: 'main', dir: ws.dir, author: bot });
    await reopened.resetToRemote();
    expect(await reopened.readFile('a.yaml')).toBe('a: 4\n');
  });

  it('a commit git refuses is an error, not "nothing to commit", and its writes are not taken for committed', async () => {
    const { url } = await server.createRepo(name('refused'), { files: { 'a.yaml': 'a: 1\n' } });
    const ws = await open(url);
    await ws.resetToRemote();
    // A hook `--no-verify` does not skip (one a template or core.hooksPath may bring) refuses the
    // commit with exit 1, as "nothing to commit" does; the change is to a tracked file only.
    const hook = join(ws.dir, '.git', 'hooks', 'prepare-commit-msg');
    await writeFile(hook, '#!/bin/sh\nexit 1\n', { mode: 0o755 });
    await ws.writeFile('a.yaml', 'a: 2\n');
    await expect(ws.commit({ message: 'two' })).rejects.toMatchObject({ code: 'git.command-failed' });
    // The work tree is not HEAD's: the next reset to the remote really resets.
    await ws.resetToRemote();
    expect(await ws.readFile('a.yaml')).toBe('a: 1\n');
    await rm(hook);
    await ws.writeFile('a.yaml', 'a: 3\n');
    expect(await ws.commit({ message: 'three' })).not.toBeNull();
    expect(await execGit(['show', 'HEAD:a.yaml'], { cwd: ws.dir })).toBe('a: 3');
  });

  it('trusts the head it pushed without asking the remote, and a push tells when that was wrong', async () => {
    const { url } = await server.createRepo(name('trust'), { files: { 'a.yaml': 'a: 1\n' } });
    const ws = await open(url);
    const other = await open(url);
    const cost = async (fn: () => Promise<unknown>) => {
      const before = ws.stats.processes;
      await fn();
      return ws.stats.processes - before;
    };
    // Freshly opened, the remote head is unknown: it is asked for.
    expect(await ws.resetToRemote({ trustKnownHead: true })).toEqual({ verified: true });
    await ws.writeFile('a.yaml', 'a: 2\n');
    await ws.commit({ message: 'two' });
    const { head } = await ws.push();
    // Its own push is the remote head as far as it knows: no process.
    let answer: { verified: boolean } | undefined;
    expect(
      await cost(async () => {
        answer = await ws.resetToRemote({ trustKnownHead: true });
      }),
    ).toBe(0);
    expect(answer).toEqual({ verified: false });
    expect(await ws.remoteHead()).toBe(head);

    // Another writer pushes: the trusted head is stale, and only a push (or remoteHead) can tell.
    await other.resetToRemote();
    await other.writeFile('b.yaml', 'b: 1\n');
    await other.commit({ message: 'theirs' });
    const theirs = (await other.push()).head;
    expect(await ws.resetToRemote({ trustKnownHead: true })).toEqual({ verified: false });
    await ws.writeFile('a.yaml', 'a: 3\n');
    await ws.commit({ message: 'three' });
    await expect(ws.push({ retries: 0 })).rejects.toMatchObject({ code: 'git.non-fast-forward' });
    // The rejected push forgot the believed head: the next reset asks, and takes theirs.
    expect(await ws.resetToRemote({ trustKnownHead: true })).toEqual({ verified: true });
    expect(await ws.head()).toBe(theirs);
    expect(await ws.readFile('a.yaml')).toBe('a: 2\n');
    // Written to since: not trusted, whatever the head.
    await ws.writeFile('a.yaml', 'a: 4\n');
    expect(await ws.resetToRemote({ trustKnownHead: true })).toEqual({ verified: true });
    expect(await ws.readFile('a.yaml')).toBe('a: 2\n');
    // Told to forget: not trusted either.
    ws.forgetRemoteHead();
    expect(await ws.resetToRemote({ trustKnownHead: true })).toEqual({ verified: true });
  });

  it('finds commits by trailer from its index as a scan of the history does, without git once indexed', async () => {
    const { url } = await server.createRepo(name('index'), { files: { 'a.yaml': 'a: 0\n' } });
    const ws = await open(url);
    const other = await open(url);
    const KEY = 'Flotilla-Event';
    const cost = async <T>(fn: () => Promise<T>): Promise<[T, number]> => {
      const before = ws.stats.processes;
      const r = await fn();
      return [r, ws.stats.processes - before];
    };
    // The scan the index replaces (`maxCount` keeps to it): the two must agree on every question.
    const agree = async (values: string[]) => {
      for (const v of values)
        expect(await ws.findCommitByTrailer(KEY, v), v).toBe(
          await ws.findCommitByTrailer(KEY, v, { maxCount: 1000 }),
        );
    };
    const change = async (w: Workspace, n: number, value: string) => {
      await w.writeFile(`f-${n}.yaml`, `n: ${n}\n`);
      return await w.commit({ message: `change ${n}`, trailers: { [KEY]: value, 'Flotilla-Epoch': '1' } });
    };

    // The first question about a key scans the history once.
    expect((await cost(() => ws.findCommitByTrailer(KEY, 'e1')))[1]).toBe(1);
    const e1 = await change(ws, 1, 'e1');
    await ws.push();
    // Its own commits are indexed as it makes them: no git process to find them, or not.
    expect(await cost(() => ws.findCommitByTrailer(KEY, 'e1'))).toEqual([e1, 0]);
    expect(await cost(() => ws.findCommitByTrailer(KEY, 'e2'))).toEqual([null, 0]);
    // Key names are matched as git matches them: case-insensitively.
    expect(await ws.findCommitByTrailer('flotilla-event', 'e1')).toBe(e1);

    // Another writer's commits arrive with a reset: one `git log` of what joined.
    await other.resetToRemote();
    const e2 = await change(other, 2, 'e2');
    await other.push();
    await ws.resetToRemote();
    expect(await cost(() => ws.findCommitByTrailer(KEY, 'e2'))).toEqual([e2, 1]);
    await agree(['e1', 'e2', 'e3']);

    // A local commit dropped by a reset is not found any more.
    await change(ws, 3, 'e3');
    expect(await ws.findCommitByTrailer(KEY, 'e3')).not.toBeNull();
    await ws.resetToRemote();
    expect(await ws.findCommitByTrailer(KEY, 'e3')).toBeNull();
    await agree(['e1', 'e2', 'e3']);

    // Rebased past another writer's push: found as rewritten.
    await other.resetToRemote();
    await change(other, 4, 'e4');
    await other.push();
    await change(ws, 5, 'e5');
    const pushed = await ws.push();
    expect(pushed.rebases).toBe(1);
    expect(await ws.findCommitByTrailer(KEY, 'e5')).toBe(pushed.head);
    await agree(['e1', 'e2', 'e3', 'e4', 'e5']);

    // A commit written by someone else with the same key as an earlier one: the newest answers.
    await other.resetToRemote();
    const again = await change(other, 6, 'e1');
    await other.push();
    await ws.resetToRemote();
    expect(await ws.findCommitByTrailer(KEY, 'e1')).toBe(again);
    await agree(['e1', 'e4', 'e5', 'e6']);

    // A restart knows nothing: the first question scans again.
    const reopened = await Workspace.open({ url, branch: 'main', dir: ws.dir, author: bot });
    expect(await reopened.findCommitByTrailer(KEY, 'e5')).toBe(pushed.head);
  });

  it('rebases and retries when two writers push concurrently', async () => {
    const repo = name('race');
    const { url } = await server.createRepo(repo, { files: { 'README.md': 'race\n' } });
    const a = await open(url);
    const b = await open(url);
    await a.writeFile('a.txt', 'from a\n');
    await b.writeFile('b.txt', 'from b\n');
    const [ca, cb] = await Promise.all([
      a.commit({ message: 'a', trailers: { 'Flotilla-Event': 'evt-a' } }),
      b.commit({ message: 'b', trailers: { 'Flotilla-Event': 'evt-b' } }),
    ]);
    expect(ca).not.toBe(cb);
    const results = await Promise.all([a.push(), b.push()]);
    // Exactly one of them had to rebase (both may have, if they raced twice; at least one did).
    expect(results.reduce((n, r) => n + r.rebases, 0)).toBeGreaterThanOrEqual(1);

    const check = await open(url);
    expect(await check.readFile('a.txt')).toBe('from a\n');
    expect(await check.readFile('b.txt')).toBe('from b\n');
    expect(await check.findCommitByTrailer('Flotilla-Event', 'evt-a')).not.toBeNull();
    expect(await check.findCommitByTrailer('Flotilla-Event', 'evt-b')).not.toBeNull();
    expect(results.map((r) => r.head)).toContain(await check.head());
    expect(await execGit(['rev-list', '--count', 'main'], { cwd: server.path(repo) })).toBe('3');
  });

  it('gives up with a typed error after the retry budget and on conflicting rebases', async () => {
    const { url } = await server.createRepo(name('conflict'), { files: { 'state.txt': 'v0\n' } });
    const a = await open(url);
    const b = await open(url);
    await a.writeFile('state.txt', 'v1 from a\n');
    await a.commit({ message: 'a' });
    await a.push();
    await b.writeFile('state.txt', 'v1 from b\n');
    await b.commit({ message: 'b' });
    const err = await b.push().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'git.rebase-conflict', disposition: 'stall' });
    // The local commit is intact after the aborted rebase; resetToRemote gives the remote state back.
    expect(await b.readFile('state.txt')).toBe('v1 from b\n');
    await b.resetToRemote();
    expect(await b.readFile('state.txt')).toBe('v1 from a\n');

    await b.writeFile('other.txt', 'x\n');
    await b.commit({ message: 'b2' });
    await a.writeFile('more.txt', 'y\n');
    await a.commit({ message: 'a2' });
    await a.push();
    await expect(b.push({ retries: 0 })).rejects.toMatchObject({
      code: 'git.non-fast-forward',
      disposition: 'retry',
    });
  });

  it('starts on an empty repository and keeps unpushed commits when reopened', async () => {
    const repo = name('audit');
    const { url } = await server.createRepo(repo);
    const dir = join(scratch, name('audit-ws'));
    const ws = await Workspace.open({ url, branch: 'main', dir, author: bot, fsync: true });
    expect(await ws.head()).toBeNull();
    expect(await ws.findCommitByTrailer('Flotilla-Batch', '1')).toBeNull();
    // Reopening before the first commit works too.
    expect(await (await Workspace.open({ url, branch: 'main', dir, author: bot })).head()).toBeNull();
    await ws.appendFile('2024/06/01.jsonl', '{"n":1}\n');
    const first = await ws.commit({ message: 'audit: 1 record', trailers: { 'Flotilla-Batch': '1' } });
    await ws.appendFile('2024/06/01.jsonl', '{"n":2}\n');
    const second = await ws.commit({ message: 'audit: 1 record', trailers: { 'Flotilla-Batch': '2' } });

    // A restart before the push: the same directory still holds both commits.
    const reopened = await Workspace.open({ url, branch: 'main', dir, author: bot });
    expect(await reopened.head()).toBe(second);
    expect(await reopened.unpushedCount()).toBe(2);
    expect(await reopened.findCommitByTrailer('Flotilla-Batch', '1')).toBe(first);
    await reopened.push();
    const clone = await GitWorkdir.clone(url);
    expect(await clone.head()).toBe(second);
    await clone.remove();
  });

  it('adds, reads, pushes and merges git notes', async () => {
    const repo = name('notes');
    const { url, head } = await server.createRepo(repo, { files: { 'app.yaml': 'x: 1\n' } });
    const a = await open(url);
    const b = await open(url);
    expect(await a.readNote(head!)).toBeNull();
    await a.addNote(head!, 'cluster=dev result=applied');
    await a.addNote(head!, 'cluster=test result=applied', { mode: 'append' });
    expect(await a.readNote(head!)).toBe('cluster=dev result=applied\n\ncluster=test result=applied');
    await a.pushNotes();

    // b writes a note on the same commit without having fetched a's: the push merges.
    await b.addNote(head!, 'cluster=uat result=applied');
    await b.pushNotes();
    await a.fetchNotes();
    const merged = await a.readNote(head!);
    expect(merged).toContain('cluster=dev result=applied');
    expect(merged).toContain('cluster=test result=applied');
    expect(merged).toContain('cluster=uat result=applied');

    // Overwrite replaces, and a custom ref is separate.
    await a.addNote(head!, '{"deployed":["dev"]}', { ref: 'refs/notes/custom' });
    await a.addNote(head!, '{"deployed":["dev","test"]}', { ref: 'refs/notes/custom' });
    expect(await a.readNote(head!, { ref: 'refs/notes/custom' })).toBe('{"deployed":["dev","test"]}');
    await a.pushNotes({ ref: 'refs/notes/custom' });
    const c = await open(url);
    await c.fetchNotes({ ref: 'refs/notes/custom' });
    expect(await c.readNote(head!, { ref: 'refs/notes/custom' })).toBe('{"deployed":["dev","test"]}');
    // The server's notes ref holds all three writers' lines.
    const onServer = await execGit(['notes', `--ref=${DEFAULT_NOTES_REF}`, 'show', head!], {
      cwd: server.path(repo),
    });
    expect(onServer.split('\n').filter(Boolean).sort()).toEqual([
      'cluster=dev result=applied',
      'cluster=test result=applied',
      'cluster=uat result=applied',
    ]);
  });
});
