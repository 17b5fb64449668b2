import { createHash } from 'node:crypto';
import { dirname } from 'node:path';
import { Semaphore } from '@flotilla/async';
import type { Bus } from '@flotilla/bus';
import { messageOf } from '@flotilla/errors';
import {
  ChangeAwaitingApproval,
  type FlotillaEvent,
  PlanCreated,
  RenderFailed,
  scrubApiMessage,
} from '@flotilla/events';
import { firstRefusedCommit, type GitError, type SignaturePolicy } from '@flotilla/git';
import {
  bundleContentDigest,
  createBundle,
  decodeBundle,
  encodeBundle,
  isManifestError,
  type KubeObject,
  sortObjects,
} from '@flotilla/manifests';
import {
  formatPipelineIssue,
  PIPELINES_DIR,
  type Pipeline,
  type PipelineSet,
  parsePipelineSet,
  type Stage,
} from '@flotilla/policy';
import type { Logger } from '@flotilla/runtime';
import { withSpan } from '@flotilla/telemetry';
import { type SigningKey, signPlan } from '@flotilla/trust';
import {
  changeId,
  isGated,
  type ObjectIndex,
  objectDiff,
  objectIndex,
  unexplainedCommits,
} from './change-gate.ts';
import type { ClusterBundles } from './cluster-bundles.ts';
import type { ConfigRepo } from './config-repo.ts';
import { type FoundImage, readMarkedImages } from './image-refs.ts';
import { pipelineSetOf, readPipelineFiles } from './pipeline-files.ts';
import type { PipelineScope } from './pipeline-scope.ts';
import { type RenderBudgets, type RenderProblem, renderCluster } from './render.ts';
import { toImageRefs } from './stage-images.ts';
import type { ClusterState, PlannerState } from './state.ts';
import { readYamlFilesUnder } from './tree-files.ts';

export interface PlanRendererOptions {
  bus: Bus;
  repo: ConfigRepo;
  bundles: ClusterBundles;
  state: PlannerState;
  signingKey: SigningKey;
  repoName: string;
  pipelineFile: string;
  kubectl: string;
  /** What builds kustomizations (`auto`, `kubectl` or a flotilla-kustomize path; @flotilla/render). */
  kustomize?: string;
  /** Clusters rendered at once (renderer processes). */
  renderConcurrency?: number;
  /** The repository's signature policy (the git-watcher's, applied again before every render). */
  signature?: SignaturePolicy;
  /** Budgets of each cluster's render (defaults in @flotilla/render). */
  budgets?: Partial<RenderBudgets>;
  /**
   * The fencing token of the lease covering `pipeline` (the leader's, or the pipeline's own when
   * sharded), read right before a plan is published; throws `bus.lease-lost` once our claim ran
   * out (a planner paused past its TTL must not publish). It goes into the signed plan as
   * `epoch`: a new holder's plans outrank every older one, also when its KV state was lost and
   * its sequences start again.
   */
  fence: (pipeline: string) => number;
  logger: Logger;
}

/** One pipeline to render, with the state it renders into. */
export interface RenderTarget {
  scope: PipelineScope;
  pipeline: Pipeline;
  state: PlannerState;
}

/** A revision extracted, with its pipelines parsed: what its pipelines render from. */
export interface OpenedRevision {
  revision: string;
  tree: string;
  /** Pipeline files found (0: neither the root file nor pipelines/ exists). */
  files: number;
  set: PipelineSet;
}

/** Runs `fn` as one of the planner's decisions (its serial queue). */
export type Decide = <T>(fn: () => Promise<T>) => Promise<T>;

/** What rendering one pipeline at one revision came to. */
export interface PipelineRenderResult {
  plans: number;
  /** Wall time of the render phase (renderers overlap). */
  renderMs: number;
  /**
   * Repo-relative files and directories (ending in `/`) whose content made the output: a commit
   * touching none of them leaves this pipeline's plans as they are. Null when a cluster was
   * refused (what it would read is unknown).
   */
  sources: string[] | null;
}

