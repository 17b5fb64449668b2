import { lstat, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BlobStore, Bus } from '@flotilla/bus';
import {
  ChangeAwaitingApproval,
  type FlotillaEvent,
  GitCommitDetected,
  isEventOf,
  PlanCreated,
  RenderFailed,
} from '@flotilla/events';
import { firstRefusedCommit, type SignaturePolicy } from '@flotilla/git';
import {
  createBundle,
  decodeBundle,
  encodeBundle,
  isManifestError,
  type KubeObject,
  objectHash,
  sortObjects,
} from '@flotilla/manifests';
import {
  type DeclaredPipeline,
  formatPipelineIssue,
  isPipelineFile,
  PIPELINES_DIR,
  type Pipeline,
  type PipelineFile,
  type PipelineSet,
  parsePipelineSet,
  type Stage,
} from '@flotilla/policy';
import type { Logger } from '@flotilla/runtime';
import { withSpan } from '@flotilla/telemetry';
import { type SigningKey, signPlan } from '@flotilla/trust';
import { changeId, isGated, objectDiff, unexplainedCommits } from './change-gate.ts';
import type { ConfigRepo } from './config-repo.ts';
import { readMarkedImages } from './image-refs.ts';
import type { PipelineScope } from './pipeline-scope.ts';
import { type RenderBudgets, renderCluster } from './render.ts';
import { toImageRefs } from './stage-images.ts';
import type { ClusterState, PlannerState } from './state.ts';
import { readYamlFilesUnder } from './tree-files.ts';

export interface PlanRendererOptions {
  bus: Bus;
  repo: ConfigRepo;
  blobs: BlobStore;
  bundleBucket: string;
  state: PlannerState;
  signingKey: SigningKey;
  repoName: string;
  pipelineFile: string;
  kubectl: string;
  /** Clusters rendered at once (kubectl processes). */
  renderConcurrency?: number;
  /** The repository's signature policy (the git-watcher's, applied again before every render). */
  signature?: SignaturePolicy;
  /** Budgets of each cluster's render (defaults in @flotilla/render). */
  budgets?: Partial<RenderBudgets>;
  /**
   * The fencing token of our leader lease, read right before a plan is published; throws
   * `bus.lease-lost` once our claim ran out (a planner paused past its TTL must not publish).
   * It goes into the signed plan as `epoch`: a new leader's plans outrank every older one, also
   * when its KV state was lost and its sequences start again.
   */
  fence: () => number;
  logger: Logger;
}

/** One pipeline to render, with the state it renders into. */
export interface RenderTarget {
  scope: PipelineScope;
  pipeline: Pipeline;
  state: PlannerState;
}

/** A pipeline file larger than this is refused unread (a pipeline is a few KiB). */
const MAX_PIPELINE_BYTES = 256 * 1024;

/** What a render of one revision came to. */
export type RenderOutcome =
  | { kind: 'skipped' }
  /** No valid pipeline at all: RenderFailed published, nothing rendered. */
  | { kind: 'invalid' }
  /** A commit since the last rendered revision fails the signature policy: nothing rendered. */
  | { kind: 'refused' }
  /** `set` as declared (refused ones were reported); `rendered` are the pipelines in force. */
  | { kind: 'rendered'; set: PipelineSet; rendered: RenderTarget[] };

/**
 * Turns a config revision into signed plans: reads the pipeline, renders every cluster (bounded
 * concurrency), and publishes a plan for each cluster whose content changed, recording per
 * cluster what was asked for and per stage which images its files hold.
 */
export class PlanRenderer {
  private readonly log: Logger;
  private readonly cache = new Map<string, { inputDigest: string; objects: KubeObject[] }>();
  /** Timings of the last render, for benchmarks and logs: wall time of the kubectl phase vs all. */
  lastRender: { revision: string; renderMs: number; totalMs: number; plans: number } | null = null;

  constructor(private readonly o: PlanRendererOptions) {
    this.log = o.logger.child({ component: 'plan-renderer' });
  }

  /**
   * The pipelines declared at `revision`: the root file and `pipelines/*.yaml`, parsed as a set
   * (conflicts refuse only the pipelines involved).
   */
  async pipelinesAt(revision: string): Promise<{ files: number; set: PipelineSet }> {
    const tree = await this.o.repo.extract(revision);
    try {
      return await this.pipelinesIn(tree);
    } finally {
      await this.o.repo.release(tree);
    }
  }

