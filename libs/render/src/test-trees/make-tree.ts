import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/** A file's text, or `{ link }` for a symbolic link with that target. */
export type TreeEntry = string | { link: string };

/** Writes a small repo tree into a fresh temp dir; returns it and a cleanup. */
export async function makeTree(
  files: Record<string, TreeEntry>,
): Promise<{ root: string; done: () => Promise<void> }> {
  const root = await mkdtemp(join(tmpdir(), 'render-tree-'));
  for (const [path, entry] of Object.entries(files)) {
    const full = join(root, path);
    await mkdir(dirname(full), { recursive: true });
    if (typeof entry === 'string') await writeFile(full, entry);
    else await symlink(entry.link, full);
  }
  return { root, done: () => rm(root, { recursive: true, force: true }) };
}

export const configMap = (name: string, extra = '') =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n${extra}data:\n  k: v\n`;