/**
 * Turns a config revision into signed plans, in steps the planner schedules: the signature
 * policy, opening a revision (extract, parse the pipeline set, report refused pipelines), and
 * rendering one pipeline, whose clusters render outside the planner's decisions and whose
 * results (plan, state) are recorded through `decide`. Clusters are rendered at most
 * `renderConcurrency` at once across all pipelines.
 */
export class PlanRenderer {
  private readonly log: Logger;
  private readonly cache = new Map<string, { inputDigest: string; objects: KubeObject[] }>();
  private readonly slots: Semaphore;
  /** Cache key → a render ahead of that cluster still running (a render of it waits for it). */
  private readonly ahead = new Map<string, Promise<void>>();
  /** The pipelines of the revision opened last. */
  private lastOpened: { revision: string; files: number; set: PipelineSet } | undefined;
  /** The pipeline set parsed last, by a digest of every file it was parsed from. */
  private lastParse: { digest: string; set: PipelineSet } | undefined;

  constructor(private readonly o: PlanRendererOptions) {
    this.log = o.logger.child({ component: 'plan-renderer' });
    this.slots = new Semaphore(Math.max(1, o.renderConcurrency ?? 4));
  }

  /**
   * The pipelines declared at `revision`: the root file and `pipelines/*.yaml`, parsed as a set
   * (conflicts refuse only the pipelines involved).
   */
  async pipelinesAt(revision: string): Promise<{ files: number; set: PipelineSet }> {
    const tree = await this.o.repo.checkout(revision);
    try {
      return await this.pipelinesIn(tree);
    } finally {
      await this.o.repo.release(tree);
    }
  }

  /** The pipelines of an extracted tree (see {@link readPipelineFiles}). */
  private async pipelinesIn(tree: string): Promise<{ files: number; set: PipelineSet }> {
    const read = await readPipelineFiles(tree, this.o.pipelineFile);
    // Most commits change no pipeline file: the set parsed last time is the same (parsing and
    // checking hundreds of pipelines against each other is the costly part, not reading them).
    const key = createHash('sha256');
    for (const f of read.files) key.update(`${f.file}\0${f.text}\0`);
    const digest = key.digest('hex');
    const parsed = this.lastParse?.digest === digest ? this.lastParse.set : parsePipelineSet(read.files);
    this.lastParse = { digest, set: parsed };
    return { files: read.files.length + read.unread.length, set: pipelineSetOf(read, parsed) };
  }

  /**
   * Under `signatures: require` every commit in `since..revision` (merged branches and commits a
   * push of ours rebased onto included; our own commits excepted) must verify, as in the
   * git-watcher; otherwise nothing is rendered, now or after a restart (RenderFailed says why).
   */
  async signatureAllows(revision: string, since: string | null, cause?: FlotillaEvent): Promise<boolean> {
    if (this.o.signature?.policy !== 'require') return true;
    const refusal = await firstRefusedCommit(this.o.repo.mirror, since, revision, this.o.signature, {
      trusted: new Set(this.o.state.meta.ownCommits ?? []),
    });
    if (!refusal) return true;
    await this.o.bus.publish(
      RenderFailed,
      {
        repo: this.o.repoName,
        revision,
        file: '',
        code: refusal.code,
        message: `not rendered: commit ${refusal.sha} fails the signature policy (require): ${refusal.message}${refusal.lastGoodSha ? `; last good commit ${refusal.lastGoodSha}` : ''}`,
      },
      { ...(cause ? { cause } : {}), id: `render-failed-${revision}-signature` },
    );
    this.log.warn(
      { revision, sha: refusal.sha, code: refusal.code },
      'commit fails the signature policy; not rendered',
    );
    return false;
  }

  /**
   * A revision whose tree cannot be read as a whole (a file over `git.maxObjectBytes`): nothing
   * of it is rendered, and RenderFailed names the file. A later commit that removes it renders.
   */
  async reportUnreadable(revision: string, err: GitError, cause?: FlotillaEvent): Promise<void> {
    const path = typeof err.details.path === 'string' ? err.details.path : '';
    await this.o.bus.publish(
      RenderFailed,
      {
        repo: this.o.repoName,
        revision,
        file: path,
        code: err.code,
        message: `not rendered: ${err.message}`.slice(0, 16_000),
      },
      { ...(cause ? { cause } : {}), id: `render-failed-${revision}-unreadable` },
    );
    this.log.warn(
      { revision, file: path, code: err.code },
      'revision not rendered: a file is too large to read',
    );
  }

