import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import type { SourceFile } from './image-refs.ts';

const YAML_FILE = /\.ya?ml$/i;
/** Files read for image markers: bounded like a render, since the tree is untrusted. */
const MAX_FILES = 20_000;
const MAX_FILE_BYTES = 8 * 1024 * 1024;

/**
 * Repo-relative paths of the files below `path` in a checked-out tree (`root`), sorted. Hidden
 * entries and symlinks that leave `path` are skipped (a symlink into a shared base must not make
 * a first-stage update rewrite every stage): the planner only ever rewrites or
 * restores files that belong to the repo. Each directory is entered once by its real path, so
 * links to `.` or to each other cannot make the walk loop or explode, and at most
 * {@link MAX_FILES} entries are looked at.
 */
export async function listFilesUnder(
  root: string,
  path: string,
  opts: { yamlOnly?: boolean } = {},
): Promise<string[]> {
  const rootReal = await realpath(root);
  const base = await realpath(join(rootReal, path)).catch(() => null);
  const out = new Set<string>();
  if (!base || (base !== rootReal && !base.startsWith(rootReal + sep))) return [];
  const entered = new Set<string>();
  let seen = 0;
  const walk = async (dir: string) => {
    const real = await realpath(dir).catch(() => null);
    if (!real || entered.has(real)) return;
    entered.add(real);
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      if (e.name.startsWith('.') || ++seen > MAX_FILES) continue;
      const full = join(dir, e.name);
      const target = await realpath(full).catch(() => null);
      if (!target || (target !== base && !target.startsWith(base + sep))) continue;
      const s = await stat(full).catch(() => null);
      if (s?.isDirectory()) await walk(full);
      else if (s?.isFile() && (!opts.yamlOnly || YAML_FILE.test(e.name)))
        out.add(relative(rootReal, target).split(sep).join('/'));
    }
  };
  await walk(base);
  return [...out].sort();
}

export async function readYamlFilesUnder(root: string, paths: readonly string[]): Promise<SourceFile[]> {
  const files: SourceFile[] = [];
  for (const p of paths) {
    for (const f of await listFilesUnder(root, p, { yamlOnly: true })) {
      const full = join(root, f);
      // Image markers live in small files; a huge one is the render's to refuse, not ours to read.
      if (((await stat(full).catch(() => null))?.size ?? 0) > MAX_FILE_BYTES) continue;
      files.push({ path: f, text: await readFile(full, 'utf8') });
    }
  }
  return files;
}
