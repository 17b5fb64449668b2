import { lstatSync, mkdirSync, rmdirSync, rmSync, type Stats, symlinkSync, writeFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Semaphore } from '@flotilla/async';
import { GitError } from './errors.ts';
import type { ObjectReader } from './object-reader.ts';
import { diffTrees, type ReadTree, type TreeChange } from './tree-diff.ts';
import { MalformedObjectError, parseTree, type TreeEntry } from './tree-objects.ts';

/** Files written (blobs read) at once: enough to keep the object reader's pipe busy. */
const WRITES_AT_ONCE = 16;
/**
 * Up to this many changes are written synchronously: each step of an asynchronous write (open,
 * write, close) waits for the thread pool, which on a loaded machine costs more than the write
 * of a few small files. A checkout of a whole tree goes through the pool, not holding the event loop.
 */
const SYNC_CHANGES = 32;

/** What a file looked like right after we wrote it, to tell whether anything changed it since. */
interface Written {
  entry: TreeEntry;
  ino: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  mode: number;
}

/** Trees kept parsed by id (a tree's id is its content: never stale), at most this many. */
const CACHED_TREES = 8192;

/**
 * Parsed trees by id, shared by the reads of one repository: comparing a revision with the one
 * before reads the older side from here (it was read when that revision was checked out).
 */
export class TreeCache {
  private readonly trees = new Map<string, TreeEntry[]>();

  get(oid: string): TreeEntry[] | undefined {
    const hit = this.trees.get(oid);
    if (hit) {
      // Used last: dropped last.
      this.trees.delete(oid);
      this.trees.set(oid, hit);
    }
    return hit;
  }

  set(oid: string, entries: TreeEntry[]): void {
    this.trees.set(oid, entries);
    if (this.trees.size > CACHED_TREES) this.trees.delete(this.trees.keys().next().value as string);
  }
}

/** The entries of tree `oid` read through `reader` (and kept in `cache`, when given). */
export function treeReader(reader: ObjectReader, cache?: TreeCache): ReadTree {
  return async (oid) => {
    const hit = cache?.get(oid);
    if (hit) return hit;
    const entries = await readTree(reader, oid);
    cache?.set(oid, entries);
    return entries;
  };
}

async function readTree(reader: ObjectReader, oid: string): Promise<TreeEntry[]> {
  const o = await reader.readObject(oid);
  if (o?.type !== 'tree') throw new GitError('git.corrupt-cache', `tree ${oid} is missing`);
  try {
    return parseTree(o.data, oid.length === 64 ? 32 : 20);
  } catch (e) {
    if (e instanceof MalformedObjectError)
      throw new GitError('git.invalid-argument', `tree ${oid}: ${e.message}`);
    throw e;
  }
}

/**
 * A directory holding the files of one git tree, moved from tree to tree by writing only what
 * differs (what `git read-tree --reset -u` did with an index file, without its process): the
 * two trees are compared by their ids (only differing subtrees are read), removed paths are
 * deleted (and directories left empty), added and changed ones written from their blobs.
 *
 * Like git's index, it remembers each file's stat as written: a file changed or deleted on disk
 * since is written again at the next move, even when the trees agree on it. Files nobody asked
 * for (not in any tree) are left alone, as git leaves untracked files. On any failure the
 * directory's content is unknown: the caller discards it.
 */
export class TreeCopy {
  private held: string | undefined;
  private readonly written = new Map<string, Written>();

  constructor(readonly dir: string) {}

  /** The tree it holds, once a move finished. */
  get tree(): string | undefined {
    return this.held;
  }

