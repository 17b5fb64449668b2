/**
 * Tree and commit objects as git stores them, parsed without git: a tree is a list of
 * `<octal mode> <name>\0<raw id>` entries, a commit a header of `tree`/`parent` lines.
 */

export type EntryKind = 'tree' | 'blob' | 'link' | 'gitlink';

export interface TreeEntry {
  name: string;
  /** `040000`, `100644`, `100755`, `120000` or `160000` (a blob's other modes read as `100644`, as git does). */
  mode: string;
  kind: EntryKind;
  oid: string;
}

export interface CommitHeader {
  tree: string;
  parents: string[];
}

/** A tree or commit git would not write: the caller stops (it is not a fast path to fall back from). */
export class MalformedObjectError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MalformedObjectError';
  }
}

/**
 * The entries of a tree object's content. Names git refuses to check out (empty, `.`, `..`,
 * `.git` in any case, with a `/` or NUL) make the whole tree malformed: nothing of it is written.
 */
export function parseTree(data: Uint8Array, hashBytes: 20 | 32): TreeEntry[] {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const entries: TreeEntry[] = [];
  let at = 0;
  while (at < buf.byteLength) {
    const space = buf.indexOf(0x20, at);
    const nul = space < 0 ? -1 : buf.indexOf(0, space + 1);
    if (space < 0 || nul < 0 || nul + 1 + hashBytes > buf.byteLength)
      throw new MalformedObjectError('truncated tree entry');
    const rawMode = buf.subarray(at, space).toString('latin1');
    const name = buf.subarray(space + 1, nul).toString('utf8');
    if (!safeName(name)) throw new MalformedObjectError(`tree entry name refused: ${JSON.stringify(name)}`);
    const oid = buf.subarray(nul + 1, nul + 1 + hashBytes).toString('hex');
    const [mode, kind] = modeOf(rawMode);
    entries.push({ name, mode, kind, oid });
    at = nul + 1 + hashBytes;
  }
  return entries;
}

function modeOf(raw: string): [string, EntryKind] {
  if (raw === '40000' || raw === '040000') return ['040000', 'tree'];
  if (raw === '120000') return ['120000', 'link'];
  if (raw === '160000') return ['160000', 'gitlink'];
  if (/^100[0-7]{3}$/.test(raw))
    return [(Number.parseInt(raw, 8) & 0o111) !== 0 ? '100755' : '100644', 'blob'];
  throw new MalformedObjectError(`tree entry mode refused: ${raw}`);
}

/** Whether git (verify_path) would check out an entry of this name. */
function safeName(name: string): boolean {
  return (
    name !== '' &&
    name !== '.' &&
    name !== '..' &&
    name.toLowerCase() !== '.git' &&
    !name.includes('/') &&
    !name.includes('\0') &&
    !name.includes('\ufffd')
  );
}

/** The tree and parents of a commit object's content. */
export function parseCommit(data: Uint8Array): CommitHeader {
  const text = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('latin1');
  const end = text.indexOf('\n\n');
  const lines = (end < 0 ? text : text.slice(0, end)).split('\n');
  const oid = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;
  const tree = lines[0]?.startsWith('tree ') ? lines[0].slice(5) : '';
  if (!oid.test(tree)) throw new MalformedObjectError('commit without a tree');
  const parents: string[] = [];
  for (const line of lines.slice(1)) {
    if (!line.startsWith('parent ')) break;
    const p = line.slice(7);
    if (!oid.test(p) || p.length !== tree.length) throw new MalformedObjectError('bad parent line');
    parents.push(p);
  }
  return { tree, parents };
}
