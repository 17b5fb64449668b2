import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isFlotillaError, messageOf } from '@flotilla/errors';
import type { SensitiveFieldRule } from '@flotilla/events';
import { type RenderedDiff, renderedDiff } from '@flotilla/kube';
import type { KubeObject } from '@flotilla/manifests';
import type { Stage } from '@flotilla/policy';
import type { Logger } from '@flotilla/runtime';
import type { HeldChange } from './change-gate.ts';
import { rewriteImages } from './image-refs.ts';
import type { PlanRenderer } from './plan-renderer.ts';
import type { PlannerState, PromotionRecord } from './state.ts';
import { readYamlFilesUnder } from './tree-files.ts';

// What a reviewer approves, object by object and field by field. The planner holds the rendered
// plaintext before sealing, so it can show what the applier could not (a sealed bundle it cannot
// open): it renders both sides again from Git. Rendering a revision is deterministic, so
// "what runs" is the render of the last plan's revision. Values leave through @flotilla/kube's
// `renderedDiff`, under the same protection as drift reports.

/** Images a promotion writes into its target stage's markers (see `promotedImageRefs`). */
export type ImageRewrite = Parameters<typeof rewriteImages>[1][number];

/** One cluster to compare: what runs (`from`) against what would run (`to`, possibly edited). */
export interface DiffJob {
  cluster: string;
  path: string;
  /** The last plan's revision; null when the cluster has never had a plan (everything is new). */
  from: string | null;
  to: string;
  /** A promotion not committed yet: its images written into the stage's files at `to`. */
  rewrite?: { stagePaths: string[]; refs: ImageRewrite[] };
}

export interface ClusterDiff {
  cluster: string;
  fromRevision: string | null;
  toRevision: string;
  /** `commit`: both sides are commits; `preview`: `to` with the promotion's images written in. */
  basis: 'commit' | 'preview';
  diff?: RenderedDiff;
  /** Why there is no diff (a side failed to render, or could not be read). */
  error?: { code: string; message: string };
}

export interface RenderedDiffsOptions {
  renderer: Pick<PlanRenderer, 'preview'>;
  /** HMAC key of sensitive values' hashes. */
  key: Uint8Array;
  sensitive: SensitiveFieldRule;
  logger: Logger;
  /** Renders remembered (each holds one cluster's plaintext objects). */
  cacheSize?: number;
}

type Side = { ok: true; objects: KubeObject[] } | { ok: false; code: string; message: string };

/**
 * Rendered diffs for the API. Renders take the planner's render slots (never its decisions'
 * queue) and are remembered by (path, revision, rewrite): a page polling a promotion renders it
 * once. Bounded answers: at most 200 objects, 50 fields each, 1 KiB per value.
 */
export class RenderedDiffs {
  private readonly cache = new Map<string, Promise<Side>>();
  private readonly log: Logger;

  constructor(private readonly o: RenderedDiffsOptions) {
    this.log = o.logger.child({ component: 'rendered-diffs' });
  }

  async diff(job: DiffJob): Promise<ClusterDiff> {
    const head = {
      cluster: job.cluster,
      fromRevision: job.from,
      toRevision: job.to,
      basis: job.rewrite ? ('preview' as const) : ('commit' as const),
    };
    const [before, after] = await Promise.all([
      job.from === null ? ({ ok: true, objects: [] } as Side) : this.side(job.path, job.from),
      this.side(job.path, job.to, job.rewrite),
    ]);
    for (const [which, s] of [
      ['what runs', before],
      ['what would run', after],
    ] as const)
      if (!s.ok) return { ...head, error: { code: s.code, message: `${which}: ${s.message}` } };
    return {
      ...head,
      diff: renderedDiff(
        (before as { objects: KubeObject[] }).objects,
        (after as { objects: KubeObject[] }).objects,
        {
          key: this.o.key,
          sensitive: this.o.sensitive,
        },
      ),
    };
  }

  private side(path: string, revision: string, rewrite?: DiffJob['rewrite']): Promise<Side> {
    const k = `${path}\0${revision}\0${rewrite ? JSON.stringify(rewrite) : ''}`;
    const hit = this.cache.get(k);
    if (hit) {
      // Most recently used last: the oldest is evicted first.
      this.cache.delete(k);
      this.cache.set(k, hit);
      return hit;
    }
    const p = this.render(path, revision, rewrite);
    this.cache.set(k, p);
    while (this.cache.size > (this.o.cacheSize ?? 16))
      this.cache.delete(this.cache.keys().next().value as string);
    // A failure to extract (not the content's fault) is tried again next time.
    p.then((s) => {
      if (!s.ok && s.code === 'diff.unavailable') this.cache.delete(k);
    });
    return p;
  }

  private async render(path: string, revision: string, rewrite?: DiffJob['rewrite']): Promise<Side> {
    try {
      const r = await this.o.renderer.preview(
        revision,
        path,
        rewrite
          ? async (tree) => {
              const files = await readYamlFilesUnder(tree, rewrite.stagePaths);
              for (const c of rewriteImages(files, rewrite.refs)) await writeFile(join(tree, c.path), c.text);
            }
          : undefined,
      );
      if (r.ok) return r;
      return {
        ok: false,
        code: r.problem.code,
        message: `${r.problem.file}${r.problem.line ? `:${r.problem.line}` : ''}: ${r.problem.message}`.slice(
          0,
          2000,
        ),
      };
    } catch (err) {
      this.log.warn({ path, revision, err: messageOf(err) }, 'diff render failed');
      return {
        ok: false,
        code: 'diff.unavailable',
        message: `${isFlotillaError(err) ? `${err.code}: ` : ''}${messageOf(err)}`,
      };
    }
  }
}

/**
 * What a promotion changes in each cluster of its target stage. Committed: the commit against its
 * parent (exactly what the promotion wrote). Not yet: the last plan's revision against the newest
 * rendered revision with the promotion's images written in, as its commit would do.
 */
export function promotionJobs(
  stage: Stage,
  state: PlannerState,
  p: Pick<PromotionRecord, 'commit' | 'toStage'>,
  refs: ImageRewrite[],
): DiffJob[] | { error: string } {
  const stagePaths = stage.clusters.map((c) => c.path);
  const jobs: DiffJob[] = [];
  for (const cl of stage.clusters) {
    const c = state.clusters.get(cl.name);
    if (p.commit) {
      jobs.push({ cluster: cl.name, path: cl.path, from: `${p.commit}~1`, to: p.commit });
      continue;
    }
    const to = c?.renderedRevision ?? state.stage(p.toStage).revision ?? c?.desired?.revision;
    if (!to) return { error: `${cl.name} has not been rendered yet` };
    jobs.push({
      cluster: cl.name,
      path: cl.path,
      from: c?.desired?.revision ?? null,
      to,
      rewrite: { stagePaths, refs },
    });
  }
  return jobs;
}

/** What a held change would change: the last plan's revision against the held one. */
export function changeJob(cluster: { name: string; path: string }, held: HeldChange): DiffJob {
  return { cluster: cluster.name, path: cluster.path, from: held.fromRevision ?? null, to: held.revision };
}
