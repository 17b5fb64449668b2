import { createHash } from 'node:crypto';
import { matchesPaths } from '@flotilla/git';
import { formatRef, type KubeObject, objectHash, parseRefKey, refKey, refOf } from '@flotilla/manifests';
import type { ChangeCommit, Pipeline, Stage } from '@flotilla/policy';
import type { ConfigRepo } from './config-repo.ts';

// A manual stage changes only through an approved promotion: the planner's own commits
// (promotions, rollbacks) are approved or operated by someone it recorded. Any other commit that
// changes what such a stage renders (an edit of clusters/prod, or of a base it shares) is held
// until someone other than its authors approves it.

/** A change held for approval, kept on the cluster's state until decided or replaced. */
export interface HeldChange {
  changeId: string;
  revision: string;
  /** What runs: the revision of the last plan issued (none for a cluster's first plan). */
  fromRevision?: string;
  contentDigest: string;
  bundleDigest: string;
  bundleSize: number;
  objects: number;
  commits: ChangeCommit[];
  heldAt: string;
}

/** An approval of a held change, kept so that a re-render of the same content issues the plan. */
export interface ApprovedChange {
  changeId: string;
  contentDigest: string;
  kind: 'standard' | 'emergency';
  by: string;
  at: string;
  /** The change as it was held (what a retried approval answers with). */
  change?: HeldChange;
  /** The approving request's tag (operations.ts requestTag), when the client sent a key. */
  request?: string;
}

/** A stage needs approval for every change: its promotion rule is manual. */
export const isGated = (stage: Stage): boolean => stage.promotion?.rule === 'manual';

/** Stable id of a held change: the same content at the same revision is the same change. */
export function changeId(idPrefix: string, cluster: string, revision: string, contentDigest: string): string {
  const h = createHash('sha256').update(`${cluster}\n${revision}\n${contentDigest}`).digest('hex');
  return `${idPrefix}${cluster}-change-${h.slice(0, 16)}`;
}

/**
 * Could a commit touching `changed` alter what `clusterPath` renders? Yes when it touches that
 * path, or a path outside every stage's clusters (bases, components, the pipeline file); a
 * commit confined to other stages' directories cannot.
 */
export function touchesStage(changed: readonly string[], clusterPath: string, pipeline: Pipeline): boolean {
  const norm = (p: string) => p.replace(/^(\.\/)+/, '').replace(/\/+$/, '');
  const mine = [norm(clusterPath)];
  const stagePaths = pipeline.spec.stages.flatMap((s) => s.clusters.map((c) => norm(c.path)));
  return changed.some((f) => matchesPaths(f, mine) || !matchesPaths(f, stagePaths));
}

/**
 * Commits in `from..to` (every commit up to `to` when `from` is null) that are not the planner's
 * own and could change what `clusterPath` renders: the authors of an ungated change.
 */
export async function unexplainedCommits(
  repo: ConfigRepo,
  own: ReadonlySet<string>,
  from: string | null,
  to: string,
  clusterPath: string,
  pipeline: Pipeline,
): Promise<ChangeCommit[]> {
  const commits = await repo.mirror.commitsBetween(from, to);
  return commits
    .filter((c) => !own.has(c.sha) && touchesStage(c.changedPaths, clusterPath, pipeline))
    .slice(-200)
    .map((c) => ({
      commit: c.sha,
      author: { name: c.author.name, email: c.author.email },
      committer: { name: c.committer.name, email: c.committer.email },
    }));
}

/**
 * What a held change's diff needs of a bundle, and nothing more: each object's ref key and a
 * short digest of its content. The planner records it when it renders, before the bundle is
 * sealed, because it can never open a sealed bundle again (it holds public keys only).
 */
export type ObjectIndex = Record<string, string>;

/** 96 bits of the object's sha256: enough to tell a change, too little to learn content from. */
export function objectIndex(objects: readonly KubeObject[]): ObjectIndex {
  const out: ObjectIndex = {};
  for (const o of objects)
    out[refKey(refOf(o))] = objectHash(o).slice('sha256:'.length, 'sha256:'.length + 24);
  return out;
}

/** Object-level diff (names only, never content) between what runs and what would run. */
export function objectDiff(
  running: ObjectIndex,
  next: ObjectIndex,
): { added: string[]; removed: string[]; changed: string[] } {
  const label = (key: string) => {
    const ref = parseRefKey(key);
    return ref ? formatRef(ref) : key;
  };
  const added: string[] = [];
  const changed: string[] = [];
  const removed: string[] = [];
  for (const [k, hash] of Object.entries(next)) {
    const was = running[k];
    if (was === undefined) added.push(label(k));
    else if (was !== hash) changed.push(label(k));
  }
  for (const k of Object.keys(running)) if (!(k in next)) removed.push(label(k));
  return { added: added.slice(0, 500), removed: removed.slice(0, 500), changed: changed.slice(0, 500) };
}
