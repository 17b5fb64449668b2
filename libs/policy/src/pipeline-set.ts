import { issueAt, type PipelineIssue, parsePipeline } from './parse-pipeline.ts';
import type { Pipeline } from './pipeline-schema.ts';

/** One pipeline file of a config repo, as read at one revision. */
export interface PipelineFile {
  file: string;
  text: string;
}

export interface DeclaredPipeline {
  file: string;
  pipeline: Pipeline;
}

/** A pipeline that is not in force at this revision, and every reason why (file and line). */
export interface RefusedPipeline {
  file: string;
  /** metadata.name when the file got that far. */
  name?: string;
  issues: PipelineIssue[];
}

export interface PipelineSet {
  /** In force, sorted by name. */
  pipelines: DeclaredPipeline[];
  refused: RefusedPipeline[];
}

/** Beyond this many pipeline files a repo is refused file by file: a planner's work stays bounded. */
export const MAX_PIPELINES = 1000;

/** Where a repo declares its pipelines: the root file (one pipeline) and one file per pipeline. */
export const ROOT_PIPELINE_FILE = 'flotilla.yaml';
export const PIPELINES_DIR = 'pipelines';

/** Is `path` a pipeline file of the repo (`flotilla.yaml`, or `pipelines/<name>.yaml|yml`)? */
export function isPipelineFile(path: string, rootFile = ROOT_PIPELINE_FILE): boolean {
  return path === rootFile || new RegExp(`^${PIPELINES_DIR}/[^/]+\\.ya?ml$`).test(path);
}

/**
 * The pipelines a config repo declares. Each file is parsed on its own; then, across files, a
 * pipeline name declared twice, or a cluster path claimed by two pipelines (the same directory,
 * or one inside the other: promoting one would rewrite the other's files), refuses every
 * pipeline involved, each with the line of its own claim and the other file named. Only those
 * are refused: the rest of the repo stays in force.
 */
export function parsePipelineSet(
  files: readonly PipelineFile[],
  opts: { maxPipelines?: number } = {},
): PipelineSet {
  const max = opts.maxPipelines ?? MAX_PIPELINES;
  const sorted = [...files].sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  const refused = new Map<string, RefusedPipeline>();
  const refuse = (f: PipelineFile, issue: PipelineIssue, name?: string) => {
    const r = refused.get(f.file) ?? { file: f.file, ...(name ? { name } : {}), issues: [] };
    r.issues.push(issue);
    refused.set(f.file, r);
  };
  const parsed: Array<PipelineFile & { pipeline: Pipeline }> = [];
  sorted.forEach((f, i) => {
    if (i >= max) {
      refuse(f, {
        ...issueAt(f.text, f.file, [], 'pipeline-limit', ''),
        message: `more than ${max} pipeline files in one repo; this one is ignored`,
      });
      return;
    }
    const r = parsePipeline(f.text, f.file);
    if (r.ok) parsed.push({ ...f, pipeline: r.pipeline });
    else refused.set(f.file, { file: f.file, issues: r.errors });
  });

  const byName = new Map<string, typeof parsed>();
  for (const p of parsed) {
    const list = byName.get(p.pipeline.metadata.name) ?? [];
    list.push(p);
    byName.set(p.pipeline.metadata.name, list);
  }
  for (const [name, list] of byName) {
    if (list.length < 2) continue;
    for (const p of list) {
      const others = list.filter((o) => o !== p).map((o) => o.file);
      refuse(
        p,
        issueAt(
          p.text,
          p.file,
          ['metadata', 'name'],
          'duplicate-pipeline',
          `pipeline "${name}" is also declared in ${others.join(', ')}; pipeline names must be unique in a repo`,
        ),
        name,
      );
    }
  }

  const claims = parsed.flatMap((p) =>
    p.pipeline.spec.stages.flatMap((s, i) =>
      s.clusters.map((c, j) => ({
        p,
        path: normalise(c.path),
        at: ['spec', 'stages', i, 'clusters', j, 'path'],
      })),
    ),
  );
  // Index by path, then look up each claim's own path and its ancestors: linear in claims × depth.
  const byPath = new Map<string, typeof claims>();
  for (const c of claims) byPath.set(c.path, [...(byPath.get(c.path) ?? []), c]);
  const conflict = (a: (typeof claims)[number], b: (typeof claims)[number]) => {
    for (const [x, y] of [
      [a, b],
      [b, a],
    ] as const)
      refuse(
        x.p,
        issueAt(
          x.p.text,
          x.p.file,
          x.at,
          'path-conflict',
          `path "${x.path}" overlaps "${y.path}" of pipeline "${y.p.pipeline.metadata.name}" (${y.p.file}); a directory belongs to one pipeline`,
        ),
        x.p.pipeline.metadata.name,
      );
  };
  for (const a of claims) {
    const parts = a.path.split('/');
    const ancestors = new Set(['.', ...parts.map((_, i) => parts.slice(0, i + 1).join('/'))]);
    for (const path of ancestors) {
      for (const b of byPath.get(path) ?? []) {
        // Same path: each pair once (a before b); an ancestor: always.
        if (b.p === a.p || (path === a.path && claims.indexOf(b) <= claims.indexOf(a))) continue;
        conflict(a, b);
      }
    }
  }

  const pipelines = parsed
    .filter((p) => !refused.has(p.file))
    .map((p) => ({ file: p.file, pipeline: p.pipeline }))
    .sort((a, b) => (a.pipeline.metadata.name < b.pipeline.metadata.name ? -1 : 1));
  return { pipelines, refused: [...refused.values()] };
}

function normalise(path: string): string {
  return path.replace(/^(\.\/)+/, '').replace(/\/+$/, '') || '.';
}
