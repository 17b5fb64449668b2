import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';

const OID = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;
/** A commit object is small; anything bigger is not read here. */
const MAX_COMMIT_BYTES = 1024 * 1024;

/**
 * The parents of commit `sha` read from its loose object file (`objects/ab/cdef…`, zlib) instead
 * of starting git: a commit just fetched in a small pack is unpacked into loose objects, and a
 * commit's path to its plans asked git for little more than its parents. The content is checked
 * against its id (the file name alone is no proof).
 *
 * A fast path only, like readRefFast: `undefined` means "could not tell here" (not loose, packed,
 * not a commit, anything unexpected) and the caller asks git.
 */
export async function readLooseCommitParents(gitDir: string, sha: string): Promise<string[] | undefined> {
  if (!OID.test(sha)) return undefined;
  const file = await readFile(join(gitDir, 'objects', sha.slice(0, 2), sha.slice(2))).catch(() => null);
  if (file === null || file.byteLength > MAX_COMMIT_BYTES) return undefined;
  return looseCommitParents(file, sha);
}

/** The parents in a loose commit object's bytes, if they are the commit `sha`. */
export function looseCommitParents(file: Uint8Array, sha: string): string[] | undefined {
  let raw: Buffer;
  try {
    raw = inflateSync(file, { maxOutputLength: MAX_COMMIT_BYTES });
  } catch {
    return undefined;
  }
  const nul = raw.indexOf(0);
  if (nul < 0) return undefined;
  const header = raw.subarray(0, nul).toString('latin1');
  if (header !== `commit ${raw.byteLength - nul - 1}`) return undefined;
  const hash = createHash(sha.length === 64 ? 'sha256' : 'sha1')
    .update(raw)
    .digest('hex');
  if (hash !== sha) return undefined;
  // Header lines up to the first empty line: `tree`, then one `parent` line per parent.
  const lines = raw
    .subarray(nul + 1)
    .toString('latin1')
    .split('\n');
  if (!lines[0]?.startsWith('tree ')) return undefined;
  const parents: string[] = [];
  for (const line of lines.slice(1)) {
    if (!line.startsWith('parent ')) break;
    const p = line.slice('parent '.length);
    if (!OID.test(p) || p.length !== sha.length) return undefined;
    parents.push(p);
  }
  return parents;
}
