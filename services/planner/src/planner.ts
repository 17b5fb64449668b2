import type { BlobStore, Bus } from '@flotilla/bus';
import { FlotillaError, messageOf } from '@flotilla/errors';
import {
  ApplyFailed,
  ApplySucceeded,
  type EventOf,
  type FlotillaEvent,
  GitCommitDetected,
  HealthChanged,
  type ImageRef,
  ImageTagDetected,
  ImageUpdateCommitted,
  isEventOf,
  PlanCreated,
  PromotionApproved,
  PromotionAwaitingApproval,
  PromotionCommitted,
  PromotionProposed,
  PromotionRejected,
  RenderFailed,
  RollbackCommitted,
  StageLockChanged,
} from '@flotilla/events';
import {
  createBundle,
  encodeBundle,
  isManifestError,
  type KubeObject,
  objectHash,
  sortObjects,
} from '@flotilla/manifests';
import {
  type ClusterHealth,
  canApprove,
  evaluatePromotion,
  findStage,
  firstStage,
  formatPipelineIssue,
  type HealthStatus,
  type Identity,
  type ImageSpec,
  type Pipeline,
  parsePipeline,
  previousStage,
  type Stage,
  selectLatestTag,
} from '@flotilla/policy';
import type { Logger } from '@flotilla/runtime';
import { type SigningKey, signPlan } from '@flotilla/trust';
import type { ConfigRepo } from './config-repo.ts';
import {
  type FoundImage,
  formatImageRef,
  readMarkedImages,
  rewriteImages,
  type SourceFile,
} from './image-refs.ts';
import { renderCluster } from './render.ts';
import { SerialQueue } from './serial-queue.ts';
import {
  type ClusterState,
  OPEN_PROMOTION,
  type PlannerState,
  type PromotionRecord,
  promotionId,
  type StageState,
} from './state.ts';
import { listFilesUnder, readYamlFilesUnder } from './tree-files.ts';

export interface PlannerOptions {
  bus: Bus;
  repo: ConfigRepo;
  blobs: BlobStore;
  bundleBucket: string;
  state: PlannerState;
  signingKey: SigningKey;
  /** Repository name used in events and plans. */
  repoName: string;
  branch: string;
  pipelineFile: string;
  kubectl: string;
  evaluateIntervalMs: number;
  logger: Logger;
  crashAt?: string;
  /** Clusters rendered at once (kubectl processes). */
  renderConcurrency?: number;
}

/** An API outcome: HTTP status plus body; errors carry a stable code. */
export interface Outcome {
  status: number;
  body: Record<string, unknown>;
}

const ok = (body: Record<string, unknown>, status = 200): Outcome => ({ status, body });
const err = (status: number, error: string, message: string): Outcome => ({
  status,
  body: { error, message },
});

const HEALTH: Record<string, HealthStatus> = {
  Current: 'healthy',
  InProgress: 'progressing',
  Terminating: 'progressing',
  Failed: 'degraded',
  Unknown: 'unknown',
};

const actorOf = (identity: Identity) => `user:${identity.name}`;

/**
 * The planner's decisions, one at a time through a queue: render and sign plans, write image
 * updates, promote, lock, roll back. Every change of desired state is a Git commit with trailers
 * (idempotency keys), and every step is an event.
 */
export class Planner {
  private readonly queue = new SerialQueue();
  private pipeline: Pipeline | null = null;
  private active = false;
  private soakTimer: NodeJS.Timeout | undefined;
  private soakAt = Number.POSITIVE_INFINITY;
  private interval: NodeJS.Timeout | undefined;
  private readonly log: Logger;
  private readonly renderCache = new Map<string, { inputDigest: string; objects: KubeObject[] }>();

  constructor(private readonly o: PlannerOptions) {
    this.log = o.logger.child({ component: 'planner' });
  }

  /** Timings of the last render, for benchmarks and logs: wall time of the kubectl phase vs all. */
  lastRender: { revision: string; renderMs: number; totalMs: number; plans: number } | null = null;

  get isActive(): boolean {
    return this.active;
  }

  get currentPipeline(): Pipeline | null {
    return this.pipeline;
  }

  /** Becomes the acting planner: load the view, catch up with the repo, resume open promotions. */
  activate(): Promise<void> {
    return this.queue.run(async () => {
      if (this.active) return;
      await this.o.state.load();
      this.active = true;
      const head = await this.o.repo.fetch();
      if (this.o.state.meta.pipelineRevision) await this.loadPipeline(this.o.state.meta.pipelineRevision);
      if (head) await this.render(head);
      for (const p of [...this.o.state.promotions.values()]) {
        if (OPEN_PROMOTION.has(p.status)) await this.advance(p);
      }
      await this.evaluate();
      this.interval = setInterval(() => void this.tick(), this.o.evaluateIntervalMs);
    });
  }

  async deactivate(): Promise<void> {
    this.active = false;
    clearInterval(this.interval);
    clearTimeout(this.soakTimer);
    this.soakAt = Number.POSITIVE_INFINITY;
    await this.queue.idle();
  }

  private tick(): void {
    if (!this.active) return;
    void this.queue
      .run(() => this.evaluate())
      .catch((e) => this.log.warn({ err: messageOf(e) }, 'promotion evaluation failed'));
  }