  /**
   * The tree of `revision`, to `open` (or give back with `releaseTree`), and with `since` the
   * paths changed since then when the trees tell (see ConfigRepo.checkoutChanges).
   */
  checkout(revision: string, since?: string): Promise<{ dir: string; changed: string[] | null }> {
    return withSpan('check out tree', { attributes: { 'flotilla.revision': revision } }, () =>
      this.o.repo.checkoutChanges(revision, since),
    );
  }

  releaseTree(tree: string): Promise<void> {
    return this.o.repo.release(tree);
  }

  /**
   * Parses the pipelines of `revision`, checked out in `tree`; every refused pipeline file (and a
   * revision with none at all) is reported on its own, the others render as usual. The caller
   * releases the tree once every pipeline rendered from it (on failure here, it is released).
   */
  async open(
    revision: string,
    tree: string,
    cause?: FlotillaEvent,
    /** What changed since a revision (the paths of `since..revision`), when git said. */
    change?: { since: string; paths: readonly string[] },
  ): Promise<OpenedRevision> {
    try {
      // A commit that touched no pipeline file has the pipelines of the revision before it: not
      // even read again (hundreds of files to stat and read, most of a commit's path otherwise).
      const last = this.lastOpened;
      const same =
        last !== undefined &&
        change !== undefined &&
        last.revision === change.since &&
        !touchesPipelineFiles(change.paths, this.o.pipelineFile);
      const { files, set } = same ? last : await this.pipelinesIn(tree);
      this.lastOpened = { revision, files, set };
      await this.reportRefusals(revision, files, set, cause);
      return { revision, tree, files, set };
    } catch (e) {
      await this.o.repo.release(tree);
      throw e;
    }
  }

  async release(opened: OpenedRevision): Promise<void> {
    await this.o.repo.release(opened.tree);
  }

  private async reportRefusals(
    revision: string,
    files: number,
    set: PipelineSet,
    cause: FlotillaEvent | undefined,
  ): Promise<void> {
    const ctx = cause ? { cause } : {};
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
  }

  /**
   * Renders every cluster of one pipeline at an opened revision and publishes a signed plan for
   * each whose content changed; then records which images each stage's files hold. Renders run
   * outside the planner's decisions (they may take seconds); only what reads or writes the
   * pipeline's state runs through `decide`.
   */
  async renderPipeline(
    target: RenderTarget,
    opened: OpenedRevision,
    decide: Decide,
    cause?: FlotillaEvent,
  ): Promise<PipelineRenderResult> {
    const { tree, revision } = opened;
    const { pipeline, state: ps } = target;
    const jobs = pipeline.spec.stages.flatMap((stage) =>
      stage.clusters.map((cluster) => ({ stage, cluster })),
    );
    const sources = new Set<string>();
    let known = true;
    let plans = 0;
    let renderMs = 0;
    const renderStart = performance.now();
    // The stages' images (files read here, digests looked up when recorded), read while the
    // clusters render: they come from the same tree, and waiting for one after the other was
    // a step of every commit's path to its plans.
    const images = this.stageImages(tree, pipeline);
    images.catch(() => {});
    const rendered = new Array<Rendered>(jobs.length);
    await inParallel(
      jobs.map((j, i) => ({ ...j, i })),
      this.o.renderConcurrency ?? 4,
      async ({ cluster, i }) => {
        // Outside the slots: the render ahead holds one.
        await this.ahead.get(cacheKey(target, cluster));
        const r = await this.slots.run(async () => {
          const t = performance.now();
          const r = await this.renderOne(target, tree, revision, cluster);
          // Wall time from the first render starting to the last one finishing (they overlap).
          renderMs = Math.max(renderMs, t - renderStart + (performance.now() - t));
          return r;
        });
        rendered[i] = r;
        if (!r.ok) known = false;
        for (const s of r.sources) sources.add(s);
      },
    );
    const found = await images;
    // One decision records the pipeline at this revision: what each stage's files hold, then its
    // plans, so a health report for a new plan always finds the images it runs.
    // Stages and clusters side by side: every one is its own key, and a cluster's writes (object
    // index, plan, state) stay in order within it; a cluster's object index is written while the
    // stages are, and nothing of a cluster is published or saved beyond it before they are.
    // One after another they were most of a commit's path once rendered (a KV or stream round
    // trip each).
    await decide(async () => {
      const stagesSaved = Promise.all(
        pipeline.spec.stages.map((stage) => {
          const ss = ps.stage(stage.name);
          ss.revision = revision;
          ss.images = toImageRefs(found.get(stage.name) ?? [], ps);
          return ps.saveStage(ss);
        }),
      );
      // Awaited by every cluster's record, and below; a failure must not count as unhandled.
      stagesSaved.catch(() => {});
      const issued = await Promise.all(
        jobs.map(({ stage, cluster }, i) =>
          this.record(target, revision, stage, cluster, rendered[i] as Rendered, cause, {
            after: stagesSaved,
          }),
        ),
      );
      await stagesSaved;
      plans += issued.filter(Boolean).length;
    });
    return { plans, renderMs, sources: known ? [...sources].sort() : null };
  }