  /**
   * The pipeline files of an extracted tree, read from disk (one git process per file would
   * cost seconds for hundreds of pipelines). Only regular files: a symlink is never followed
   * out of the repo, and an oversized file is refused, not read.
   */
  private async pipelinesIn(tree: string): Promise<{ files: number; set: PipelineSet }> {
    const { pipelineFile } = this.o;
    const files: PipelineFile[] = [];
    const unread: Array<{ file: string; code: 'pipeline-limit' | 'not-a-file'; message: string }> = [];
    const read = async (file: string) => {
      const st = await lstat(join(tree, file)).catch(() => null);
      if (!st) return;
      if (!st.isFile())
        unread.push({ file, code: 'not-a-file', message: 'is a symlink or not a regular file; not read' });
      else if (st.size > MAX_PIPELINE_BYTES)
        unread.push({
          file,
          code: 'pipeline-limit',
          message: `larger than ${MAX_PIPELINE_BYTES} bytes; not read`,
        });
      else files.push({ file, text: await readFile(join(tree, file), 'utf8') });
    };
    await read(pipelineFile);
    const dir = await lstat(join(tree, PIPELINES_DIR)).catch(() => null);
    if (dir?.isDirectory()) {
      for (const name of (await readdir(join(tree, PIPELINES_DIR))).sort()) {
        const file = `${PIPELINES_DIR}/${name}`;
        if (isPipelineFile(file, pipelineFile)) await read(file);
      }
    }
    const set = parsePipelineSet(files);
    for (const u of unread)
      set.refused.push({
        file: u.file,
        issues: [
          { file: u.file, line: 1, column: 1, path: '', pointer: '', code: u.code, message: u.message },
        ],
      });
    return { files: files.length + unread.length, set };
  }

  /** Renders every cluster at `revision`; publishes signed plans for clusters whose content changed. */
  async render(
    revision: string,
    targetOf: (declared: DeclaredPipeline) => RenderTarget,
    cause?: FlotillaEvent,
  ): Promise<RenderOutcome> {
    const { state } = this.o;
    const last = state.meta.lastRenderedRevision;
    if (last === revision) return { kind: 'skipped' };
    if (last && (await this.o.repo.isAncestor(revision, last))) {
      this.log.info({ revision, last }, 'older than the last rendered revision; skipped');
      return { kind: 'skipped' };
    }
    const ctx = cause ? { cause } : {};
    // Under `signatures: require` every commit since the last rendered revision (merged branches
    // and commits a push of ours rebased onto included; our own commits excepted) must verify, as
    // in the git-watcher; otherwise nothing is rendered, now or after a restart.
    if (this.o.signature?.policy === 'require') {
      const refusal = await firstRefusedCommit(this.o.repo.mirror, last ?? null, revision, this.o.signature, {
        trusted: new Set(this.o.state.meta.ownCommits ?? []),
      });
      if (refusal) {
        await this.o.bus.publish(
          RenderFailed,
          {
            repo: this.o.repoName,
            revision,
            file: '',
            code: refusal.code,
            message: `not rendered: commit ${refusal.sha} fails the signature policy (require): ${refusal.message}${refusal.lastGoodSha ? `; last good commit ${refusal.lastGoodSha}` : ''}`,
          },
          { ...ctx, id: `render-failed-${revision}-signature` },
        );
        this.log.warn(
          { revision, sha: refusal.sha, code: refusal.code },
          'commit fails the signature policy; not rendered',
        );
        return { kind: 'refused' };
      }
    }
    const tree = await withSpan('extract tree', { attributes: { 'flotilla.revision': revision } }, () =>
      this.o.repo.extract(revision),
    );
    try {
      return await this.renderTree(tree, revision, targetOf, cause, ctx);
    } finally {
      await this.o.repo.release(tree);
    }
  }