  /** Consumer entry point. Throwing makes the bus retry (then dead-letter). */
  handle(event: FlotillaEvent): Promise<void> {
    return this.queue.run(async () => {
      if (!this.active)
        throw new FlotillaError('planner.not-leader', 'not the active planner', { disposition: 'retry' });
      if (isEventOf(GitCommitDetected, event)) await this.onCommit(event);
      else if (isEventOf(ImageTagDetected, event)) await this.onImageTag(event);
      else if (isEventOf(ApplySucceeded, event)) await this.onApplySucceeded(event);
      else if (isEventOf(ApplyFailed, event)) await this.onApplyFailed(event);
      else if (isEventOf(HealthChanged, event)) await this.onHealth(event);
    });
  }

  // ---- render --------------------------------------------------------------------------------

  private async onCommit(e: EventOf<typeof GitCommitDetected>): Promise<void> {
    if (e.data.repo !== this.o.repoName || e.data.branch !== this.o.branch) return;
    if (!(await this.o.repo.has(e.data.sha))) {
      this.log.warn({ sha: e.data.sha }, 'commit not found in the config repo; skipped');
      return;
    }
    await this.render(e.data.sha, e);
  }

  private async loadPipeline(revision: string): Promise<Pipeline | null> {
    const text = await this.o.repo.readFile(revision, this.o.pipelineFile);
    if (text === null) return null;
    const parsed = parsePipeline(text, this.o.pipelineFile);
    if (!parsed.ok) return null;
    this.pipeline = parsed.pipeline;
    return parsed.pipeline;
  }

  /** Renders every cluster at `revision`; publishes signed plans for clusters whose content changed. */
  async render(revision: string, cause?: FlotillaEvent): Promise<void> {
    const { state } = this.o;
    const last = state.meta.lastRenderedRevision;
    if (last === revision) return;
    if (last && (await this.o.repo.isAncestor(revision, last))) {
      this.log.info({ revision, last }, 'older than the last rendered revision; skipped');
      return;
    }
    const ctx = cause ? { cause } : {};
    const text = await this.o.repo.readFile(revision, this.o.pipelineFile);
    const parsed = text === null ? null : parsePipeline(text, this.o.pipelineFile);
    if (!parsed?.ok) {
      const first = parsed && !parsed.ok ? parsed.errors[0] : undefined;
      await this.o.bus.publish(
        RenderFailed,
        {
          repo: this.o.repoName,
          revision,
          file: this.o.pipelineFile,
          ...(first ? { line: first.line, column: first.column } : {}),
          code: first ? `pipeline.${first.code}` : 'pipeline.missing',
          message:
            parsed && !parsed.ok
              ? parsed.errors.map(formatPipelineIssue).join('\n').slice(0, 16_000)
              : `${this.o.pipelineFile} does not exist at ${revision}`,
        },
        { ...ctx, id: `render-failed-${revision}-pipeline` },
      );
      state.meta.lastRenderedRevision = revision;
      await state.saveMeta();
      return;
    }
    const started = performance.now();
    let renderMs = 0;
    let plans = 0;
    const pipeline = parsed.pipeline;
    this.pipeline = pipeline;
    state.meta.pipelineRevision = revision;
    const tree = await this.o.repo.extract(revision);
    try {
      const jobs = pipeline.spec.stages.flatMap((stage) =>
        stage.clusters.map((cluster) => ({ stage, cluster })),
      );
      const renderStart = performance.now();
      await inParallel(jobs, this.o.renderConcurrency ?? 4, async (j) => {
        const t = performance.now();
        const published = await this.renderOne(tree, revision, j.stage, j.cluster, cause, (ms) => {
          // Wall time from the first render starting to the last one finishing (they overlap).
          renderMs = Math.max(renderMs, t - renderStart + ms);
        });
        if (published) plans++;
      });
      for (const stage of pipeline.spec.stages) {
        const ss = state.stage(stage.name);
        ss.revision = revision;
        ss.images = this.toImageRefs(
          readMarkedImages(
            await readYamlFilesUnder(
              tree,
              stage.clusters.map((c) => c.path),
            ),
            pipeline.spec.images ?? [],
          ),
        );
        await state.saveStage(ss);
      }
    } finally {
      await this.o.repo.release(tree);
    }
    state.meta.lastRenderedRevision = revision;
    await state.saveMeta();
    this.lastRender = { revision, renderMs, totalMs: performance.now() - started, plans };
    await this.evaluate();
  }

