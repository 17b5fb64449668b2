import type { ImageRef } from '@flotilla/events';
import type { ImageSpec, Stage } from '@flotilla/policy';
import type { ConfigRepo } from './config-repo.ts';
import { type FoundImage, readMarkedImages, type SourceFile } from './image-refs.ts';
import type { PlannerState } from './state.ts';

/** Found images with a digest (from the reference, or the registry's tag → digest record). */
export function toImageRefs(found: readonly FoundImage[], state: PlannerState): ImageRef[] {
  const out: ImageRef[] = [];
  for (const f of found) {
    const digest = f.digest ?? (f.tag ? state.tags.get(f.repository)?.tags[f.tag] : undefined);
    if (!digest || !/^sha256:[0-9a-f]{64}$/.test(digest)) continue;
    out.push({ name: f.name, repository: f.repository, ...(f.tag ? { tag: f.tag } : {}), digest });
  }
  return out;
}

/** The images a stage's marked fields hold at `revision`, read from the mirror. */
export async function imagesAt(
  repo: ConfigRepo,
  state: PlannerState,
  specs: readonly ImageSpec[],
  stage: Stage,
  revision: string,
): Promise<ImageRef[]> {
  const files: SourceFile[] = [];
  for (const c of stage.clusters) {
    for (const f of await repo.listFiles(revision, c.path)) {
      if (!/\.ya?ml$/i.test(f)) continue;
      const text = await repo.readFile(revision, f);
      if (text !== null) files.push({ path: f, text });
    }
  }
  return toImageRefs(readMarkedImages(files, specs), state);
}

/** Same name, repository, tag and digest: nothing to promote between the two. */
export function runsAll(current: readonly ImageRef[], wanted: readonly ImageRef[]): boolean {
  return wanted.every((i) =>
    current.some(
      (c) => c.name === i.name && c.repository === i.repository && c.digest === i.digest && c.tag === i.tag,
    ),
  );
}
