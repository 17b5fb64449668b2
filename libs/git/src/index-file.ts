/**
 * Reads the entries of a git index file (`DIRC`, versions 2 and 3) without starting git: path →
 * mode and object id. Two indexes of trees git checked out (`read-tree --reset -u`) tell which
 * paths differ between the two revisions, as `git diff-tree -r --name-only` would, at no process
 * (a git process costs 30-150 ms on a loaded machine, the planner's `git log` for "what changed"
 * was a step of every commit's path to its plans).
 *
 * A fast path only: `undefined` means "could not tell here" (another version, a merge in
 * progress, anything unexpected) and the caller asks git.
 */

const SIGNATURE = 0x44495243; // "DIRC"
const EXTENDED = 0x4000;
const STAGE_MASK = 0x3000;
const NAME_MASK = 0x0fff;

/** Path → `<octal mode> <object id>` of every entry. */
export type IndexEntries = Map<string, string>;

/**
 * The entries of an index file's bytes; `hashBytes` is the repository's object id size (20 for
 * SHA-1, 32 for SHA-256). Undefined for version 4 (prefix-compressed paths), unmerged entries
 * and anything malformed.
 */
export function parseIndexEntries(buf: Uint8Array, hashBytes: 20 | 32): IndexEntries | undefined {
  if (buf.byteLength < 12) return undefined;
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (view.getUint32(0) !== SIGNATURE) return undefined;
  const version = view.getUint32(4);
  if (version !== 2 && version !== 3) return undefined;
  const count = view.getUint32(8);
  const entries: IndexEntries = new Map();
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let at = 12;
  for (let i = 0; i < count; i++) {
    // ctime, mtime (8 bytes each), dev, ino, mode, uid, gid, size (4 each), object id, flags.
    const fixed = 40 + hashBytes + 2;
    if (at + fixed > buf.byteLength) return undefined;
    const mode = view.getUint32(at + 24);
    const oid = buf.subarray(at + 40, at + 40 + hashBytes);
    const flags = view.getUint16(at + 40 + hashBytes);
    if ((flags & STAGE_MASK) !== 0) return undefined;
    const extended = (flags & EXTENDED) !== 0;
    if (extended && version < 3) return undefined;
    const nameAt = at + fixed + (extended ? 2 : 0);
    let nameLen = flags & NAME_MASK;
    if (nameLen === NAME_MASK) {
      // Longer names are NUL-terminated.
      const end = buf.indexOf(0, nameAt);
      if (end < 0) return undefined;
      nameLen = end - nameAt;
    }
    if (nameAt + nameLen > buf.byteLength) return undefined;
    let path: string;
    try {
      path = decoder.decode(buf.subarray(nameAt, nameAt + nameLen));
    } catch {
      return undefined;
    }
    entries.set(path, `${mode.toString(8)} ${Buffer.from(oid).toString('hex')}`);
    // Each entry is padded with 1-8 NULs to a multiple of 8 bytes.
    at += (nameAt - at + nameLen + 8) & ~7;
  }
  return entries;
}

/** Paths whose entry differs between two indexes (added, removed, content or mode changed), sorted. */
export function changedIndexPaths(before: IndexEntries, after: IndexEntries): string[] {
  const out: string[] = [];
  for (const [path, entry] of after) if (before.get(path) !== entry) out.push(path);
  for (const path of before.keys()) if (!after.has(path)) out.push(path);
  return out.sort();
}
