import type { ImageRef } from '@flotilla/events';
import { applyImageUpdate, findMarkers, type ImageSpec, PolicyError } from '@flotilla/policy';

export interface SourceFile {
  /** Repo-relative path. */
  path: string;
  text: string;
}

/** `repo[:tag][@digest]` split into its parts; the repository may carry a registry port. */
export function parseImageReference(ref: string): { repository: string; tag?: string; digest?: string } {
  const [nameTag = '', digest] = ref.split('@', 2);
  const slash = nameTag.lastIndexOf('/');
  const colon = nameTag.lastIndexOf(':');
  const out: { repository: string; tag?: string; digest?: string } =
    colon > slash
      ? { repository: nameTag.slice(0, colon), tag: nameTag.slice(colon + 1) }
      : { repository: nameTag };
  if (digest) out.digest = digest;
  return out;
}

export function formatImageRef(ref: Pick<ImageRef, 'repository' | 'tag' | 'digest'>): string {
  return `${ref.repository}${ref.tag ? `:${ref.tag}` : ''}@${ref.digest}`;
}

/** A marked image as found in a stage's files; digest may be missing for unpinned policies. */
export interface FoundImage {
  name: string;
  repository: string;
  tag?: string;
  digest?: string;
  file: string;
  line: number;
}

/**
 * The image each policy's markers currently hold in these files. A `full` marker carries the
 * whole reference; kustomize-style `:name`/`:tag`/`:digest` markers of one file combine, with
 * the policy's repository when no `:name` marker exists. The first file (sorted) wins per policy.
 */
export function readMarkedImages(files: readonly SourceFile[], images: readonly ImageSpec[]): FoundImage[] {
  const byPolicy = new Map<string, FoundImage>();
  for (const f of [...files].sort((a, b) => (a.path < b.path ? -1 : 1))) {
    let markers: ReturnType<typeof findMarkers>;
    try {
      markers = findMarkers(f.text);
    } catch (err) {
      if (err instanceof PolicyError) continue; // render reports broken YAML with its line
      throw err;
    }
    const partial = new Map<string, FoundImage>();
    for (const m of markers) {
      const spec = images.find((i) => i.name === m.policy);
      if (!spec || byPolicy.has(m.policy)) continue;
      if (m.field === 'full') {
        const parsed = parseImageReference(m.value);
        byPolicy.set(m.policy, { name: m.policy, ...parsed, file: f.path, line: m.line });
        continue;
      }
      const p = partial.get(m.policy) ?? {
        name: m.policy,
        repository: spec.repository,
        file: f.path,
        line: m.line,
      };
      if (m.field === 'name') p.repository = m.value;
      if (m.field === 'tag') p.tag = m.value;
      if (m.field === 'digest') p.digest = m.value;
      partial.set(m.policy, p);
    }
    for (const [policy, p] of partial) if (!byPolicy.has(policy)) byPolicy.set(policy, p);
  }
  return [...byPolicy.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
}

export interface FileChange {
  path: string;
  text: string;
  changes: Array<{ line: number; old: string; new: string }>;
}

/**
 * Rewrites the marked fields of `files` to `refs` (one per policy). Returns only files that
 * changed; an empty list means the files already hold these references (idempotent re-runs).
 */
export function rewriteImages(
  files: readonly SourceFile[],
  refs: ReadonlyArray<{ policy: string; repository: string; tag: string; digest?: string; pin: boolean }>,
): FileChange[] {
  const out: FileChange[] = [];
  for (const f of files) {
    if (!f.text.includes('$imagepolicy')) continue;
    let text = f.text;
    const changes: FileChange['changes'] = [];
    for (const r of refs) {
      const result = applyImageUpdate(text, {
        policy: r.policy,
        image: r.repository,
        tag: r.tag,
        pin: r.pin && r.digest !== undefined,
        ...(r.digest ? { digest: r.digest } : {}),
      });
      text = result.text;
      changes.push(...result.changes.map((c) => ({ line: c.line, old: c.old, new: c.new })));
    }
    if (changes.length > 0) out.push({ path: f.path, text, changes });
  }
  return out;
}
