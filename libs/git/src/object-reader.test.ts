import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureGit } from '../test/fixture-git.ts';
import { ObjectReader } from './object-reader.ts';

// One long-lived `git cat-file --batch-command` against a repository git made.
let dir: string;
let reader: ObjectReader;
let processes = 0;
const inDir = fixtureGit(() => dir);
const git = (...args: string[]) => inDir(args);
const big = Buffer.alloc(3 * 1024 * 1024 + 17, 'flotilla\n');
const ids: Record<string, string> = {};

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'flotilla-objects-'));
  git('init', '--quiet', '--initial-branch=main');
  writeFileSync(join(dir, 'a.yaml'), 'a: 1\n');
  writeFileSync(join(dir, 'big'), big);
  git('add', '.');
  git('commit', '--quiet', '-m', 'one');
  ids.commit = git('rev-parse', 'HEAD');
  ids.tree = git('rev-parse', 'HEAD^{tree}');
  ids.a = git('rev-parse', 'HEAD:a.yaml');
  ids.big = git('rev-parse', 'HEAD:big');
  // Those packed (as after a clone); what the next commit brings stays loose (as after a small fetch).
  git('repack', '-a', '-d', '-q');
  writeFileSync(join(dir, 'b.yaml'), 'b: 1\n');
  git('add', '.');
  git('commit', '--quiet', '-m', 'two');
  ids.b = git('rev-parse', 'HEAD:b.yaml');
  ids.next = git('rev-parse', 'HEAD');
  reader = new ObjectReader({
    gitDir: join(dir, '.git'),
    onProcess: () => {
      processes++;
    },
  });
});

afterAll(async () => {
  await reader.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('ObjectReader', () => {
  it('reads loose objects from their files, checked against their id: no process', async () => {
    const next = await reader.readObject(ids.next as string);
    expect(next?.type).toBe('commit');
    expect(next?.data.toString('utf8')).toContain(`parent ${ids.commit}\n`);
    expect(await reader.readObject(ids.b as string)).toEqual({ type: 'blob', data: Buffer.from('b: 1\n') });
    expect(processes).toBe(0);
    // A loose file whose content is not its name's object is not believed: git answers.
    const file = (oid: string) => join(dir, '.git', 'objects', oid.slice(0, 2), oid.slice(2));
    mkdirSync(dirname(file(ids.a as string)), { recursive: true });
    copyFileSync(file(ids.b as string), file(ids.a as string));
    expect(await reader.readObject(ids.a as string)).toEqual({ type: 'blob', data: Buffer.from('a: 1\n') });
    expect(processes).toBe(1);
    rmSync(file(ids.a as string));
  });

  it('reads packed blobs, trees and commits by id, many in flight at once, through one process', async () => {
    const [a, tree, commit, bigBlob] = await Promise.all([
      reader.readObject(ids.a as string),
      reader.readObject(ids.tree as string),
      reader.readObject(ids.commit as string),
      reader.readObject(ids.big as string),
    ]);
    expect(a).toEqual({ type: 'blob', data: Buffer.from('a: 1\n') });
    expect(tree?.type).toBe('tree');
    expect(commit?.type).toBe('commit');
    expect(commit?.data.toString('utf8')).toContain(`tree ${ids.tree}\n`);
    // Larger than a pipe's chunks: joined intact.
    expect(bigBlob?.data.equals(big)).toBe(true);
    expect(processes).toBe(1);
  });

  it('answers null or false for an object the repository lacks, and refuses what is not an object id', async () => {
    const absent = 'f'.repeat(40);
    expect(await reader.readObject(absent)).toBeNull();
    expect(await reader.hasObject(absent)).toBe(false);
    expect(await reader.hasObject(ids.a as string)).toBe(true);
    // A revision expression would name whatever the ref points at when it is read: refused.
    await expect(reader.readObject('HEAD:a.yaml')).rejects.toMatchObject({ code: 'git.invalid-argument' });
    // Still answering in order after all of that.
    expect((await reader.readObject(ids.a as string))?.data.toString()).toBe('a: 1\n');
  });

  it('starts a new process when the one it had died, and refuses requests once closed', async () => {
    const pid = reader.pid;
    expect(pid).toBeTypeOf('number');
    process.kill(pid as number, 'SIGKILL');
    // Whatever was asked while it died fails or is answered; the next request gets a new process.
    await reader.readObject(ids.a as string).catch(() => null);
    await expect
      .poll(async () => (await reader.readObject(ids.a as string).catch(() => null))?.data.toString())
      .toBe('a: 1\n');
    expect(reader.pid).not.toBe(pid);
    const other = new ObjectReader({ gitDir: join(dir, '.git') });
    expect(await other.hasObject(ids.tree as string)).toBe(true);
    await other.close();
    expect(other.pid).toBeUndefined();
    await expect(other.readObject(ids.a as string)).rejects.toMatchObject({ code: 'git.command-failed' });
  });

  it('refuses an object over its limit as soon as git names the size, and goes on reading the rest', async () => {
    const limited = new ObjectReader({ gitDir: join(dir, '.git'), maxObjectBytes: 1024 * 1024 });
    try {
      // Packed (3 MiB): its bytes are never held; the size is enough to refuse it.
      await expect(limited.readObject(ids.big as string)).rejects.toMatchObject({
        code: 'git.object-too-large',
        disposition: 'stall',
        details: { oid: ids.big, type: 'blob', size: big.byteLength, limit: 1024 * 1024 },
      });
      // A loose one too: left to git, which names its size.
      writeFileSync(join(dir, 'loose-big'), Buffer.alloc(2 * 1024 * 1024, 'x'));
      const looseBig = git('hash-object', '-w', 'loose-big');
      await expect(limited.readObject(looseBig)).rejects.toMatchObject({ code: 'git.object-too-large' });
      // Its size may still be asked for; objects under the limit are read as before.
      expect(await limited.hasObject(ids.big as string)).toBe(true);
      expect((await limited.readObject(ids.a as string))?.data.toString()).toBe('a: 1\n');
    } finally {
      await limited.close();
    }
  });
});