  private async renderTree(
    tree: string,
    revision: string,
    targetOf: (declared: DeclaredPipeline) => RenderTarget,
    cause: FlotillaEvent | undefined,
    ctx: { cause?: FlotillaEvent },
  ): Promise<RenderOutcome> {
    const { state } = this.o;
    const { files, set } = await this.pipelinesIn(tree);
    if (files === 0) {
      await this.o.bus.publish(
        RenderFailed,
        {
          repo: this.o.repoName,
          revision,
          file: this.o.pipelineFile,
          code: 'pipeline.missing',
          message: `neither ${this.o.pipelineFile} nor ${PIPELINES_DIR}/*.yaml exists at ${revision}`,
        },
        { ...ctx, id: `render-failed-${revision}-pipeline` },
      );
    }
    // Each refused pipeline is reported on its own; the others render as usual.
    for (const r of set.refused) {
      const first = r.issues[0];
      const root = r.file === this.o.pipelineFile;
      await this.o.bus.publish(
        RenderFailed,
        {
          ...(r.name && !root ? { pipeline: r.name } : {}),
          repo: this.o.repoName,
          revision,
          file: r.file,
          ...(first ? { line: first.line, column: first.column } : {}),
          code: first ? `pipeline.${first.code}` : 'pipeline.invalid',
          message: r.issues.map(formatPipelineIssue).join('\n').slice(0, 16_000),
        },
        { ...ctx, id: `render-failed-${revision}-${root ? 'pipeline' : r.file}` },
      );
      this.log.warn({ revision, file: r.file, issues: r.issues.length }, 'pipeline refused');
    }
    if (set.pipelines.length === 0) {
      state.meta.lastRenderedRevision = revision;
      await state.saveMeta();
      return { kind: 'invalid' };
    }
    const targets = set.pipelines.map(targetOf);
    const started = performance.now();
    let renderMs = 0;
    let plans = 0;
    state.meta.pipelineRevision = revision;
    {
      const jobs = targets.flatMap((target) =>
        target.pipeline.spec.stages.flatMap((stage) =>
          stage.clusters.map((cluster) => ({ target, stage, cluster })),
        ),
      );
      // Every cluster is rendered (bases may be shared), but those whose own directory the
      // commit touched go first: a commit to one of many pipelines gets its plans out without
      // waiting behind the others.
      const touched = touchedPaths(cause);
      if (touched.length > 0) {
        const hit = (path: string) => {
          const dir = `${path.replace(/^(\.\/)+/, '').replace(/\/+$/, '')}/`;
          return touched.some((f) => f.startsWith(dir));
        };
        jobs.sort((a, b) => Number(hit(b.cluster.path)) - Number(hit(a.cluster.path)));
      }
      const renderStart = performance.now();
      await inParallel(jobs, this.o.renderConcurrency ?? 4, async (j) => {
        const t = performance.now();
        const published = await this.renderOne(j.target, tree, revision, j.stage, j.cluster, cause, (ms) => {
          // Wall time from the first render starting to the last one finishing (they overlap).
          renderMs = Math.max(renderMs, t - renderStart + ms);
        });
        if (published) plans++;
      });
      // Each pipeline's stages record what images their files hold now (pipelines side by side).
      await inParallel(targets, 8, async ({ pipeline, state: ps }) => {
        for (const stage of pipeline.spec.stages) {
          const ss = ps.stage(stage.name);
          ss.revision = revision;
          ss.images = toImageRefs(
            readMarkedImages(
              await readYamlFilesUnder(
                tree,
                stage.clusters.map((c) => c.path),
              ),
              pipeline.spec.images ?? [],
            ),
            ps,
          );
          await ps.saveStage(ss);
        }
      });
    }
    state.meta.lastRenderedRevision = revision;
    await state.saveMeta();
    this.lastRender = { revision, renderMs, totalMs: performance.now() - started, plans };
    return { kind: 'rendered', set, rendered: targets };
  }

