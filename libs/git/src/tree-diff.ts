import type { TreeEntry } from './tree-objects.ts';

/** The entries of tree `oid` (see ObjectReader and parseTree). */
export type ReadTree = (oid: string) => Promise<TreeEntry[]>;

/**
 * One path whose entry differs between two trees: `before` only (removed), `after` only (added)
 * or both (content, mode or kind changed). Paths are files, links and gitlinks, never trees, as
 * `git diff-tree -r` reports them (a file that became a directory is the file removed and each
 * file below the directory added).
 */
export interface TreeChange {
  path: string;
  before?: TreeEntry;
  after?: TreeEntry;
}

/**
 * What differs between tree `before` (null: an empty tree) and tree `after`, sorted by path.
 * Tree entries carry ids, so only subtrees whose ids differ are read: a commit to one directory
 * of thousands reads the trees on its path, not the others.
 */
export async function diffTrees(read: ReadTree, before: string | null, after: string): Promise<TreeChange[]> {
  const out: TreeChange[] = [];
  await walk(read, before, after, '', out);
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

async function walk(
  read: ReadTree,
  before: string | null,
  after: string | null,
  prefix: string,
  out: TreeChange[],
): Promise<void> {
  if (before === after) return;
  const [old, neu] = await Promise.all([
    before === null ? [] : read(before),
    after === null ? [] : read(after),
  ]);
  const olds = new Map(old.map((e) => [e.name, e]));
  const news = new Map(neu.map((e) => [e.name, e]));
  const below: Array<Promise<void>> = [];
  for (const name of new Set([...olds.keys(), ...news.keys()])) {
    const b = olds.get(name);
    const a = news.get(name);
    if (b && a && b.mode === a.mode && b.oid === a.oid) continue;
    const path = prefix + name;
    const bTree = b?.kind === 'tree' ? b.oid : null;
    const aTree = a?.kind === 'tree' ? a.oid : null;
    if (bTree !== null || aTree !== null) below.push(walk(read, bTree, aTree, `${path}/`, out));
    const bLeaf = b && b.kind !== 'tree' ? b : undefined;
    const aLeaf = a && a.kind !== 'tree' ? a : undefined;
    if (bLeaf || aLeaf)
      out.push({ path, ...(bLeaf ? { before: bLeaf } : {}), ...(aLeaf ? { after: aLeaf } : {}) });
  }
  await Promise.all(below);
}