  /** Per stage, the images its clusters' files hold (marked fields), read from `tree`. */
  private async stageImages(tree: string, pipeline: Pipeline): Promise<Map<string, FoundImage[]>> {
    const found = new Map<string, FoundImage[]>();
    for (const stage of pipeline.spec.stages)
      found.set(
        stage.name,
        readMarkedImages(
          await readYamlFilesUnder(
            tree,
            stage.clusters.map((c) => c.path),
          ),
          pipeline.spec.images ?? [],
        ),
      );
    return found;
  }

  /**
   * Renders, ahead of its push, the clusters of a commit of ours whose directory holds a file the
   * commit wrote, from the commit in the work tree's repository; only the render cache keeps the
   * result. The render of the pushed head then finds them there (equal input digests: the very
   * files) instead of starting kubectl after the push, fetch and extract; a render of a cluster
   * waits for its render ahead. Nothing is published here, and a push that is refused or rebased
   * onto other changes costs at most this render: the cache answers only for identical inputs.
   * Not under `signatures: require`, whose check comes before anything of a revision renders.
   */
  renderAhead(revision: string, written: readonly string[], targets: readonly RenderTarget[]): void {
    if (this.o.signature?.policy === 'require' || written.length === 0) return;
    const files = written.map(repoPath);
    const jobs = targets.flatMap((target) =>
      target.pipeline.spec.stages.flatMap((stage) =>
        stage.clusters
          .filter((c) => files.some((f) => f.startsWith(`${repoPath(c.path)}/`)))
          .map((cluster) => ({ target, cluster, key: cacheKey(target, cluster) })),
      ),
    );
    const fresh = jobs.filter((j) => !this.ahead.has(j.key));
    if (fresh.length === 0) return;
    const done = (async () => {
      const tree = await this.o.repo.extract(revision, { from: 'workspace' });
      try {
        await Promise.all(
          fresh.map(({ target, cluster, key }) =>
            this.slots.run(() =>
              withSpan(
                'render ahead',
                {
                  attributes: {
                    'flotilla.pipeline': target.scope.name,
                    'flotilla.cluster': cluster.name,
                    'flotilla.revision': revision,
                  },
                },
                () =>
                  renderCluster(tree, cluster.path, {
                    kubectl: this.o.kubectl,
                    ...(this.o.kustomize ? { kustomize: this.o.kustomize } : {}),
                    cache: this.cache,
                    cacheKey: key,
                    ...(this.o.budgets ? { budgets: this.o.budgets } : {}),
                  }),
              ),
            ),
          ),
        );
      } finally {
        await this.o.repo.release(tree);
      }
    })().catch((e) =>
      this.log.warn({ err: messageOf(e), revision }, 'render ahead failed; renders after the push'),
    );
    for (const { key } of fresh) {
      this.ahead.set(key, done);
      void done.finally(() => {
        if (this.ahead.get(key) === done) this.ahead.delete(key);
      });
    }
  }