  private async renderOne(
    target: RenderTarget,
    tree: string,
    revision: string,
    stage: Stage,
    cluster: { name: string; path: string; targetNamespace?: string | undefined },
    cause?: FlotillaEvent,
    onRendered?: (ms: number) => void,
  ): Promise<boolean> {
    const { bus } = this.o;
    const { state, scope } = target;
    const c = state.cluster(cluster.name, stage.name);
    const failed = async (p: {
      file: string;
      line?: number;
      column?: number;
      code: string;
      message: string;
    }) => {
      c.lastRenderError = {
        file: p.file,
        code: p.code,
        message: p.message,
        revision,
        ...(p.line ? { line: p.line } : {}),
      };
      await state.saveCluster(c);
      await bus.publish(
        RenderFailed,
        {
          ...scope.field,
          repo: this.o.repoName,
          revision,
          stage: stage.name,
          cluster: cluster.name,
          file: p.file,
          ...(p.line ? { line: p.line } : {}),
          ...(p.column ? { column: p.column } : {}),
          code: p.code,
          message: p.message.slice(0, 16_000),
        },
        { ...(cause ? { cause } : {}), id: `render-failed-${revision}-${scope.idPrefix}${cluster.name}` },
      );
      this.log.warn(
        { pipeline: scope.name, cluster: cluster.name, revision, ...p },
        'render failed; no plan published',
      );
    };
    const t = performance.now();
    const spanAttrs = {
      'flotilla.pipeline': scope.name,
      'flotilla.cluster': cluster.name,
      'flotilla.revision': revision,
    };
    const result = await withSpan(
      'render',
      { attributes: { ...spanAttrs, 'flotilla.path': cluster.path } },
      () =>
        renderCluster(tree, cluster.path, {
          kubectl: this.o.kubectl,
          cache: this.cache,
          cacheKey: `${scope.idPrefix}${cluster.name}`,
          ...(this.o.budgets ? { budgets: this.o.budgets } : {}),
        }),
    );
    onRendered?.(performance.now() - t);
    if (!result.ok) {
      await failed(result.problem);
      return false;
    }
    const objects = sortObjects(result.objects);
    // targetNamespace is part of what the cluster runs: changing it alone makes a new plan.
    const contentDigest = objectHash({
      path: cluster.path,
      objects,
      ...(cluster.targetNamespace ? { targetNamespace: cluster.targetNamespace } : {}),
    });
    delete c.lastRenderError;
    c.renderedRevision = revision;
    if (c.desired?.contentDigest === contentDigest) {
      // Back to what runs (a held edit reverted): nothing is waiting any more.
      delete c.held;
      await state.saveCluster(c);
      return false;
    }
    let bytes: Uint8Array;
    try {
      bytes = encodeBundle(
        createBundle({
          cluster: cluster.name,
          revision,
          source: { repo: this.o.repoName, path: cluster.path },
          targetNamespace: cluster.targetNamespace,
          objects,
        }),
      );
    } catch (e) {
      if (!isManifestError(e)) throw e;
      await failed({ file: e.file ?? cluster.path, code: e.code, message: e.message });
      return false;
    }
    const digest = await this.o.blobs.put(bytes);
    const content = { revision, digest, size: bytes.byteLength, objects, contentDigest };
    if (await this.holdIfUngated(target, stage, cluster, c, content, cause)) return false;
    await this.issuePlan(target, stage, cluster, c, { ...content, objects: objects.length }, cause);
    return true;
  }

  /**
   * A gated stage (manual promotion rule) changes only through the planner's own commits
   * (approved promotions, rollbacks) or an approved change: content reached by any other commit
   * is held, announced with ChangeAwaitingApproval, and issued by `issueHeld` after approval.
   * Answers whether the plan was held.
   */
  private async holdIfUngated(
    target: RenderTarget,
    stage: Stage,
    cluster: { name: string; path: string },
    c: ClusterState,
    content: { revision: string; digest: string; size: number; objects: KubeObject[]; contentDigest: string },
    cause?: FlotillaEvent,
  ): Promise<boolean> {
    const { state, scope, pipeline } = target;
    // The first plan of a cluster has nothing running to compare with; it is the baseline.
    if (!c.desired || !isGated(stage)) return false;
    if (c.approvedChange?.contentDigest === content.contentDigest) return false;
    const own = new Set(this.o.state.meta.ownCommits ?? []);
    const commits = await unexplainedCommits(
      this.o.repo,
      own,
      c.desired.revision,
      content.revision,
      cluster.path,
      pipeline,
    );
    if (commits.length === 0) return false;
    const id = changeId(scope.idPrefix, cluster.name, content.revision, content.contentDigest);
    if (c.held?.changeId === id) {
      await state.saveCluster(c);
      return true;
    }
    const running = await this.objectsOf(c.desired.bundleDigest);
    c.held = {
      changeId: id,
      revision: content.revision,
      fromRevision: c.desired.revision,
      contentDigest: content.contentDigest,
      bundleDigest: content.digest,
      bundleSize: content.size,
      objects: content.objects.length,
      commits,
      heldAt: new Date().toISOString(),
    };
    await state.saveCluster(c);
    await this.o.bus.publish(
      ChangeAwaitingApproval,
      {
        ...scope.field,
        changeId: id,
        stage: stage.name,
        cluster: cluster.name,
        revision: content.revision,
        fromRevision: c.desired.revision,
        bundleDigest: content.digest,
        diff: objectDiff(running, content.objects),
        commits,
        approvers: stage.promotion?.approvers ?? [],
      },
      { ...(cause ? { cause } : {}), id: `${id}-awaiting` },
    );
    this.log.warn(
      { pipeline: scope.name, cluster: cluster.name, revision: content.revision, changeId: id },
      'change to a gated stage without a promotion: plan held for approval',
    );
    return true;
  }