  /**
   * Makes the directory exactly tree `tree`; returns what changed from the tree held before.
   * `cache` keeps the trees read for the next move (see TreeCache).
   */
  async moveTo(reader: ObjectReader, tree: string, cache?: TreeCache): Promise<TreeChange[]> {
    const from = this.held ?? null;
    this.held = undefined;
    const comparing = diffTrees(treeReader(reader, cache), from, tree);
    // What changed on disk since written, while the trees git has to read (packed ones) are read.
    comparing.catch(() => {});
    const stale: string[] = [];
    for (const [path, w] of this.written) {
      const st = lstatSync(join(this.dir, path), { throwIfNoEntry: false });
      if (!st || !same(w, st)) stale.push(path);
    }
    const diff = await comparing;
    const touched = new Set(diff.map((c) => c.path));
    // Changed on disk though both trees agree: written again.
    for (const path of stale) {
      const w = this.written.get(path);
      if (w && !touched.has(path)) diff.push({ path, before: w.entry, after: w.entry });
    }
    // Everything removed first: a path that was a file (or link) and is now a directory, or the
    // other way round, must be gone before anything is written below or in place of it.
    const sync = diff.length <= SYNC_CHANGES;
    const removed = diff.filter((c) => c.before);
    for (const c of removed) this.written.delete(c.path);
    if (sync) for (const c of removed) rmSync(join(this.dir, c.path), { recursive: true, force: true });
    else await Promise.all(removed.map((c) => rm(join(this.dir, c.path), { recursive: true, force: true })));
    for (const c of removed) if (!c.after) this.pruneEmpty(dirname(c.path));
    const slots = new Semaphore(WRITES_AT_ONCE);
    const made = new Set<string>();
    await Promise.all(
      diff.flatMap((c) =>
        c.after ? [slots.run(() => this.write(reader, c.path, c.after as TreeEntry, made, sync))] : [],
      ),
    );
    this.held = tree;
    return diff.filter((c) => !(c.before && c.after && c.before === c.after));
  }

  private async write(
    reader: ObjectReader,
    path: string,
    entry: TreeEntry,
    made: Set<string>,
    sync: boolean,
  ): Promise<void> {
    const full = join(this.dir, path);
    const parent = dirname(path);
    if (parent !== '.' && !made.has(parent)) {
      if (sync) mkdirSync(join(this.dir, parent), { recursive: true });
      else await mkdir(join(this.dir, parent), { recursive: true });
      made.add(parent);
    }
    if (entry.kind === 'gitlink') {
      // As git checks out a submodule it does not populate: an empty directory.
      mkdirSync(full, { recursive: true });
      return;
    }
    const blob = await reader.readObject(entry.oid).catch((e: unknown) => {
      // Which file it is, for whoever reports it (the render of a config repo names the path).
      if (e instanceof GitError && e.code === 'git.object-too-large')
        throw new GitError('git.object-too-large', `${path}: ${e.message}`, {
          details: { ...e.details, path },
        });
      throw e;
    });
    if (blob?.type !== 'blob')
      throw new GitError('git.corrupt-cache', `blob ${entry.oid} (${path}) is missing`);
    const options = { mode: entry.mode === '100755' ? 0o777 : 0o666, flag: 'wx' } as const;
    if (entry.kind === 'link') symlinkSync(blob.data.toString('utf8'), full);
    else if (sync) writeFileSync(full, blob.data, options);
    else await writeFile(full, blob.data, options);
    const st = lstatSync(full);
    this.written.set(path, {
      entry,
      ino: st.ino,
      size: st.size,
      mtimeMs: st.mtimeMs,
      ctimeMs: st.ctimeMs,
      mode: st.mode,
    });
  }

  /** Removes `dir` and its parents while they are empty (git leaves no empty directory behind). */
  private pruneEmpty(dir: string): void {
    for (let d = dir; d !== '.' && d !== '/' && d !== ''; d = dirname(d)) {
      try {
        rmdirSync(join(this.dir, d));
      } catch {
        return;
      }
    }
  }
}

function same(w: Written, st: Stats): boolean {
  return (
    st.ino === w.ino &&
    st.size === w.size &&
    st.mtimeMs === w.mtimeMs &&
    st.ctimeMs === w.ctimeMs &&
    st.mode === w.mode
  );
}
