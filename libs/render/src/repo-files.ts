import { readFile, realpath, stat } from 'node:fs/promises';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import type { BudgetMeter } from './budgets.ts';
import { remoteReason } from './remote-reference.ts';
import { refuse } from './render-problem.ts';

/** One render's view of a checked-out tree: its real root and the budget everything is counted against. */
export interface RepoScope {
  /** Real path (symlinks resolved) of the checked-out revision. */
  rootReal: string;
  meter: BudgetMeter;
}

/** Where a reference was written: the repo-relative file and the 1-based line and column. */
export interface Site {
  file: string;
  line?: number;
  column?: number;
}

export const repoRelative = (rootReal: string, p: string) =>
  relative(rootReal, p).split(sep).join('/') || '.';

export const isInside = (rootReal: string, p: string) => p === rootReal || p.startsWith(rootReal + sep);

export interface ResolvedReference {
  /** Real path, inside the repo. */
  real: string;
  kind: 'file' | 'dir';
  size: number;
}

/**
 * Resolves a path written in a kustomization (or a cluster path) against `fromDir`, refusing
 * every form that could reach outside the checked-out tree: remote forms, absolute paths, `..`
 * past the root, and symlinks whose target (after every hop) is outside. Only regular files and
 * directories are accepted: a FIFO or device would hang or flood a read.
 */
export async function resolveReference(
  scope: RepoScope,
  fromDir: string,
  value: string,
  field: string,
  site: Site,
): Promise<ResolvedReference> {
  const { rootReal } = scope;
  const remote = remoteReason(value);
  if (remote)
    refuse(
      site.file,
      'render.remote-reference',
      `${field} "${value}" is ${remote}; only paths inside the config repo are rendered`,
      site.line,
      site.column,
    );
  if (isAbsolute(value) || value.startsWith('~'))
    refuse(
      site.file,
      'render.absolute-path',
      `${field} "${value}" is absolute; use a path relative to ${site.file}`,
      site.line,
      site.column,
    );
  const lexical = resolve(fromDir, value);
  if (!isInside(rootReal, lexical))
    refuse(
      site.file,
      'render.path-traversal',
      `${field} "${value}" leaves the config repo`,
      site.line,
      site.column,
    );
  let real: string;
  try {
    real = await realpath(lexical);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ELOOP')
      refuse(
        site.file,
        'render.symlink-cycle',
        `${field} "${value}" is a symbolic link loop`,
        site.line,
        site.column,
      );
    refuse(site.file, 'render.path-missing', `${field} "${value}" does not exist`, site.line, site.column);
  }
  if (!isInside(rootReal, real))
    refuse(
      site.file,
      'render.path-traversal',
      `${field} "${value}" is a symbolic link that leaves the config repo`,
      site.line,
      site.column,
    );
  const s = await stat(real);
  if (s.isDirectory()) return { real, kind: 'dir', size: 0 };
  if (!s.isFile())
    refuse(
      site.file,
      'render.path-traversal',
      `${field} "${value}" is not a regular file or directory`,
      site.line,
      site.column,
    );
  return { real, kind: 'file', size: s.size };
}

/**
 * Reads a file of the repo after counting it against the budgets: its size is checked with
 * stat first, so an oversized file is refused before a byte of it is read or parsed.
 */
export async function readCounted(
  scope: RepoScope,
  real: string,
  size: number,
  site?: Site,
): Promise<string> {
  const file = repoRelative(scope.rootReal, real);
  scope.meter.countFile(site?.file ?? file, site?.line, site?.column);
  scope.meter.countBytes(file, size);
  const text = await readFile(real, 'utf8');
  // The file may have grown between stat and read; the bytes actually read count.
  if (text.length > size) scope.meter.countBytes(file, Buffer.byteLength(text) - size);
  return text;
}