  /**
   * Renders one cluster, outside the planner's decisions. When its content differs from the
   * last plan's, the bundle is encoded and stored already (content-addressed, so an unused one
   * costs nothing); `record` decides.
   */
  private async renderOne(
    target: RenderTarget,
    tree: string,
    revision: string,
    cluster: { name: string; path: string; targetNamespace?: string | undefined },
  ): Promise<Rendered> {
    const { scope, state } = target;
    const clusterDir = `${cluster.path.replace(/^(\.\/)+/, '').replace(/\/+$/, '')}/`;
    const result = await withSpan(
      'render',
      {
        attributes: {
          'flotilla.pipeline': scope.name,
          'flotilla.cluster': cluster.name,
          'flotilla.revision': revision,
          'flotilla.path': cluster.path,
        },
      },
      () =>
        renderCluster(tree, cluster.path, {
          kubectl: this.o.kubectl,
          ...(this.o.kustomize ? { kustomize: this.o.kustomize } : {}),
          cache: this.cache,
          cacheKey: cacheKey(target, cluster),
          ...(this.o.budgets ? { budgets: this.o.budgets } : {}),
        }),
    );
    // A refused render has no known inputs: the pipeline renders again at the next commit.
    if (!result.ok) return { ok: false, problem: result.problem, sources: [] };
    // The whole cluster directory (new files there count, image markers are read there) and the
    // directory of every other input (a base's kustomization and what sits beside it).
    const sources = [clusterDir, ...new Set(result.inputs.map((f) => `${dirname(f)}/`))];
    const objects = sortObjects(result.objects);
    // targetNamespace is part of what the cluster runs: changing it alone makes a new plan.
    const contentDigest = bundleContentDigest({
      source: { path: cluster.path },
      objects,
      targetNamespace: cluster.targetNamespace,
    });
    if (state.clusters.get(cluster.name)?.desired?.contentDigest === contentDigest)
      return { ok: true, contentDigest, objects: objects.length, objectList: objects, sources };
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
      return {
        ok: false,
        problem: { file: e.file ?? cluster.path, code: e.code, message: e.message },
        sources: [],
      };
    }
    // Into the cluster's own store, sealed to its key when it has one: size and digest are of
    // what is stored (the ciphertext), which is what the plan signs.
    const stored = await this.o.bundles.put(cluster.name, bytes);
    return {
      ok: true,
      contentDigest,
      objects: objects.length,
      objectList: objects,
      bundle: { digest: stored.digest, size: stored.size },
      sources,
    };
  }

  /**
   * What `clusterPath` renders at `revision`, after `edit` changed the extracted tree (a
   * promotion's image rewrite), for diffs a person reviews. Nothing is stored or published; it
   * takes one of the render slots like any render, so previews never add kubectl processes.
   */
  async preview(
    revision: string,
    clusterPath: string,
    edit?: (tree: string) => Promise<void>,
  ): Promise<{ ok: true; objects: KubeObject[] } | { ok: false; problem: RenderProblem }> {
    return await this.slots.run(async () => {
      const tree = await this.o.repo.extract(revision);
      try {
        await edit?.(tree);
        const r = await renderCluster(tree, clusterPath, {
          kubectl: this.o.kubectl,
          ...(this.o.kustomize ? { kustomize: this.o.kustomize } : {}),
          ...(this.o.budgets ? { budgets: this.o.budgets } : {}),
        });
        return r.ok
          ? { ok: true as const, objects: sortObjects(r.objects) }
          : { ok: false as const, problem: r.problem };
      } finally {
        await this.o.repo.release(tree);
      }
    });
  }

  /**
   * A pipeline removed from the repo under `deletionPolicy: prune`: each of its clusters gets a
   * signed plan with no objects, and the applier prunes that pipeline's inventory (only it). The
   * removal was declared in the pipeline's own file, so no change gate applies. Answers how many
   * plans were published (none for a cluster already empty).
   */
  async retirePipeline(
    target: RenderTarget,
    revision: string,
    decide: Decide,
    cause?: FlotillaEvent,
  ): Promise<number> {
    let plans = 0;
    for (const stage of target.pipeline.spec.stages)
      for (const cluster of stage.clusters) {
        const bytes = encodeBundle(
          createBundle({
            cluster: cluster.name,
            revision,
            source: { repo: this.o.repoName, path: cluster.path },
            targetNamespace: cluster.targetNamespace,
            objects: [],
          }),
        );
        const stored = await this.o.bundles.put(cluster.name, bytes);
        const contentDigest = bundleContentDigest({
          source: { path: cluster.path },
          objects: [],
          targetNamespace: cluster.targetNamespace,
        });
        const empty: Rendered = {
          ok: true,
          contentDigest,
          objects: 0,
          objectList: [],
          bundle: { digest: stored.digest, size: stored.size },
          sources: [],
        };
        if (await decide(() => this.record(target, revision, stage, cluster, empty, cause, { gate: false })))
          plans++;
      }
    return plans;
  }

  /** Records a cluster's render: a signed plan when its content changed, or the refusal. */
  private async record(
    target: RenderTarget,
    revision: string,
    stage: Stage,
    cluster: { name: string; path: string },
    r: Rendered,
    cause?: FlotillaEvent,
    /** `gate: false`: no change gate (a removal); `after`: what must be saved before anything here is. */
    opts: { gate?: boolean; after?: Promise<unknown> } = {},
  ): Promise<boolean> {
    const { bus } = this.o;
    const { state, scope } = target;
    const c = state.cluster(cluster.name, stage.name);
    if (!r.ok) {
      await opts.after;
      // kustomize and the manifest checks can quote a Secret's value in their errors; the message
      // goes to the state, RenderFailed, the audit log and the logs, so it is scrubbed once, here.
      const p = { ...r.problem, message: scrubApiMessage(r.problem.message) };
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
      return false;
    }
    delete c.lastRenderError;
    c.renderedRevision = revision;
    if (c.desired?.contentDigest === r.contentDigest || !r.bundle) {
      await opts.after;
      // Back to what runs (a held edit reverted): nothing is waiting any more.
      if (c.desired?.contentDigest === r.contentDigest) delete c.held;
      await state.saveCluster(c);
      return false;
    }
    const { digest, size } = r.bundle;
    // Before anything is held or issued: once sealed, the bundle never opens for the planner again.
    const index = objectIndex(r.objectList);
    await state.saveObjectIndex(cluster.name, digest, index, [c.desired?.bundleDigest, c.held?.bundleDigest]);
    await opts.after;
    const content = { revision, digest, size, objects: index, contentDigest: r.contentDigest };
    if (opts.gate !== false && (await this.holdIfUngated(target, stage, cluster, c, content, cause)))
      return false;
    await this.issuePlan(target, stage, cluster, c, { ...content, objects: r.objects }, cause);
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
    content: { revision: string; digest: string; size: number; objects: ObjectIndex; contentDigest: string },
    cause?: FlotillaEvent,
  ): Promise<boolean> {
    const { state, scope, pipeline } = target;
    // A stage whose last plan was issued under a manual rule stays gated until one approval.
    if (!(isGated(stage) || c.gatedBy)) return false;
    // The first plan of a gated cluster is no exception: nothing running to compare with means
    // everything is new, not that nothing needs approving. Only an explicit `bootstrap: allow`
    // (a stage bootstrapped from a reviewed commit) issues it unapproved.
    const first = !c.desired;
    if (first && stage.promotion?.bootstrap === 'allow') return false;
    if (c.approvedChange?.contentDigest === content.contentDigest) return false;
    const own = new Set(this.o.state.meta.ownCommits ?? []);
    const commits = await unexplainedCommits(
      this.o.repo,
      own,
      c.desired?.revision ?? null,
      content.revision,
      cluster.path,
      pipeline,
    );
    if (commits.length === 0 && !first) return false;
    const id = changeId(scope.idPrefix, cluster.name, content.revision, content.contentDigest);
    if (c.held?.changeId === id) {
      await state.saveCluster(c);
      return true;
    }
    const running = c.desired ? await this.objectsOf(state, cluster.name, c.desired.bundleDigest) : {};
    const fromRevision = c.desired ? { fromRevision: c.desired.revision } : {};
    c.held = {
      changeId: id,
      revision: content.revision,
      ...fromRevision,
      contentDigest: content.contentDigest,
      bundleDigest: content.digest,
      bundleSize: content.size,
      objects: Object.keys(content.objects).length,
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
        ...fromRevision,
        bundleDigest: content.digest,
        diff: objectDiff(running, content.objects),
        commits,
        approvers: isGated(stage) ? (stage.promotion?.approvers ?? []) : (c.gatedBy ?? []),
      },
      { ...(cause ? { cause } : {}), id: `${id}-awaiting` },
    );
    this.log.warn(
      { pipeline: scope.name, cluster: cluster.name, revision: content.revision, changeId: id, first },
      first
        ? "gated stage's first plan: held for approval (bootstrap: allow issues it unapproved)"
        : 'change to a gated stage without a promotion: plan held for approval',
    );
    return true;
  }

  /**
   * The object index of a bundle already issued: the one recorded when it was rendered (a sealed
   * bundle never opens for the planner), else, for a plan issued before indexes were recorded,
   * the bundle's own objects if it is plaintext; empty when neither exists.
   */
  private async objectsOf(state: PlannerState, cluster: string, digest: string): Promise<ObjectIndex> {
    const recorded = await state.objectIndex(cluster, digest);
    if (recorded) return recorded;
    try {
      const plain = await this.o.bundles.read(cluster, digest);
      if (!plain) return {};
      const decoded = decodeBundle(plain, { expectedDigest: digest });
      return decoded.ok ? objectIndex(decoded.bundle.objects) : {};
    } catch {
      return {};
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
    const epoch = this.o.fence(scope.name);
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
            bundle: {
              digest,
              size: content.size,
              objects: content.objects,
              bucket: this.o.bundles.bucketOf(cluster.name),
              contentDigest: content.contentDigest,
            },
            ...(c.desired ? { previousDigest: c.desired.bundleDigest } : {}),
            ...(target.pipeline.spec.tenant ? { tenant: target.pipeline.spec.tenant } : {}),
            createdAt,
          },
          this.o.signingKey,
        ),
    );
    // A saved approval's event (ChangeApproved) precedes the plan it releases.
    await state.publishClusterOutbox(cluster.name, (e) => bus.publishEvent(e));
    // Publish first, record after: a crash in between re-renders the same revision into the same
    // plan id, which the stream's dedupe window swallows.
    await bus.publish(PlanCreated, plan, { ...(cause ? { cause } : {}), id: planId });
    c.sequence = sequence;
    c.epoch = epoch;
    // Remembered so that loosening the gate (manual → auto in the same or a later commit) is
    // itself a change that needs one approval by the approvers in force until then.
    if (isGated(stage)) c.gatedBy = stage.promotion?.approvers ?? [];
    else delete c.gatedBy;
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

