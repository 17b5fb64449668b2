import { lstatSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { refuse } from './render-problem.ts';
import { breathe, isInside, type RepoScope, repoRelative } from './repo-files.ts';

const YAML_FILE = /\.ya?ml$/i;

export interface PlainFile {
  /** Repo-relative path as found (a symlink keeps its own name). */
  file: string;
  real: string;
  size: number;
}

/**
 * Every `*.yaml`/`*.yml` below `dir`, sorted by name at each level, hidden directories skipped.
 * Symlinks are followed only inside the repo, and each directory is entered once by its real
 * path: a link back to an ancestor is a cycle, a second link to the same directory would render
 * it twice; both are refused, so two links to `.` cannot make the walk explode. Every entry
 * counts against the file budget and the deadline.
 */
export async function listPlainYaml(scope: RepoScope, dir: string): Promise<PlainFile[]> {
  const { rootReal, meter } = scope;
  const out: PlainFile[] = [];
  const entered = new Map<string, string>();
  const walk = async (d: string, shown: string, stack: Set<string>) => {
    const real = realpathSync.native(d);
    const first = entered.get(real);
    if (first !== undefined) {
      refuse(
        shown,
        'render.symlink-cycle',
        stack.has(real)
          ? `symbolic link loops back to ${first}`
          : `directory ${first} is reached a second time through a symbolic link`,
      );
    }
    entered.set(real, shown);
    const inner = new Set(stack).add(real);
    const entries = readdirSync(d, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const full = join(d, e.name);
      const name = `${shown}/${e.name}`;
      meter.countFile(name);
      let target = full;
      if (e.isSymbolicLink()) {
        let r: string | null = null;
        try {
          r = realpathSync.native(full);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ELOOP')
            refuse(name, 'render.symlink-cycle', 'symbolic link loop');
          // dangling: nothing to render
        }
        if (r === null) continue;
        if (!isInside(rootReal, r))
          refuse(name, 'render.path-traversal', 'symbolic link points outside the config repo');
        target = r;
      }
      const s = e.isSymbolicLink() ? statSync(target) : lstatSync(target);
      await breathe();
      if (s.isDirectory()) {
        if (!e.name.startsWith('.')) await walk(full, name, inner);
      } else if (s.isFile() && YAML_FILE.test(e.name)) {
        out.push({ file: name, real: target, size: s.size });
      }
    }
  };
  await walk(dir, repoRelative(rootReal, dir), new Set());
  return out;
}
