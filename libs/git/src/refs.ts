import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

const SHA = /^[0-9a-f]{40}$/;
/** Refs this reader resolves: full names under refs/ made of ordinary path segments. */
const REF_NAME = /^refs\/(?:[A-Za-z0-9._-]+\/)*[A-Za-z0-9._-]+$/;

/**
 * Reads a ref's sha straight from the repository's files (`gitDir/<ref>`, then `packed-refs`)
 * instead of starting `git rev-parse`: a git process costs 30-150 ms on a loaded machine and a
 * commit path asks for heads several times. Git writes a loose ref through a lock file and a
 * rename, so a read sees the old or the new value, never half of one.
 *
 * A fast path only: `undefined` means "could not tell here" (no such file, a symbolic ref, a
 * repository using another ref storage, anything unexpected), and the caller asks git. It never
 * answers "absent", because an absent ref is git's to confirm.
 */
export async function readRefFast(gitDir: string, ref: string): Promise<string | undefined> {
  if (!REF_NAME.test(ref) || ref.split('/').some((s) => s === '.' || s === '..' || s.endsWith('.lock')))
    return undefined;
  const loose = await readFile(join(gitDir, ref), 'utf8').catch(() => null);
  if (loose !== null) {
    const sha = loose.trim();
    return SHA.test(sha) ? sha : undefined;
  }
  const packed = await readFile(join(gitDir, 'packed-refs'), 'utf8').catch(() => null);
  if (packed === null) return undefined;
  for (const line of packed.split('\n')) {
    // "<sha> <ref>"; comment lines start with '#', peeled tags with '^'.
    if (line.length === 41 + ref.length && line.endsWith(` ${ref}`)) {
      const sha = line.slice(0, 40);
      return SHA.test(sha) ? sha : undefined;
    }
  }
  return undefined;
}

/** The branch HEAD points at (`refs/heads/...`) read from `gitDir/HEAD`, or undefined when detached or unclear. */
export async function readHeadTarget(gitDir: string): Promise<string | undefined> {
  const head = await readFile(join(gitDir, 'HEAD'), 'utf8').catch(() => null);
  const m = head === null ? null : /^ref: (refs\/heads\/\S+)\s*$/.exec(head);
  return m?.[1];
}