  private async renderOne(
    tree: string,
    revision: string,
    stage: Stage,
    cluster: { name: string; path: string },
    cause?: FlotillaEvent,
    onRendered?: (ms: number) => void,
  ): Promise<boolean> {
    const { state, bus } = this.o;
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
        { ...(cause ? { cause } : {}), id: `render-failed-${revision}-${cluster.name}` },
      );
      this.log.warn({ cluster: cluster.name, revision, ...p }, 'render failed; no plan published');
    };
    const t = performance.now();
    const result = await renderCluster(tree, cluster.path, {
      kubectl: this.o.kubectl,
      cache: this.renderCache,
      cacheKey: cluster.name,
    });
    onRendered?.(performance.now() - t);
    if (!result.ok) {
      await failed(result.problem);
      return false;
    }
    const objects = sortObjects(result.objects);
    const contentDigest = objectHash({ path: cluster.path, objects });
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
    const planId = `${cluster.name}-${sequence}-${digest.slice(7, 19)}`;
    const createdAt = new Date().toISOString();
    const plan = signPlan(
      {
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
    this.log.info({ cluster: cluster.name, revision, planId, digest }, 'plan created');
    return true;
  }

  /** After our own push: fetch and render the new head without waiting for the git-watcher. */
  private async afterPush(): Promise<void> {
    const head = await this.o.repo.fetch();
    if (head) await this.render(head);
  }

  // ---- image automation ----------------------------------------------------------------------

  private async onImageTag(e: EventOf<typeof ImageTagDetected>): Promise<void> {
    const pipeline = this.pipeline;
    if (!pipeline)
      throw new FlotillaError('planner.no-pipeline', 'no valid pipeline yet', { disposition: 'retry' });
    const policies = (pipeline.spec.images ?? []).filter((i) => i.repository === e.data.image);
    if (policies.length === 0) return;
    const known = this.o.state.tags.get(e.data.image) ?? { image: e.data.image, tags: {} };
    if (known.tags[e.data.tag] !== e.data.digest) {
      known.tags[e.data.tag] = e.data.digest;
      await this.o.state.saveTags(known);
    }
    const first = firstStage(pipeline);
    for (const policy of policies) {
      const latest = selectLatestTag(
        { policy: policy.policy, ...(policy.filterTags ? { filterTags: policy.filterTags } : {}) },
        Object.keys(known.tags),
      );
      if (latest?.tag !== e.data.tag) {
        this.log.info(
          { policy: policy.name, tag: e.data.tag, latest: latest?.tag },
          'tag is not the latest for policy; ignored',
        );
        continue;
      }
      if (this.o.state.stage(first.name).locked) {
        this.log.info({ stage: first.name, tag: e.data.tag }, 'first stage is locked; new image ignored');
        continue;
      }
      await this.commitImageUpdate(e, policy, first);
    }
  }

  private async commitImageUpdate(
    e: EventOf<typeof ImageTagDetected>,
    policy: ImageSpec,
    stage: Stage,
  ): Promise<void> {
    const ws = this.o.repo.workspace;
    await ws.resetToRemote();
    const ref = `${e.data.image}:${e.data.tag}@${e.data.digest}`;
    let sha = await ws.findCommitByTrailer('Flotilla-Event', e.id);
    let files: string[] = [];
    if (!sha) {
      const changes = rewriteImages(await this.workspaceFiles(stage), [
        {
          policy: policy.name,
          repository: e.data.image,
          tag: e.data.tag,
          digest: e.data.digest,
          pin: policy.digestPin ?? true,
        },
      ]);
      if (changes.length === 0) {
        this.log.info({ stage: stage.name, ref }, 'first stage already has this image');
        return;
      }
      for (const c of changes) await ws.writeFile(c.path, c.text);
      files = changes.map((c) => c.path);
      const message = [
        `flotilla: update ${policy.name} to ${e.data.tag} in ${stage.name}`,
        '',
        `New tag ${e.data.tag} of ${e.data.image} is the latest for image policy ${policy.name}.`,
        '',
        ...changes.flatMap((c) => c.changes.map((x) => `- ${c.path}:${x.line}: ${x.old} -> ${x.new}`)),
      ].join('\n');
      sha = await this.commitAndPush(
        message,
        {
          'Flotilla-Event': e.id,
          'Flotilla-Image': ref,
          'Flotilla-Policy': policy.name,
          'Flotilla-Stage': stage.name,
          'Flotilla-Actor': e.actor,
        },
        ['Flotilla-Event', e.id],
      );
    }
    await this.o.bus.publish(
      ImageUpdateCommitted,
      {
        stage: stage.name,
        policy: policy.name,
        image: e.data.image,
        tag: e.data.tag,
        digest: e.data.digest,
        commit: sha,
        files,
      },
      { cause: e, id: `image-update-${e.id}-${policy.name}` },
    );
    this.log.info({ stage: stage.name, ref, commit: sha }, 'image update committed');
    await this.afterPush();
  }

  private async workspaceFiles(stage: Stage): Promise<SourceFile[]> {
    return await readYamlFilesUnder(
      this.o.repo.workspace.dir,
      stage.clusters.map((c) => c.path),
    );
  }

  /** Commits the work tree and pushes; returns the sha as it is on the remote (after rebases). */
  private async commitAndPush(
    message: string,
    trailers: Record<string, string>,
    key: [string, string],
  ): Promise<string> {
    const ws = this.o.repo.workspace;
    const local = await ws.commit({ message, trailers });
    if (!local)
      throw new FlotillaError('planner.nothing-to-commit', 'nothing to commit', { disposition: 'stall' });
    const pushed = await ws.push();
    if (pushed.rebases === 0) return local;
    const sha = await ws.findCommitByTrailer(key[0], key[1]);
    if (!sha)
      throw new FlotillaError('planner.commit-lost', `pushed commit ${key.join(': ')} not found`, {
        disposition: 'retry',
      });
    return sha;
  }

  // ---- health --------------------------------------------------------------------------------

  private known(cluster: string): ClusterState | undefined {
    return this.o.state.clusters.get(cluster);
  }

  private async onApplySucceeded(e: EventOf<typeof ApplySucceeded>): Promise<void> {
    const c = this.known(e.data.cluster);
    if (!c) return;
    c.applied = {
      revision: e.data.revision,
      bundleDigest: e.data.bundleDigest,
      planId: e.data.planId,
      at: e.time,
    };
    delete c.lastError;
    await this.o.state.saveCluster(c);
    await this.evaluate();
  }

  private async onApplyFailed(e: EventOf<typeof ApplyFailed>): Promise<void> {
    const c = this.known(e.data.cluster);
    if (!c) return;
    c.lastError = {
      code: e.data.code,
      message: e.data.message,
      at: e.time,
      ...(e.data.revision ? { revision: e.data.revision } : {}),
    };
    if (e.data.bundleDigest && e.data.bundleDigest === c.desired?.bundleDigest) {
      c.health = {
        status: 'degraded',
        revision: c.desired.revision,
        bundleDigest: e.data.bundleDigest,
        since: e.time,
      };
    }
    await this.o.state.saveCluster(c);
    await this.evaluate();
  }

  private async onHealth(e: EventOf<typeof HealthChanged>): Promise<void> {
    const c = this.known(e.data.cluster);
    if (!c) return;
    const status = HEALTH[e.data.status] ?? 'unknown';
    const bundleDigest =
      e.data.bundleDigest ?? (c.applied?.revision === e.data.revision ? c.applied.bundleDigest : undefined);
    const prev = c.health;
    const sameBundle = prev?.bundleDigest === bundleDigest && prev?.revision === e.data.revision;
    c.health = {
      status,
      revision: e.data.revision,
      since: e.time,
      ...(bundleDigest ? { bundleDigest } : {}),
    };
    if (status === 'healthy') {
      c.health.healthySince =
        prev?.status === 'healthy' && sameBundle && prev.healthySince ? prev.healthySince : e.time;
    }
    await this.o.state.saveCluster(c);
    await this.evaluate();
  }

  /**
   * What promotion logic sees for a cluster. Health of anything but the last published plan is
   * "progressing" (the new plan is rolling out). A cluster on its last plan counts as being on
   * the newest rendered revision, since later commits did not change what it runs.
   */
  private report(clusterName: string): ClusterHealth | undefined {
    const c = this.known(clusterName);
    const h = c?.health;
    if (!c || !h) return undefined;
    const onDesired = c.desired
      ? h.bundleDigest
        ? h.bundleDigest === c.desired.bundleDigest
        : h.revision === c.desired.revision
      : false;
    if (!onDesired)
      return {
        cluster: clusterName,
        revision: h.revision,
        status: h.status === 'degraded' ? 'degraded' : 'progressing',
      };
    const out: ClusterHealth = {
      cluster: clusterName,
      revision: c.renderedRevision ?? h.revision,
      status: h.status,
    };
    if (h.healthySince) out.healthySince = new Date(h.healthySince);
    return out;
  }

  // ---- promotion -----------------------------------------------------------------------------

  /** Re-runs the promotion rules for every stage; schedules the next soak check. */
  private async evaluate(): Promise<void> {
    const pipeline = this.pipeline;
    if (!pipeline || !this.active) return;
    const now = new Date();
    for (const stage of pipeline.spec.stages) this.recordHealthy(stage);
    for (const stage of pipeline.spec.stages.slice(1)) {
      const upstream = previousStage(pipeline, stage) as Stage;
      const upstreamHealth = upstream.clusters.flatMap((c) => this.report(c.name) ?? []);
      const decision = evaluatePromotion({
        pipeline,
        stage: stage.name,
        upstreamHealth,
        now,
        locked: this.o.state.stage(stage.name).locked !== undefined,
      });
      if (decision.action === 'wait' && decision.retryAt) this.scheduleSoak(decision.retryAt);
      if (decision.action === 'propose')
        await this.propose(upstream, stage, decision.revision, decision.rule, 'service:planner');
    }
  }

  private scheduleSoak(at: Date): void {
    const t = at.getTime();
    if (t >= this.soakAt && this.soakTimer) return;
    clearTimeout(this.soakTimer);
    this.soakAt = t;
    this.soakTimer = setTimeout(
      () => {
        this.soakAt = Number.POSITIVE_INFINITY;
        this.soakTimer = undefined;
        this.tick();
      },
      Math.max(0, t - Date.now()) + 20,
    );
  }

  /** Remembers a stage's state whenever all its clusters are healthy on their last plans. */
  private recordHealthy(stage: Stage): void {
    const reports = stage.clusters.map((c) => this.report(c.name));
    if (reports.some((r) => r?.status !== 'healthy')) return;
    const content: Record<string, string> = {};
    for (const c of stage.clusters) content[c.name] = this.known(c.name)?.desired?.contentDigest ?? '';
    const ss = this.o.state.stage(stage.name);
    const newest = ss.healthy[0];
    if (newest && sameContent(newest.content, content)) return;
    ss.healthy.unshift({
      revision: reports[0]?.revision ?? ss.revision ?? '',
      at: new Date().toISOString(),
      content,
      images: ss.images,
    });
    ss.healthy = ss.healthy.slice(0, 20);
    void this.o.state.saveStage(ss).catch((e) => this.log.warn({ err: messageOf(e) }, 'saving stage failed'));
  }

  private async imagesAt(stage: Stage, revision: string): Promise<ImageRef[]> {
    const files: SourceFile[] = [];
    for (const c of stage.clusters) {
      for (const f of await this.o.repo.listFiles(revision, c.path)) {
        if (!/\.ya?ml$/i.test(f)) continue;
        const text = await this.o.repo.readFile(revision, f);
        if (text !== null) files.push({ path: f, text });
      }
    }
    return this.toImageRefs(readMarkedImages(files, this.pipeline?.spec.images ?? []));
  }

  /** Found images with a digest (from the reference, or the registry's tag → digest record). */
  private toImageRefs(found: FoundImage[]): ImageRef[] {
    const out: ImageRef[] = [];
    for (const f of found) {
      const digest = f.digest ?? (f.tag ? this.o.state.tags.get(f.repository)?.tags[f.tag] : undefined);
      if (!digest || !/^sha256:[0-9a-f]{64}$/.test(digest)) continue;
      out.push({ name: f.name, repository: f.repository, ...(f.tag ? { tag: f.tag } : {}), digest });
    }
    return out;
  }

  private async propose(
    upstream: Stage,
    stage: Stage,
    revision: string,
    rule: 'auto' | 'manual',
    actor: string,
  ): Promise<PromotionRecord | null> {
    const { state } = this.o;
    const up = state.stage(upstream.name);
    // The render already read the upstream's images at its newest revision; use them.
    const images = up.revision === revision ? up.images : await this.imagesAt(upstream, revision);
    if (images.length === 0) return null;
    const current = state.stage(stage.name).images;
    if (
      images.every((i) =>
        current.some(
          (c) =>
            c.name === i.name && c.repository === i.repository && c.digest === i.digest && c.tag === i.tag,
        ),
      )
    )
      return null;
    const id = promotionId(upstream.name, stage.name, images);
    if (state.promotions.has(id)) return null; // open, done, or rejected: never proposed twice
    for (const p of state.promotions.values()) {
      if (p.toStage === stage.name && (p.status === 'awaiting' || p.status === 'proposed')) {
        p.status = 'cancelled';
        p.reason = `superseded by ${id}`;
        await state.savePromotion(p);
      }
    }
    const now = new Date().toISOString();
    const record: PromotionRecord = {
      id,
      fromStage: upstream.name,
      toStage: stage.name,
      revision,
      images,
      rule,
      status: 'proposed',
      actor,
      approvedBy: [],
      refusals: [],
      createdAt: now,
      updatedAt: now,
    };
    await state.savePromotion(record);
    this.log.info({ id, from: upstream.name, to: stage.name, rule }, 'promotion proposed');
    await this.advance(record);
    return record;
  }

  /** Moves a promotion forward from whatever state it was recorded in (also after a restart). */
  private async advance(p: PromotionRecord): Promise<void> {
    const { bus, state } = this.o;
    const pipeline = this.pipeline;
    const stage = pipeline ? findStage(pipeline, p.toStage) : null;
    if (!stage) return;
    const ctx = { actor: p.actor, ...(p.correlationId ? { correlationid: p.correlationId } : {}) };
    if (p.status === 'proposed') {
      const published = await bus.publish(
        PromotionProposed,
        {
          promotionId: p.id,
          fromStage: p.fromStage,
          toStage: p.toStage,
          revision: p.revision,
          images: p.images,
          rule: p.rule,
        },
        { ...ctx, id: `${p.id}-proposed` },
      );
      p.correlationId ??= published.event.correlationid;
      p.status = p.rule === 'manual' && p.approvedBy.length === 0 ? 'awaiting' : 'committing';
      await state.savePromotion(p);
    }
    if (p.status === 'awaiting') {
      await bus.publish(
        PromotionAwaitingApproval,
        {
          promotionId: p.id,
          fromStage: p.fromStage,
          toStage: p.toStage,
          approvers: stage.promotion?.approvers ?? [],
          images: p.images,
        },
        { actor: p.actor, correlationid: p.correlationId ?? p.id, id: `${p.id}-awaiting` },
      );
      return;
    }
    if (p.status === 'approved') {
      p.status = 'committing';
      await state.savePromotion(p);
    }
    if (p.status === 'committing') await this.commitPromotion(p, stage);
  }

  private async commitPromotion(p: PromotionRecord, stage: Stage): Promise<void> {
    const { state, bus } = this.o;
    const ws = this.o.repo.workspace;
    await ws.resetToRemote();
    let sha = await ws.findCommitByTrailer('Flotilla-Promotion', p.id);
    if (!sha) {
      const specs = this.pipeline?.spec.images ?? [];
      const changes = rewriteImages(
        await this.workspaceFiles(stage),
        p.images.map((i) => ({
          policy: i.name ?? '',
          repository: i.repository,
          tag: i.tag ?? '',
          digest: i.digest,
          pin: specs.find((s) => s.name === i.name)?.digestPin ?? true,
        })),
      );
      if (changes.length === 0) {
        p.status = 'noop';
        p.reason = `${p.toStage} already runs these images`;
        await state.savePromotion(p);
        return;
      }
      for (const c of changes) await ws.writeFile(c.path, c.text);
      const refs = p.images.map(formatImageRef);
      const message = [
        `flotilla: promote ${p.images.map((i) => `${i.name}:${i.tag ?? i.digest.slice(7, 19)}`).join(', ')} from ${p.fromStage} to ${p.toStage}`,
        '',
        p.rule === 'manual'
          ? `Approved by ${p.approvedBy.join(', ')}; ${p.fromStage} was healthy on ${p.revision}.`
          : `${p.fromStage} was healthy on ${p.revision} for its soak time (rule auto).`,
        '',
        ...changes.flatMap((c) => c.changes.map((x) => `- ${c.path}:${x.line}: ${x.old} -> ${x.new}`)),
      ].join('\n');
      const trailers: Record<string, string> = {
        'Flotilla-Promotion': p.id,
        'Flotilla-From-Stage': p.fromStage,
        'Flotilla-To-Stage': p.toStage,
        'Flotilla-Source-Revision': p.revision,
        'Flotilla-Image': refs.join(', '),
      };
      if (p.approvedBy.length > 0) trailers['Flotilla-Approved-By'] = p.approvedBy.join(', ');
      trailers['Flotilla-Actor'] = p.actor;
      sha = await this.commitAndPush(message, trailers, ['Flotilla-Promotion', p.id]);
      if (this.o.crashAt === 'after-promotion-push') {
        this.log.fatal({ id: p.id, commit: sha }, 'fault injection: crashing after promotion push');
        process.kill(process.pid, 'SIGKILL');
        await new Promise(() => {});
      }
    }
    p.status = 'committed';
    p.commit = sha;
    await state.savePromotion(p);
    await bus.publish(
      PromotionCommitted,
      {
        promotionId: p.id,
        fromStage: p.fromStage,
        toStage: p.toStage,
        commit: sha,
        sourceRevision: p.revision,
        images: p.images,
        approvedBy: p.approvedBy,
      },
      { actor: p.approvedBy[0] ?? p.actor, correlationid: p.correlationId ?? p.id, id: `${p.id}-committed` },
    );
    this.log.info({ id: p.id, to: p.toStage, commit: sha }, 'promotion committed');
    await this.afterPush();
  }

  // ---- API operations ------------------------------------------------------------------------

  private guard(): Outcome | null {
    if (!this.active) return err(503, 'not-leader', 'this planner is on standby; ask the active one');
    if (!this.pipeline) return err(503, 'no-pipeline', 'no valid pipeline has been rendered yet');
    return null;
  }

  approve(id: string, identity: Identity, comment?: string): Promise<Outcome> {
    return this.queue.run(async () => {
      const d = await this.decider(id, identity, 'approve');
      if ('status' in d) return d;
      const { p, actor } = d;
      if (p.approvedBy.includes(actor) && p.status !== 'awaiting') {
        // A retried approval whose first answer was lost (failover, timeout): same decision,
        // same result. Advancing is idempotent (the commit is found by its trailer).
        if (p.status === 'approved') await this.advance(p);
        return ok({ promotion: p });
      }
      if (p.status !== 'awaiting') return err(409, 'not-awaiting', `promotion ${id} is ${p.status}`);
      if (this.o.state.stage(p.toStage).locked) return err(409, 'locked', `stage ${p.toStage} is locked`);
      p.approvedBy.push(actor);
      p.status = 'approved';
      await this.o.state.savePromotion(p);
      await this.o.bus.publish(
        PromotionApproved,
        { promotionId: p.id, toStage: p.toStage, approver: actor, ...(comment ? { comment } : {}) },
        { actor, correlationid: p.correlationId ?? p.id, id: `${p.id}-approved` },
      );
      await this.advance(p);
      return ok({ promotion: p });
    });
  }

  reject(id: string, identity: Identity, reason?: string): Promise<Outcome> {
    return this.queue.run(async () => {
      const d = await this.decider(id, identity, 'reject');
      if ('status' in d) return d;
      const { p, actor } = d;
      if (p.status !== 'awaiting') return err(409, 'not-awaiting', `promotion ${id} is ${p.status}`);
      p.status = 'rejected';
      p.rejectedBy = actor;
      p.reason = reason ?? 'rejected';
      await this.o.state.savePromotion(p);
      await this.o.bus.publish(
        PromotionRejected,
        { promotionId: p.id, toStage: p.toStage, by: actor, reason: p.reason, kind: 'rejected' },
        { actor, correlationid: p.correlationId ?? p.id, id: `${p.id}-rejected` },
      );
      return ok({ promotion: p });
    });
  }

  /**
   * What approve and reject share: an active planner, a known promotion into a stage that still
   * exists, and an identity allowed to decide on it (a refusal is recorded, then 403).
   */
  private async decider(
    id: string,
    identity: Identity,
    verb: 'approve' | 'reject',
  ): Promise<Outcome | { p: PromotionRecord; actor: string }> {
    const g = this.guard();
    if (g) return g;
    const p = this.o.state.promotions.get(id);
    if (!p) return err(404, 'not-found', `no promotion ${id}`);
    const stage = findStage(this.pipeline as Pipeline, p.toStage);
    if (!stage) return err(409, 'stage-gone', `stage ${p.toStage} is no longer in the pipeline`);
    const actor = actorOf(identity);
    if (!canApprove(stage, identity))
      return await this.refuse(p, actor, `may not ${verb} promotions into ${p.toStage}`);
    return { p, actor };
  }

  /** An unauthorised decision: recorded on the promotion and as an event, then 403. */
  private async refuse(p: PromotionRecord, actor: string, why: string): Promise<Outcome> {
    const at = new Date().toISOString();
    p.refusals.push({ by: actor, at, reason: why });
    await this.o.state.savePromotion(p);
    await this.o.bus.publish(
      PromotionRejected,
      { promotionId: p.id, toStage: p.toStage, by: actor, reason: `${actor} ${why}`, kind: 'unauthorised' },
      { actor, correlationid: p.correlationId ?? p.id },
    );
    this.log.warn({ id: p.id, actor }, 'unauthorised promotion decision refused');
    return err(403, 'forbidden', `${actor} ${why}`);
  }

  /** Promote into `stageName` now from its upstream's current images, without waiting for soak. */
  promoteNow(stageName: string, identity: Identity): Promise<Outcome> {
    return this.queue.run(async () => {
      const g = this.guard();
      if (g) return g;
      const pipeline = this.pipeline as Pipeline;
      const stage = findStage(pipeline, stageName);
      if (!stage) return err(404, 'not-found', `no stage ${stageName}`);
      const upstream = previousStage(pipeline, stage);
      if (!upstream)
        return err(400, 'first-stage', `${stageName} is the first stage; it takes image updates`);
      if (this.o.state.stage(stageName).locked) return err(409, 'locked', `stage ${stageName} is locked`);
      const actor = actorOf(identity);
      const rule = stage.promotion?.rule ?? 'auto';
      const revision = this.o.state.stage(upstream.name).revision;
      if (!revision) return err(409, 'not-rendered', `${upstream.name} has not been rendered yet`);
      if (rule === 'manual' && !canApprove(stage, identity)) {
        await this.o.bus.publish(
          PromotionRejected,
          {
            promotionId: `${stageName}-now`,
            toStage: stageName,
            by: actor,
            reason: `${actor} may not promote into ${stageName}`,
            kind: 'unauthorised',
          },
          { actor },
        );
        return err(403, 'forbidden', `${actor} may not promote into ${stageName}`);
      }
      const images = await this.imagesAt(upstream, revision);
      const current = this.o.state.stage(stageName).images;
      if (
        images.length === 0 ||
        images.every((i) =>
          current.some((c) => c.name === i.name && c.digest === i.digest && c.tag === i.tag),
        )
      )
        return err(409, 'nothing-to-promote', `${stageName} already runs ${upstream.name}'s images`);
      let id = promotionId(upstream.name, stageName, images);
      const existing = this.o.state.promotions.get(id);
      if (existing && OPEN_PROMOTION.has(existing.status)) {
        existing.status = 'cancelled';
        existing.reason = `replaced by promote-now from ${actor}`;
        await this.o.state.savePromotion(existing);
      }
      if (existing) id = `${id}-${Date.now().toString(36)}`;
      const now = new Date().toISOString();
      const p: PromotionRecord = {
        id,
        fromStage: upstream.name,
        toStage: stageName,
        revision,
        images,
        rule,
        status: 'proposed',
        actor,
        approvedBy: rule === 'manual' ? [actor] : [],
        refusals: [],
        createdAt: now,
        updatedAt: now,
      };
      await this.o.state.savePromotion(p);
      await this.advance(p);
      if (rule === 'manual') {
        await this.o.bus.publish(
          PromotionApproved,
          { promotionId: p.id, toStage: stageName, approver: actor, comment: 'promoted now' },
          { actor, correlationid: p.correlationId ?? p.id, id: `${p.id}-approved` },
        );
      }
      return ok({ promotion: p });
    });
  }

  lock(stageName: string, identity: Identity, reason?: string): Promise<Outcome> {
    return this.queue.run(async () => {
      const g = this.guard();
      if (g) return g;
      if (!findStage(this.pipeline as Pipeline, stageName))
        return err(404, 'not-found', `no stage ${stageName}`);
      await this.setLock(stageName, actorOf(identity), 'manual', reason);
      return ok({ stage: this.o.state.stage(stageName) });
    });
  }

  unlock(stageName: string, identity: Identity, reason?: string): Promise<Outcome> {
    return this.queue.run(async () => {
      const g = this.guard();
      if (g) return g;
      if (!findStage(this.pipeline as Pipeline, stageName))
        return err(404, 'not-found', `no stage ${stageName}`);
      const ss = this.o.state.stage(stageName);
      if (ss.locked) {
        delete ss.locked;
        await this.o.state.saveStage(ss);
        const actor = actorOf(identity);
        await this.o.bus.publish(
          StageLockChanged,
          { stage: stageName, locked: false, by: actor, ...(reason ? { reason } : {}) },
          { actor },
        );
        await this.evaluate();
      }
      return ok({ stage: ss });
    });
  }

  private async setLock(
    stageName: string,
    actor: string,
    cause: 'manual' | 'rollback',
    reason?: string,
  ): Promise<void> {
    const ss = this.o.state.stage(stageName);
    ss.locked = { by: actor, at: new Date().toISOString(), cause, ...(reason ? { reason } : {}) };
    await this.o.state.saveStage(ss);
    // Nothing queued for a locked stage may land later and fight the lock.
    for (const p of this.o.state.promotions.values()) {
      if (p.toStage === stageName && OPEN_PROMOTION.has(p.status)) {
        p.status = 'cancelled';
        p.reason = `stage locked by ${actor}`;
        await this.o.state.savePromotion(p);
      }
    }
    await this.o.bus.publish(
      StageLockChanged,
      { stage: stageName, locked: true, by: actor, ...(reason ? { reason } : {}) },
      { actor },
    );
  }

  /**
   * Restores the stage's cluster paths from its last healthy revision (or `toRevision`) in one
   * revert-style commit, then locks the stage so automation does not undo the rollback.
   */
  rollback(
    stageName: string,
    identity: Identity,
    opts: { toRevision?: string; reason?: string } = {},
  ): Promise<Outcome> {
    return this.queue.run(async () => {
      const g = this.guard();
      if (g) return g;
      const stage = findStage(this.pipeline as Pipeline, stageName);
      if (!stage) return err(404, 'not-found', `no stage ${stageName}`);
      const ss = this.o.state.stage(stageName);
      const currentContent: Record<string, string> = {};
      for (const c of stage.clusters)
        currentContent[c.name] = this.known(c.name)?.desired?.contentDigest ?? '';
      const target =
        opts.toRevision ?? ss.healthy.find((h) => !sameContent(h.content, currentContent))?.revision;
      if (!target)
        return err(409, 'no-healthy-revision', `no earlier healthy revision of ${stageName} is known`);
      if (!/^[0-9a-f]{40}$/.test(target) || !(await this.o.repo.has(target)))
        return err(400, 'bad-revision', `revision ${target} is not in the config repo`);
      const actor = actorOf(identity);
      const ws = this.o.repo.workspace;
      await ws.resetToRemote();
      for (const c of stage.clusters) {
        const wanted = new Set(await this.o.repo.listFiles(target, c.path));
        for (const f of await listFilesUnder(ws.dir, c.path)) if (!wanted.has(f)) await ws.removeFile(f);
        for (const f of wanted) {
          const text = await this.o.repo.readFile(target, f);
          if (text !== null) await ws.writeFile(f, text);
        }
      }
      const requestId = `rollback-${stageName}-${Date.now().toString(36)}`;
      const reason = opts.reason ?? `roll back ${stageName} to its last healthy revision`;
      const local = await ws.commit({
        message: `flotilla: roll back ${stageName} to ${target.slice(0, 12)}\n\n${reason}\n\nRestores ${stage.clusters.map((c) => c.path).join(', ')} as of ${target}; automation on ${stageName} stays paused until it is unlocked.`,
        trailers: {
          'Flotilla-Rollback': stageName,
          'Flotilla-Rollback-To': target,
          'Flotilla-Request': requestId,
          'Flotilla-Actor': actor,
        },
      });
      if (!local) return err(409, 'nothing-to-roll-back', `${stageName} already matches ${target}`);
      const pushed = await ws.push();
      const sha =
        pushed.rebases === 0
          ? local
          : ((await ws.findCommitByTrailer('Flotilla-Request', requestId)) ?? pushed.head);
      await this.setLock(stageName, actor, 'rollback', `rolled back to ${target.slice(0, 12)}: ${reason}`);
      await this.o.bus.publish(
        RollbackCommitted,
        {
          stage: stageName,
          commit: sha,
          toRevision: target,
          ...(ss.revision ? { fromRevision: ss.revision } : {}),
          by: actor,
          reason,
        },
        { actor },
      );
      await this.afterPush();
      return ok({ commit: sha, toRevision: target, stage: ss });
    });
  }

  /** "What is where": per stage its lock, images, clusters' plans and health, open promotions. */
  status(): Promise<Outcome> {
    return this.queue.run(async () => {
      const g = this.guard();
      if (g) return g;
      const pipeline = this.pipeline as Pipeline;
      const stages = pipeline.spec.stages.map((s) => {
        const ss: StageState = this.o.state.stage(s.name);
        return {
          name: s.name,
          rule: s.promotion?.rule ?? 'auto',
          soak: s.promotion?.soak,
          approvers: s.promotion?.approvers,
          locked: ss.locked ?? null,
          revision: ss.revision ?? null,
          images: ss.images,
          lastHealthy: ss.healthy[0] ?? null,
          clusters: s.clusters.map((c) => {
            const cs = this.known(c.name);
            return {
              name: c.name,
              path: c.path,
              desired: cs?.desired ?? null,
              renderedRevision: cs?.renderedRevision ?? null,
              applied: cs?.applied ?? null,
              health: cs?.health ?? null,
              lastError: cs?.lastError ?? null,
              lastRenderError: cs?.lastRenderError ?? null,
            };
          }),
          promotions: [...this.o.state.promotions.values()].filter(
            (p) => p.toStage === s.name && OPEN_PROMOTION.has(p.status),
          ),
        };
      });
      return ok({
        pipeline: pipeline.metadata.name,
        revision: this.o.state.meta.lastRenderedRevision ?? null,
        stages,
      });
    });
  }

  promotion(id: string): Promise<Outcome> {
    return this.queue.run(async () => {
      const p = this.o.state.promotions.get(id);
      return p ? ok({ promotion: p }) : err(404, 'not-found', `no promotion ${id}`);
    });
  }
}

function sameContent(a: Record<string, string>, b: Record<string, string>): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].every((k) => a[k] === b[k]);
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
