import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import type { GitObject, ObjectType } from './object-reader.ts';

/** Larger loose objects are left to git (inflating them here would hold the event loop). */
const MAX_LOOSE_BYTES = 4 * 1024 * 1024;

/**
 * Object `oid` read from its loose file (`objects/ab/cdef…`, zlib) without asking git: a small
 * fetch leaves what it brought loose (a commit, the trees on its paths, the blobs it changed),
 * and those are what a new revision's checkout reads. The content is checked against its id
 * (the file name alone is no proof).
 *
 * A fast path only: `undefined` means "not told here" (not loose, packed, too big, anything
 * unexpected) and the caller asks git.
 */
export function readLooseObject(
  gitDir: string,
  oid: string,
  /** Objects bigger than this are left to git too (the reader refuses them there, with their size). */
  maxObjectBytes = MAX_LOOSE_BYTES,
): GitObject | undefined {
  // Read synchronously: a loose object is small, and each step of an asynchronous read (open,
  // stat, read, close) waits for the thread pool, which on a loaded machine costs more than the read.
  let file: Buffer;
  try {
    file = readFileSync(join(gitDir, 'objects', oid.slice(0, 2), oid.slice(2)));
  } catch {
    return undefined;
  }
  let raw: Buffer;
  try {
    // The header (`blob <size>\0`) is at most 32 bytes.
    raw = inflateSync(file, { maxOutputLength: Math.min(MAX_LOOSE_BYTES, maxObjectBytes) + 32 });
  } catch {
    return undefined;
  }
  const nul = raw.indexOf(0);
  if (nul < 0 || nul > 32) return undefined;
  const [type, size] = raw.subarray(0, nul).toString('latin1').split(' ');
  if (!isType(type) || size !== String(raw.byteLength - nul - 1)) return undefined;
  if (raw.byteLength - nul - 1 > maxObjectBytes) return undefined;
  const hash = createHash(oid.length === 64 ? 'sha256' : 'sha1')
    .update(raw)
    .digest('hex');
  if (hash !== oid) return undefined;
  return { type, data: raw.subarray(nul + 1) };
}

function isType(t: string | undefined): t is ObjectType {
  return t === 'blob' || t === 'tree' || t === 'commit' || t === 'tag';
}