  /** The objects of a bundle already issued (empty when it is gone from the store). */
  private async objectsOf(digest: string): Promise<KubeObject[]> {
    try {
      const decoded = decodeBundle(await this.o.blobs.get(digest), { expectedDigest: digest });
      return decoded.ok ? decoded.bundle.objects : [];
    } catch {
      return [];
    }
  }

  /**
   * Issues the plan of a held change after its approval (recorded by the caller, whose
   * ChangeApproved event precedes this plan).
   */
  async issueHeld(
    target: RenderTarget,
    stage: Stage,
    cluster: { name: string; path: string; targetNamespace?: string | undefined },
  ): Promise<void> {
    const c = target.state.cluster(cluster.name, stage.name);
    const held = c.held;
    if (!held) return;
    await this.issuePlan(target, stage, cluster, c, {
      revision: held.revision,
      digest: held.bundleDigest,
      size: held.bundleSize,
      objects: held.objects,
      contentDigest: held.contentDigest,
    });
  }

  /** Signs and publishes the plan of `content` for `cluster`, and records it as desired. */
  private async issuePlan(
    target: RenderTarget,
    stage: Stage,
    cluster: { name: string; path: string; targetNamespace?: string | undefined },
    c: ClusterState,
    content: { revision: string; digest: string; size: number; objects: number; contentDigest: string },
    cause?: FlotillaEvent,
  ): Promise<void> {
    const { bus } = this.o;
    const { state, scope } = target;
    const { revision, digest } = content;
    const epoch = this.o.fence();
    // A new epoch starts its own sequence: after a state loss the counter restarts, the epoch does not.
    const sequence = (c.epoch ?? epoch) === epoch ? c.sequence + 1 : 1;
    const planId = `${scope.idPrefix}${cluster.name}-${sequence}-${digest.slice(7, 19)}`;
    const createdAt = new Date().toISOString();
    const plan = await withSpan(
      'sign',
      {
        attributes: {
          'flotilla.pipeline': scope.name,
          'flotilla.cluster': cluster.name,
          'flotilla.revision': revision,
          'flotilla.plan': planId,
        },
      },
      async () =>
        signPlan(
          {
            ...scope.field,
            planId,
            cluster: cluster.name,
            stage: stage.name,
            repo: this.o.repoName,
            revision,
            path: cluster.path,
            sequence,
            epoch,
            bundle: { digest, size: content.size, objects: content.objects, bucket: this.o.bundleBucket },
            ...(c.desired ? { previousDigest: c.desired.bundleDigest } : {}),
            ...(target.pipeline.spec.tenant ? { tenant: target.pipeline.spec.tenant } : {}),
            createdAt,
          },
          this.o.signingKey,
        ),
    );
    // Publish first, record after: a crash in between re-renders the same revision into the same
    // plan id, which the stream's dedupe window swallows.
    await bus.publish(PlanCreated, plan, { ...(cause ? { cause } : {}), id: planId });
    c.sequence = sequence;
    c.epoch = epoch;
    c.desired = {
      planId,
      revision,
      sequence,
      bundleDigest: digest,
      contentDigest: content.contentDigest,
      objects: content.objects,
      createdAt,
    };
    delete c.held;
    await state.saveCluster(c);
    this.log.info({ pipeline: scope.name, cluster: cluster.name, revision, planId, digest }, 'plan created');
  }
}

/** Files a commit event says it changed (empty when the render has another cause). */
function touchedPaths(cause: FlotillaEvent | undefined): string[] {
  return cause && isEventOf(GitCommitDetected, cause) ? cause.data.paths : [];
}

/** Runs `fn` over `items`, at most `limit` at a time; the first failure rejects. */
async function inParallel<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
}