/** One cluster rendered, before the planner recorded it. */
type Rendered =
  | { ok: false; problem: RenderProblem; sources: string[] }
  | {
      ok: true;
      contentDigest: string;
      objects: number;
      /** The objects themselves (what a held change's diff shows). */
      objectList: KubeObject[];
      /** Set when the content differs from the last plan's (the bundle is stored). */
      bundle?: { digest: string; size: number };
      /** Repo-relative files and directories (ending in `/`) the output was made from. */
      sources: string[];
    };

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

/** Whether any of `paths` (repo-relative) is the root pipeline file or lies under `pipelines/`. */
function touchesPipelineFiles(paths: readonly string[], pipelineFile: string): boolean {
  const root = repoPath(pipelineFile);
  return paths.some((p) => {
    const path = repoPath(p);
    return path === root || path === PIPELINES_DIR || path.startsWith(`${PIPELINES_DIR}/`);
  });
}

/** A path as the repo spells it: no leading `./`, no trailing `/`. */
const repoPath = (p: string) => p.replace(/^(\.\/)+/, '').replace(/\/+$/, '');

/** The render cache's key of a pipeline's cluster. */
const cacheKey = (target: RenderTarget, cluster: { name: string }) =>
  `${target.scope.idPrefix}${cluster.name}`;
