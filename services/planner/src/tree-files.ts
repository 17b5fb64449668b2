import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import type { SourceFile } from './image-refs.ts';

const YAML_FILE = /\.ya?ml$/i;

/**
 * Repo-relative paths of the files below `path` in a checked-out tree (`root`), sorted. Hidden
 * entries and symlinks that leave `path` are skipped (a symlink into a shared base must not make
 * a first-stage update rewrite every stage): the planner only ever rewrites or
 * restores files that belong to the repo.
 */
export async function listFilesUnder(
  root: string,
  path: string,
  opts: { yamlOnly?: boolean } = {},
): Promise<string[]> {
  const rootReal = await realpath(root);
  const base = await realpath(join(rootReal, path)).catch(() => null);
  const out: string[] = [];
  if (!base || (base !== rootReal && !base.startsWith(rootReal + sep))) return out;
  const walk = async (dir: string) => {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const full = join(dir, e.name);
      const real = await realpath(full).catch(() => null);
      if (!real || (real !== base && !real.startsWith(base + sep))) continue;
      const s = await stat(full).catch(() => null);
      if (s?.isDirectory()) await walk(full);
      else if (s?.isFile() && (!opts.yamlOnly || YAML_FILE.test(e.name)))
        out.push(relative(rootReal, real).split(sep).join('/'));
    }
  };
  await walk(base);
  return out.sort();
}

export async function readYamlFilesUnder(root: string, paths: readonly string[]): Promise<SourceFile[]> {
  const files: SourceFile[] = [];
  for (const p of paths) {
    for (const f of await listFilesUnder(root, p, { yamlOnly: true })) {
      files.push({ path: f, text: await readFile(join(root, f), 'utf8') });
    }
  }
  return files;
}
