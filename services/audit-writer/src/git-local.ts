import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { type RunOptions, runGit, runGitStatus } from '@flotilla/git';

// Local-only git operations @flotilla/git's Workspace does not offer (yet): throwing away what a
// crashed writer left uncommitted, committing a batch in one process, and reading a commit's
// trailers without a Workspace (the verify CLI runs on any clone). Through @flotilla/git's runner,
// not simple-git: simple-git waits 50 ms more after every command that prints nothing, and the
// writer's commit (`commit --quiet`) prints nothing, so every batch paid it before its acks.

/**
 * Every command here fsyncs what it writes (objects, index, refs) before it exits, as the
 * Workspace does with `fsync: true`: a commit that returned is on disk, so its events may be acked.
 * Loose objects are deflated at level 1, not zlib's default 6: every commit stores the segment it
 * appends to again as a new blob, and at level 6 deflating a 4 MB segment took ~4× as long as at
 * level 1 (0.27 s vs 0.06 s at load 11), on the path before the acks. Level 1 writes somewhat
 * larger loose objects; a repack (gc) compresses them again at `pack.compression`.
 */
const CONFIG = [
  'core.fsync=all',
  'core.fsyncMethod=fsync',
  'core.looseCompression=1',
  'commit.gpgSign=false',
];

function local(dir: string, op: string, env?: Record<string, string>): RunOptions {
  return { cwd: dir, config: CONFIG, op, ...(env ? { env } : {}) };
}

/**
 * Removes `*.lock` files under `.git` (except objects). A writer killed mid-commit leaves
 * `index.lock` or a ref lock behind, which would block every later git command. Only call this
 * while holding the writer lease: then no other git process can be using this clone.
 */
export async function removeStaleLocks(dir: string): Promise<string[]> {
  const removed: string[] = [];
  const walk = async (d: string): Promise<void> => {
    let entries: import('node:fs').Dirent[];
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory()) {
        if (e.name !== 'objects') await walk(p);
      } else if (e.name.endsWith('.lock')) {
        await rm(p, { force: true });
        removed.push(p);
      }
    }
  };
  await walk(join(dir, '.git'));
  return removed;
}

/**
 * Makes the work tree equal to HEAD again: lines a crashed writer appended but never committed
 * are dropped (their events were never acked, so JetStream delivers them again).
 */
export async function discardUncommitted(dir: string): Promise<boolean> {
  const status = await runGit(['status', '--porcelain', '--untracked-files=all'], local(dir, 'status'));
  if (!status.trim()) return false;
  // Exit 1: no commit yet (a fresh clone of an empty audit repo).
  const head = await runGitStatus(['rev-parse', '--verify', '--quiet', 'HEAD'], local(dir, 'rev-parse'));
  if (head.code === 0 && head.stdout.trim())
    await runGit(['reset', '--quiet', '--hard', 'HEAD'], local(dir, 'reset'));
  else await runGit(['read-tree', '--empty'], local(dir, 'read-tree'));
  await runGit(['clean', '-fdq'], local(dir, 'clean'));
  return true;
}

/** Trailers of a commit (`Key: value`), or an empty map when the rev does not exist. */
export async function commitTrailers(dir: string, rev: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  let text: string;
  try {
    text = await runGit(
      ['log', '-1', '--format=%(trailers:only,unfold,separator=%x1e,key_value_separator=%x1f)', rev, '--'],
      local(dir, 'log'),
    );
  } catch {
    return out;
  }
  for (const kv of text.replace(/\n$/, '').split('\x1e')) {
    const [k, v] = kv.split('\x1f');
    if (k && v !== undefined) out.set(k.trim(), v.trim());
  }
  return out;
}

/**
 * Commits files as the given identity, in one git process when every file is tracked already
 * (`git commit -- <files>`: their work-tree content, nothing else); a new file is `git add`ed
 * first. Workspace.commit (add --all, diff, rev-parse, commit, rev-parse) spends five: at thousands
 * of events per second, process spawns are a large share of the audit writer's cost, and each one
 * blocks Node's event loop while it forks. fsync'd like every command here (`core.fsync=all`),
 * so the commit is on disk when this resolves.
 */
export async function commitFiles(
  dir: string,
  files: string[],
  message: string,
  author: { name: string; email: string },
  /** Those of `files` not tracked yet (`git commit -- <path>` refuses a path git does not know). */
  added: string[] = files,
): Promise<void> {
  const env = {
    GIT_AUTHOR_NAME: author.name,
    GIT_AUTHOR_EMAIL: author.email,
    GIT_COMMITTER_NAME: author.name,
    GIT_COMMITTER_EMAIL: author.email,
  };
  if (added.length > 0) await runGit(['add', '--', ...added], local(dir, 'add', env));
  await runGit(
    ['commit', '--quiet', '--no-verify', '--cleanup=verbatim', '-m', message, '--', ...files],
    local(dir, 'commit', env),
  );
}
