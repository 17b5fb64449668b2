import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  freePort,
  type GitServer,
  GitWorkdir,
  generateSshSigningKey,
  startGitServer,
} from '@flotilla/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GitError, isGitError, Mirror } from '../src/index.ts';

const name = (p: string) => `${p}-${randomBytes(4).toString('hex')}`;

let server: GitServer;
let cacheDir: string;
const cleanup: string[] = [];

beforeAll(async () => {
  server = await startGitServer();
  cacheDir = await mkdtemp(join(tmpdir(), 'flotilla-mirror-cache-'));
});

afterAll(async () => {
  await server?.stop();
  await Promise.all([cacheDir, ...cleanup].map((d) => rm(d, { recursive: true, force: true })));
});

async function repoWithClone(files: Record<string, string> = { 'README.md': '# test\n' }) {
  const repo = name('repo');
  const { url, head } = await server.createRepo(repo, { files });
  const work = await GitWorkdir.clone(url);
  cleanup.push(work.dir);
  return { repo, url, work, initial: head! };
}

describe('Mirror against git daemon', () => {
  it('stops a clone or fetch that brings more than maxFetchBytes, leaves no part-written pack and keeps the old head', async () => {
    const { url, work, initial } = await repoWithClone();
    // 6 MiB that do not compress: what a hostile remote sends to fill the disk, scaled down.
    const big = async (file: string) => {
      await writeFile(join(work.dir, file), randomBytes(6 * 1024 * 1024));
      const sha = await work.commit(`add ${file}`);
      await work.push();
      return sha;
    };
    const limit = 1024 * 1024;
    const packs = async (dir: string) => (await readdir(join(dir, 'objects', 'pack')).catch(() => [])).sort();

    // Incremental: a small repository fetched under the limit, then a push of 6 MiB.
    const mirror = new Mirror({ url, cacheDir, maxFetchBytes: limit });
    expect((await mirror.fetch('main')).head).toBe(initial);
    const before = await packs(mirror.dir);
    const bigHead = await big('blob.bin');
    const err = await mirror.fetch('main').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isGitError(err, 'git.fetch-too-large')).toBe(true);
    expect((err as GitError).disposition).toBe('wait');
    expect((err as GitError).message).toMatch(/more than the 1\.0 MiB one transfer may bring/);
    expect(await packs(mirror.dir)).toEqual(before);
    expect(await mirror.localHead('main')).toBe(initial);
    // The webhook path (one named commit) is bounded the same way.
    await expect(mirror.fetchCommit('main', bigHead)).rejects.toMatchObject({ code: 'git.fetch-too-large' });
    expect(await packs(mirror.dir)).toEqual(before);

    // A first clone of that repository: refused too, and no half cache is left behind.
    const fresh = await mkdtemp(join(tmpdir(), 'flotilla-mirror-limit-'));
    cleanup.push(fresh);
    const first = new Mirror({ url, cacheDir: fresh, maxFetchBytes: limit });
    await expect(first.fetch('main')).rejects.toMatchObject({ code: 'git.fetch-too-large' });
    expect(await readdir(fresh)).toEqual([]);

    // Under a limit that fits, the same fetch goes through.
    const roomy = new Mirror({ url, cacheDir, maxFetchBytes: 64 * 1024 * 1024 });
    expect((await roomy.fetch('main')).head).toBe(bigHead);
    await Promise.all([mirror.close(), first.close(), roomy.close()]);
  });

  it('reports three pushed commits oldest first with paths, authors and times', async () => {
    const { url, work, initial } = await repoWithClone();
    const mirror = new Mirror({ url, cacheDir });
    expect((await mirror.ensure()).cloned).toBe(true);
    expect((await mirror.fetch('main')).head).toBe(initial);

    const shas: string[] = [];
    for (let i = 1; i <= 3; i++) {
      await work.writeFile(`apps/app${i}/deploy.yaml`, `replicas: ${i}\n`);
      shas.push(
        await work.commit(`change ${i}\n\nbody ${i}`, {
          author: { name: `Dev ${i}`, email: `dev${i}@example.test` },
          date: new Date(Date.UTC(2024, 0, i, 12)),
        }),
      );
    }
    await work.push();

    expect(await mirror.remoteHead('main')).toBe(shas[2]);
    const fetched = await mirror.fetch('main');
    expect(fetched).toEqual({ head: shas[2], previous: initial, recloned: false });

    const commits = await mirror.commitsBetween(fetched.previous, fetched.head);
    expect(commits.map((c) => c.sha)).toEqual(shas);
    expect(commits.map((c) => c.changedPaths)).toEqual([
      ['apps/app1/deploy.yaml'],
      ['apps/app2/deploy.yaml'],
      ['apps/app3/deploy.yaml'],
    ]);
    expect(commits[0]!.author).toEqual({
      name: 'Dev 1',
      email: 'dev1@example.test',
      time: new Date(Date.UTC(2024, 0, 1, 12)),
    });
    expect(commits[1]!.parents).toEqual([shas[0]]);
    expect(commits[2]!.message).toBe('change 3\n\nbody 3');
    expect(commits[2]!.committer.name).toBe('Test Committer');
    expect(commits.every((c) => c.relevant)).toBe(true);

    // From the beginning of history: the initial commit comes first.
    const all = await mirror.commitsBetween(null, fetched.head);
    expect(all.map((c) => c.sha)).toEqual([initial, ...shas]);
    expect(all[0]!.changedPaths).toEqual(['README.md']);
    expect(await mirror.readFile(fetched.head, 'apps/app2/deploy.yaml')).toBe('replicas: 2\n');
    expect(await mirror.readFile(fetched.head, 'nope.yaml')).toBeNull();
    expect(await mirror.listFiles(fetched.head, 'apps')).toHaveLength(3);
  });

  it('filters changed paths to the paths of interest and flags commits touching none', async () => {
    const { url, work, initial } = await repoWithClone({
      'clusters/dev/app.yaml': 'a: 1\n',
      'docs/x.md': 'x\n',
    });
    await work.writeFile('docs/readme.md', 'docs only\n');
    const docs = await work.commit('docs');
    await work.writeFile('clusters/dev/app.yaml', 'a: 2\n');
    await work.writeFile('docs/other.md', 'and docs\n');
    const both = await work.commit('both');
    await work.removeFile('clusters/dev/app.yaml');
    await work.writeFile('attic/app.yaml', 'a: 2\n');
    const moved = await work.commit('move out of the watched directory');
    await work.writeFile('clusters/development/app.yaml', 'prefix is not a directory match\n');
    const sibling = await work.commit('sibling dir');
    await work.push();

    const mirror = new Mirror({ url, cacheDir });
    const { head } = await mirror.fetch('main');
    const commits = await mirror.commitsBetween(initial, head, { paths: ['./clusters/dev/'] });
    expect(commits.map((c) => [c.sha, c.relevant, c.changedPaths])).toEqual([
      [docs, false, []],
      [both, true, ['clusters/dev/app.yaml']],
      [moved, true, ['clusters/dev/app.yaml']],
      [sibling, false, []],
    ]);
  });

  it('detects a force-push through isAncestor', async () => {
    const { url, work, initial } = await repoWithClone();
    const mirror = new Mirror({ url, cacheDir });
    await work.writeFile('a.txt', '1\n');
    const first = await work.commit('first');
    await work.push();
    const before = await mirror.fetch('main');
    expect(await mirror.isAncestor(initial, before.head)).toBe(true);

    await work.resetHard(initial);
    await work.writeFile('a.txt', 'rewritten\n');
    const rewritten = await work.commit('rewritten');
    await work.forcePush();

    const after = await mirror.fetch('main');
    expect(after).toMatchObject({ head: rewritten, previous: first });
    expect(await mirror.isAncestor(first, rewritten)).toBe(false);
    expect(await mirror.isAncestor(initial, rewritten)).toBe(true);
    // A sha the cache has never seen is not an ancestor either.
    expect(await mirror.isAncestor('0123456789abcdef0123456789abcdef01234567', rewritten)).toBe(false);
  });

  it('tells first-parent history from merged side-branch commits and rewritten ones', async () => {
    const { url, work, initial } = await repoWithClone();
    const mirror = new Mirror({ url, cacheDir });
    await work.git('checkout', '-q', '-b', 'feature');
    await work.writeFile('side.txt', 'side\n');
    const side = await work.commit('side');
    await work.git('checkout', '-q', 'main');
    await work.writeFile('main.txt', 'main\n');
    const onMain = await work.commit('on main');
    await work.git('merge', '-q', '--no-ff', '-m', 'merge feature', 'feature');
    const merge = await work.head();
    await work.push();
    await mirror.fetch('main');
    for (const sha of [initial, onMain, merge])
      expect(await mirror.onFirstParentHistory(sha, 'main')).toBe(true);
    // Reachable from main, but only through the merge's second parent.
    expect(await mirror.isAncestor(side, merge)).toBe(true);
    expect(await mirror.onFirstParentHistory(side, 'main')).toBe(false);

    await work.resetHard(initial);
    await work.writeFile('a.txt', 'rewritten\n');
    await work.commit('rewritten');
    await work.forcePush();
    await mirror.fetch('main');
    // Still in the cache's objects, no longer on the branch.
    expect(await mirror.onFirstParentHistory(onMain, 'main')).toBe(false);
    expect(await mirror.onFirstParentHistory(initial, 'main')).toBe(true);
    expect(await mirror.onFirstParentHistory('main', 'main')).toBe(false);
    expect(await mirror.onFirstParentHistory('0123456789abcdef0123456789abcdef01234567', 'main')).toBe(false);
  });

  it('verifies ssh-signed, unsigned, untrusted and tampered commits', async () => {
    const { url, work } = await repoWithClone();
    const trusted = await generateSshSigningKey('release@example.test');
    const stranger = await generateSshSigningKey('stranger@example.test');
    cleanup.push(trusted.dir, stranger.dir);

    await work.useSigningKey(trusted);
    await work.writeFile('signed.txt', 'signed\n');
    const signed = await work.commit('signed');
    await work.writeFile('unsigned.txt', 'unsigned\n');
    const unsigned = await work.commit('unsigned', { sign: false });
    await work.useSigningKey(stranger);
    await work.writeFile('stranger.txt', 'stranger\n');
    const foreign = await work.commit('signed by an unknown key');
    // Same signature, different content: the object a man in the middle would serve.
    const object = await work.git('cat-file', 'commit', signed);
    const forgedFile = join(work.dir, '..', `${name('forged')}.txt`);
    await writeFile(forgedFile, `${object.replace(/\nsigned$/, '\nforged')}\n`);
    cleanup.push(forgedFile);
    const tampered = await work.git('hash-object', '-w', '-t', 'commit', forgedFile);
    await work.git('branch', 'tampered', tampered);
    await work.push();
    await work.git('push', '--quiet', 'origin', 'tampered');

    const mirror = new Mirror({ url, cacheDir });
    await mirror.fetch('main');
    await mirror.fetch('tampered');
    const opts = { allowedSignersFile: trusted.allowedSignersFile };
    expect(await mirror.verifyCommitSignature(signed, opts)).toMatchObject({
      status: 'good',
      format: 'ssh',
      signer: 'release@example.test',
    });
    expect((await mirror.verifyCommitSignature(signed, opts)).key).toMatch(/^SHA256:/);
    expect(await mirror.verifyCommitSignature(unsigned, opts)).toEqual({ status: 'unsigned', raw: 'N' });
    expect(await mirror.verifyCommitSignature(foreign, opts)).toMatchObject({
      status: 'untrusted',
      format: 'ssh',
    });
    // Without an allowed signers file a signature cannot be trusted, but it is not "unsigned".
    expect(await mirror.verifyCommitSignature(signed)).toMatchObject({ status: 'untrusted', format: 'ssh' });
    expect(await mirror.verifyCommitSignature(tampered, opts)).toMatchObject({
      status: 'bad',
      format: 'ssh',
    });
  });

  it('re-clones a cache with missing objects or a broken HEAD', async () => {
    const { url, work } = await repoWithClone();
    await work.writeFile('x.txt', 'x\n');
    const head = await work.commit('x');
    await work.push();

    const mirror = new Mirror({ url, cacheDir });
    await mirror.fetch('main');
    const packDir = join(mirror.dir, 'objects', 'pack');
    for (const f of await readdir(packDir)) await rm(join(packDir, f));
    const fresh = new Mirror({ url, cacheDir });
    expect(await fresh.ensure()).toEqual({ recloned: true, cloned: true });
    expect(await fresh.localHead('main')).toBe(head);
    expect((await fresh.commitsBetween(null, head)).length).toBe(2);

    await writeFile(join(mirror.dir, 'HEAD'), 'garbage\n');
    const again = new Mirror({ url, cacheDir });
    const fetched = await again.fetch('main');
    expect(fetched).toMatchObject({ head, recloned: true });
  });

  it('reports unreachable remotes, missing repos and missing branches as typed errors', async () => {
    const port = await freePort();
    const unreachable = new Mirror({ url: `git://127.0.0.1:${port}/nothing.git`, cacheDir });
    const err = await unreachable.remoteHead('main').catch((e: unknown) => e);
    expect(isGitError(err, 'git.unreachable')).toBe(true);
    expect((err as GitError).disposition).toBe('retry');
    await expect(unreachable.ensure()).rejects.toMatchObject({ code: 'git.unreachable' });

    const missing = new Mirror({ url: server.url(name('missing')), cacheDir });
    await expect(missing.fetch('main')).rejects.toMatchObject({
      code: 'git.repo-not-found',
      disposition: 'wait',
    });

    const { url } = await repoWithClone();
    const mirror = new Mirror({ url, cacheDir });
    expect(await mirror.remoteHead('no-such-branch')).toBeNull();
    await expect(mirror.fetch('no-such-branch')).rejects.toMatchObject({ code: 'git.ref-not-found' });
  });

  it('sends the token as a scoped header, never in the URL or the error', async () => {
    const seen: IncomingHttpHeaders[] = [];
    const http = createServer((req, res) => {
      seen.push(req.headers);
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="git"' });
      res.end();
    });
    const port = await freePort();
    await new Promise<void>((r) => http.listen(port, '127.0.0.1', r));
    try {
      const token = `tok_${randomBytes(12).toString('hex')}`;
      const mirror = new Mirror({ url: `http://bot:${token}@127.0.0.1:${port}/org/repo.git`, cacheDir });
      expect(mirror.url).toBe(`http://127.0.0.1:${port}/org/repo.git`);
      const err = (await mirror.remoteHead('main').catch((e: unknown) => e)) as GitError;
      expect(err).toBeInstanceOf(GitError);
      expect(err.code).toBe('git.auth-failed');
      expect(err.disposition).toBe('stall');
      expect(JSON.stringify({ m: err.message, d: err.details, s: err.stack })).not.toContain(token);
      expect(seen.length).toBeGreaterThan(0);
      expect(seen[0]!.authorization).toBe(`Basic ${Buffer.from(`bot:${token}`).toString('base64')}`);
      expect(seen.every((h) => !String(h.host).includes(token))).toBe(true);
    } finally {
      await new Promise((r) => http.close(r));
    }
  });
});
