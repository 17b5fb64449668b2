/**
 * Which pipelines a new revision must render. A pipeline's output depends only on its
 * definition and on the files its last render read (its sources: files, and directories ending
 * in `/`), so a commit that touches none of them cannot change its plans. Anything unknown
 * renders: no list of changed paths (or an empty one), a pipeline never rendered here (or whose
 * last render was refused), one whose last render failed, one whose definition changed.
 */
export interface SelectionInput {
  /** The pipelines in force at the new revision: name, file, and whether its definition changed. */
  pipelines: ReadonlyArray<{ name: string; file: string; definitionChanged: boolean }>;
  /** Repo-relative paths changed since the last dispatched revision; null when unknown. */
  changed: readonly string[] | null;
  /** Sources of each pipeline's last render; absent when unknown. */
  sources: ReadonlyMap<string, readonly string[]>;
  /** Pipelines whose last render did not finish (an infrastructure failure): always again. */
  retry: ReadonlySet<string>;
}

export function pipelinesToRender(input: SelectionInput): string[] {
  const { changed } = input;
  const all = input.pipelines.map((p) => p.name);
  if (changed === null || changed.length === 0) return all;
  return input.pipelines
    .filter((p) => {
      if (p.definitionChanged || input.retry.has(p.name) || changed.includes(p.file)) return true;
      const sources = input.sources.get(p.name);
      return sources === undefined || touchesAny(changed, sources);
    })
    .map((p) => p.name);
}

/** Whether any of `changed` is one of `sources` or lies below one of its directories. */
export function touchesAny(changed: readonly string[], sources: readonly string[]): boolean {
  const files = new Set<string>();
  const dirs: string[] = [];
  for (const s of sources) {
    if (s.endsWith('/')) dirs.push(s);
    else files.add(s);
  }
  return changed.some((f) => files.has(f) || dirs.some((d) => d === '/' || d === './' || f.startsWith(d)));
}
