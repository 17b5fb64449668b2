import type { BlobStore, Bus } from '@flotilla/bus';
import { type FlotillaEvent, PlanCreated, RenderFailed } from '@flotilla/events';
import {
  createBundle,
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
import { type SigningKey, signPlan } from '@flotilla/trust';
import type { ConfigRepo } from './config-repo.ts';
import { readMarkedImages } from './image-refs.ts';
import type { PipelineScope } from './pipeline-scope.ts';
import { renderCluster } from './render.ts';
import { toImageRefs } from './stage-images.ts';
import type { PlannerState } from './state.ts';
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
  logger: Logger;
}

/** One pipeline to render, with the state it renders into. */
export interface RenderTarget {
  scope: PipelineScope;
  pipeline: Pipeline;
  state: PlannerState;
}

/** What a render of one revision came to. */
export type RenderOutcome =
  | { kind: 'skipped' }
  /** No valid pipeline at all: RenderFailed published, nothing rendered. */
  | { kind: 'invalid' }
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
    const { repo, pipelineFile } = this.o;
    const files: PipelineFile[] = [];
    const root = await repo.readFile(revision, pipelineFile);
    if (root !== null) files.push({ file: pipelineFile, text: root });
    for (const file of await repo.listFiles(revision, PIPELINES_DIR)) {
      if (!isPipelineFile(file, pipelineFile)) continue;
      const text = await repo.readFile(revision, file);
      if (text !== null) files.push({ file, text });
    }
    return { files: files.length, set: parsePipelineSet(files) };
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
    const { files, set } = await this.pipelinesAt(revision);
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
    const tree = await this.o.repo.extract(revision);
    try {
      const jobs = targets.flatMap((target) =>
        target.pipeline.spec.stages.flatMap((stage) =>
          stage.clusters.map((cluster) => ({ target, stage, cluster })),
        ),
      );
      const renderStart = performance.now();
      await inParallel(jobs, this.o.renderConcurrency ?? 4, async (j) => {
        const t = performance.now();
        const published = await this.renderOne(j.target, tree, revision, j.stage, j.cluster, cause, (ms) => {
          // Wall time from the first render starting to the last one finishing (they overlap).
          renderMs = Math.max(renderMs, t - renderStart + ms);
        });
        if (published) plans++;
      });
      for (const { pipeline, state: ps } of targets) {
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
      }
    } finally {
      await this.o.repo.release(tree);
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
    const result = await renderCluster(tree, cluster.path, {
      kubectl: this.o.kubectl,
      cache: this.cache,
      cacheKey: `${scope.idPrefix}${cluster.name}`,
    });
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
    const sequence = c.sequence + 1;
    const planId = `${scope.idPrefix}${cluster.name}-${sequence}-${digest.slice(7, 19)}`;
    const createdAt = new Date().toISOString();
    const plan = signPlan(
      {
        ...scope.field,
        planId,
        cluster: cluster.name,
        stage: stage.name,
        repo: this.o.repoName,
        revision,
        path: cluster.path,
        sequence,
        bundle: { digest, size: bytes.byteLength, objects: objects.length, bucket: this.o.bundleBucket },
        ...(c.desired ? { previousDigest: c.desired.bundleDigest } : {}),
        createdAt,
      },
      this.o.signingKey,
    );
    // Publish first, record after: a crash in between re-renders the same revision into the same
    // plan id, which the stream's dedupe window swallows.
    await bus.publish(PlanCreated, plan, { ...(cause ? { cause } : {}), id: planId });
    c.sequence = sequence;
    c.desired = {
      planId,
      revision,
      sequence,
      bundleDigest: digest,
      contentDigest,
      objects: objects.length,
      createdAt,
    };
    await state.saveCluster(c);
    this.log.info({ pipeline: scope.name, cluster: cluster.name, revision, planId, digest }, 'plan created');
    return true;
  }
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
