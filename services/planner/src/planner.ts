import { createHash, randomBytes } from 'node:crypto';
import { SerialQueue } from '@flotilla/async';
import type { Bus } from '@flotilla/bus';
import { leaseLost } from '@flotilla/bus';
import { FlotillaError, messageOf } from '@flotilla/errors';
import {
  ApplyFailed,
  ApplySucceeded,
  type EventOf,
  type FlotillaEvent,
  GitCommitDetected,
  GitPushRejected,
  HealthChanged,
  ImageTagDetected,
  isEventOf,
  type SensitiveFieldRule,
  scrubApiMessage,
  sensitiveFieldRule,
} from '@flotilla/events';
import { isGitError, type SignaturePolicy } from '@flotilla/git';
import { type DeclaredPipeline, findStage, type Pipeline, type Stage } from '@flotilla/policy';
import type { Logger } from '@flotilla/runtime';
import { withSpan } from '@flotilla/telemetry';
import type { SigningKey } from '@flotilla/trust';
import type { ClusterBundles } from './cluster-bundles.ts';
import type { ConfigRepo } from './config-repo.ts';
import { ConfigWriter, type PushRejection } from './config-writer.ts';
import { refused } from './operation-error.ts';
import type { PlannerOperations } from './operations.ts';
import { pipelineScope } from './pipeline-scope.ts';
import { PipelineUnit } from './pipeline-unit.ts';
import {
  type OpenedRevision,
  type PipelineRenderResult,
  PlanRenderer,
  type RenderTarget,
} from './plan-renderer.ts';
import { type PlannerFaults, promotedImageRefs } from './promotions.ts';
import type { RenderBudgets } from './render.ts';
import { pipelinesToRender } from './render-selection.ts';
import { type ClusterDiff, changeJob, type DiffJob, promotionJobs, RenderedDiffs } from './rendered-diffs.ts';
import { type PlannerState, ROOT_SCOPE } from './state.ts';

export interface PlannerOptions {
  bus: Bus;
  repo: ConfigRepo;
  bundles: ClusterBundles;
  state: PlannerState;
  signingKey: SigningKey;
  /** Repository name used in events and plans. */
  repoName: string;
  branch: string;
  pipelineFile: string;
  kubectl: string;
  /** What builds kustomizations (`auto`, `kubectl` or a flotilla-kustomize path; @flotilla/render). */
  kustomize?: string;
  evaluateIntervalMs: number;
  logger: Logger;
  /** How long an Idempotency-Key is answered with its recorded decision (default 24 h). */
  idempotencyTtlMs?: number;
  faults?: PlannerFaults;
  /** Clusters rendered at once (renderer processes). */
  renderConcurrency?: number;
  /** `all`: every pipeline renders at every revision (see render-selection.ts for `touched`). */
  renderScope?: 'touched' | 'all';
  /** Render our own pushes at once (default) or wait for the git-watcher (the bench baseline). */
  renderOwnPush?: boolean;
  /** Render our own commits' changed clusters while they are pushed (default; see renderAhead). */
  renderAhead?: boolean;
  /** The repository's signature policy, checked again before every render. */
  signature?: SignaturePolicy;
  /** Budgets of each cluster's render. */
  renderBudgets?: Partial<RenderBudgets>;
  /**
   * The fencing token for the next action on `pipeline` (throws when no longer held): the leader
   * lease's, or that pipeline's own lease when sharded.
   */
  fence: (pipeline: string) => number;
  /**
   * Sharded (see shards.ts): this instance serves only the pipelines it is handed with
   * `acquire` (and gives back with `release`); its repo-wide meta stays in memory and its own
   * commits are shared with the other instances through KV. Absent: it serves every pipeline.
   */
  sharded?: boolean;
  /**
   * How rendered diffs hide values: the HMAC key of their hashes (unset: random per process) and
   * which fields are sensitive (unset: the event contract's rule).
   */
  diff?: { key?: Uint8Array; sensitive?: SensitiveFieldRule };
}

/** `GET /promotions/:id/diff`, `GET /changes/:id/diff` (libs/api RenderedDiffAnswer). */
export interface RenderedDiffAnswer {
  kind: 'promotion' | 'change';
  id: string;
  pipeline: string;
  stage: string;
  clusters: ClusterDiff[];
}

/** How many of its own pushed commits the planner remembers (trusted under `require`). */
const OWN_COMMITS_KEPT = 1000;

/** A pipeline as listed by the API. */
export interface PipelineSummary {
  name: string;
  file: string;
  owner?: string;
  tenant?: { namespace: string; serviceAccount: string };
  stages: string[];
  clusters: string[];
}

/**
 * The acting planner: one queue through which every decision passes (events, API operations,
 * timers), so state changes never interleave. It owns activation, the pipelines in force (one
 * PipelineUnit each) and the soak timer; the work is the components':
 * - PlanRenderer: revision → pipelines → signed plans per (pipeline, cluster);
 * - per pipeline (PipelineUnit): ImageAutomation, HealthView, Promotions (through
 *   @flotilla/policy's `nextPromotion`), PlannerOperations (api.ts maps their refusals to HTTP);
 * - ConfigWriter: the only writer of the config repo, shared.
 */
export class Planner {
  /** The planner's decisions: short steps that read or write state, never a render. */
  private readonly queue = new SerialQueue();
  /** Revisions in order: signature check, extract, parse, hand each pipeline to its lane. */
  private readonly revisions = new SerialQueue();
  /** Per pipeline: its renders, one revision after another, beside every other pipeline's. */
  private readonly lanes = new Map<string, SerialQueue>();
  /** The newest revision handed to the lanes (later commits diff against it). */
  private dispatched: string | undefined;
  /** Resolves when every revision dispatched so far has rendered in all its lanes. */
  private settled: Promise<void> = Promise.resolve();
  /** What each pipeline's last render read (see render-selection.ts); absent: render it. */
  private readonly sources = new Map<string, string[]>();
  /** Pipelines whose render failed for a reason other than their content: rendered again. */
  private readonly retry = new Set<string>();
  /** Pipeline → renders handed to its lane and not finished. */
  private readonly laneLoad = new Map<string, number>();
  /** Our own pushes whose render has not been handed to the lanes yet. */
  private pushesPending = 0;
  /** Pipeline → revision its lane is rendering now. */
  private readonly inFlight = new Map<string, string>();
  /**
   * What the attempts at a revision that left a pipeline to render again came to so far: the
   * retry renders only that pipeline at the same revision, and the revision's record (lastRender)
   * counts both, or it would report the retry's plans alone as the revision's.
   */
  private attempts:
    | (Omit<NonNullable<Planner['lastRender']>, 'totalMs' | 'retried'> & { started: number })
    | undefined;
  private evaluationQueued = false;
  private readonly units = new Map<string, PipelineUnit>();
  private active = false;
  private soakTimer: NodeJS.Timeout | undefined;
  private soakAt = Number.POSITIVE_INFINITY;
  private interval: NodeJS.Timeout | undefined;
  private readonly log: Logger;
  private readonly renderer: PlanRenderer;
  private readonly writer: ConfigWriter;
  /** Sharded: the pipelines this instance serves now, each with its tenure here (a counter). */
  private readonly owned = new Map<string, number>();
  private tenures = 0;
  /** Sharded: lease gains and losses not taken yet, in order (see handOverShard). */
  private readonly handovers: Array<{ name: string; take: boolean }> = [];
  private handingOver: Promise<void> | undefined;
  /** The valid pipelines declared at the newest revision opened, by name. */
  private declared = new Map<string, DeclaredPipeline>();
  /** Those and the refused ones (whose holder keeps their last valid definition): what sharded instances share. */
  private declaredNames: string[] = [];
  /**
   * Sharded: the newest report per (pipeline, event type, cluster) of pipelines served elsewhere,
   * folded in when one is handed over here (a report that reached us before its new holder's
   * lease is not lost with the instance that died).
   */
  private readonly parked = new Map<string, Map<string, FlotillaEvent>>();
  private readonly diffs: RenderedDiffs;

  constructor(private readonly o: PlannerOptions) {
    this.log = o.logger.child({ component: 'planner' });
    this.writer = new ConfigWriter(
      o.repo,
      (sha) => this.recordOwnCommit(sha),
      (pipeline) => o.fence(pipeline),
      (r) => this.pushRejected(r),
      (sha, written) => this.renderAhead(sha, written),
    );
    this.renderer = new PlanRenderer({ ...o, ...(o.renderBudgets ? { budgets: o.renderBudgets } : {}) });
    this.diffs = new RenderedDiffs({
      renderer: this.renderer,
      key: o.diff?.key ?? randomBytes(32),
      sensitive: o.diff?.sensitive ?? sensitiveFieldRule(undefined),
      logger: o.logger,
    });
  }

  /** Timings of the last revision rendered, for benchmarks and logs. */
  lastRender: {
    revision: string;
    /** Wall time of the render phase (kubectl, walks) of the slowest pipeline. */
    renderMs: number;
    /** From the revision's dispatch to its last pipeline recorded. */
    totalMs: number;
    /** Bringing a reported commit into the mirror (the fetch), before its dispatch. */
    fetchMs?: number;
    /** From the dispatch to the revision opened: older or not, checkout, what changed, pipelines. */
    openMs: number;
    plans: number;
    /** Pipelines rendered (the others were untouched by the commit). */
    pipelines: number;
    /**
     * Set when a pipeline had to render again at this revision (a transient failure): the
     * figures then span every attempt, the waits for the retry included.
     */
    retried?: true;
  } | null = null;

  /** The renders running now, for /metrics and tests: which pipeline, at which revision. */
  rendering(): Array<{ pipeline: string; revision: string }> {
    return [...this.inFlight].map(([pipeline, revision]) => ({ pipeline, revision }));
  }

  /** Renders handed to the lanes and not recorded yet (running or waiting), for /metrics. */
  pendingRenders(): number {
    let n = 0;
    for (const v of this.laneLoad.values()) n += v;
    return n;
  }

  /** Resolves once every revision received so far has been rendered by every pipeline lane. */
  async idle(): Promise<void> {
    await this.revisions.idle();
    await this.settled;
    await this.queue.idle();
  }

  get isActive(): boolean {
    return this.active;
  }

  /** The root pipeline (flotilla.yaml), or the only pipeline; null when there are several. */
  get currentPipeline(): Pipeline | null {
    return this.defaultUnit()?.pipeline ?? null;
  }

  /** Names of the pipelines in force. */
  pipelineNames(): string[] {
    return [...this.units.keys()].sort();
  }

  private defaultUnit(): PipelineUnit | undefined {
    const all = [...this.units.values()];
    return all.find((u) => u.scope.root) ?? (all.length === 1 ? all[0] : undefined);
  }

  /**
   * The operations of pipeline `name`; without a name, the root pipeline's (or the only one's).
   * Refuses on a standby, before any pipeline was rendered, for an unknown pipeline, and when
   * several pipelines leave the choice open.
   */
  operations(name?: string): PlannerOperations {
    if (!this.active)
      throw refused('unavailable', 'not-leader', 'this planner is on standby; ask the active one');
    const unit = name === undefined ? this.defaultUnit() : this.units.get(name);
    if (unit) return unit.operations;
    if (this.o.sharded && name !== undefined && this.declared.has(name))
      throw refused('unavailable', 'not-owner', `pipeline ${name} is served by another planner instance`);
    if (this.units.size === 0)
      throw refused('unavailable', 'no-pipeline', 'no valid pipeline has been rendered yet');
    if (name === undefined)
      throw refused(
        'bad-request',
        'pipeline-required',
        `this repo has ${this.units.size} pipelines (${this.pipelineNames().join(', ')}); name one`,
      );
    throw refused('not-found', 'not-found', `no pipeline ${name}`);
  }

  /** The operations of the pipeline holding promotion `id` (ids of pipelines/ name theirs). */
  operationsForPromotion(id: string, name?: string): PlannerOperations {
    if (name === undefined && this.active)
      for (const u of this.units.values()) if (u.promotions.get(id)) return u.operations;
    return this.operations(name);
  }

  /** The operations of the pipeline holding change `id` at one of its clusters. */
  operationsForChange(id: string, name?: string): PlannerOperations {
    if (name === undefined && this.active)
      // Approved already: a retried approval (same Idempotency-Key) is answered there.
      for (const u of this.units.values())
        for (const c of u.state.clusters.values())
          if (c.held?.changeId === id || c.approvedChange?.changeId === id) return u.operations;
    return this.operations(name);
  }

  /** The pipelines in force, for `flotilla status`. */
  pipelines(): Promise<{ pipelines: PipelineSummary[]; revision: string | null }> {
    return this.queue.run(async () => {
      if (!this.active)
        throw refused('unavailable', 'not-leader', 'this planner is on standby; ask the active one');
      const pipelines = this.pipelineNames().map((n) => {
        const u = this.units.get(n) as PipelineUnit;
        const spec = u.pipeline.spec;
        return {
          name: n,
          file: u.scope.file,
          ...(spec.owner ? { owner: spec.owner } : {}),
          ...(spec.tenant ? { tenant: spec.tenant } : {}),
          stages: spec.stages.map((s) => s.name),
          clusters: spec.stages.flatMap((s) => s.clusters.map((c) => c.name)),
        };
      });
      return { pipelines, revision: this.o.state.meta.lastRenderedRevision ?? null };
    });
  }

  /** A promotion by id, from whichever pipeline has it; `mayRead` decides by pipeline name. */
  promotion(id: string, mayRead: (pipeline: string) => boolean): Promise<{ promotion: unknown }> {
    return this.queue.run(async () => {
      for (const u of this.units.values()) {
        const p = u.promotions.get(id);
        if (!p) continue;
        if (!mayRead(u.scope.name))
          throw refused('forbidden', 'role-missing', `no read role for pipeline ${u.scope.name}`);
        return { promotion: p };
      }
      throw refused('not-found', 'not-found', `no promotion ${id}`);
    });
  }

  /**
   * The rendered diff of a promotion into its target stage, of any pipeline `mayRead` allows.
   * The decisions' queue only finds what to compare; the renders run outside it.
   */
  async promotionDiff(id: string, mayRead: (pipeline: string) => boolean): Promise<RenderedDiffAnswer> {
    const found = await this.queue.run(async () => {
      this.mustBeActive();
      for (const u of this.units.values()) {
        const p = u.promotions.get(id);
        if (!p) continue;
        if (!mayRead(u.scope.name))
          throw refused('forbidden', 'role-missing', `no read role for pipeline ${u.scope.name}`);
        const stage = findStage(u.pipeline, p.toStage);
        if (!stage)
          throw refused('not-found', 'not-found', `stage ${p.toStage} left pipeline ${u.scope.name}`);
        const jobs = promotionJobs(stage, u.state, p, promotedImageRefs(u.pipeline, p));
        if ('error' in jobs) throw refused('conflict', 'not-rendered', jobs.error);
        return { pipeline: u.scope.name, stage: stage.name, jobs };
      }
      throw refused('not-found', 'not-found', `no promotion ${id}`);
    });
    return { kind: 'promotion', id, ...(await this.diffOf(found)) };
  }

  /** The rendered diff of a change held at a gated stage, of any pipeline `mayRead` allows. */
  async changeDiff(id: string, mayRead: (pipeline: string) => boolean): Promise<RenderedDiffAnswer> {
    const found = await this.queue.run(async () => {
      this.mustBeActive();
      for (const u of this.units.values())
        for (const c of u.state.clusters.values()) {
          if (c.held?.changeId !== id) continue;
          if (!mayRead(u.scope.name))
            throw refused('forbidden', 'role-missing', `no read role for pipeline ${u.scope.name}`);
          const cluster = u.pipeline.spec.stages.flatMap((s) => s.clusters).find((x) => x.name === c.cluster);
          if (!cluster) break;
          return { pipeline: u.scope.name, stage: c.stage, jobs: [changeJob(cluster, c.held)] };
        }
      throw refused('not-found', 'not-found', `no held change ${id}`);
    });
    return { kind: 'change', id, ...(await this.diffOf(found)) };
  }

  private async diffOf(f: { pipeline: string; stage: string; jobs: DiffJob[] }) {
    return {
      pipeline: f.pipeline,
      stage: f.stage,
      clusters: await Promise.all(f.jobs.map((j) => this.diffs.diff(j))),
    };
  }

  private mustBeActive(): void {
    if (!this.active)
      throw refused('unavailable', 'not-leader', 'this planner is on standby; ask the active one');
  }

  /**
   * Throws `bus.lease-lost` unless this instance holds, on its own clock, the lease that lets it
   * write `scope`'s state (PlannerState calls it before every write): the leader lease; sharded,
   * the pipeline's own (the repo's entries are no instance's: see below). `isActive` is not enough:
   * it lags the lease by up to a lease cycle, and a leader paused past its TTL resumes with work
   * in hand that would overwrite what its successor saved meanwhile.
   */
  fenceState(scope: string | undefined): void {
    // One leader: its lease covers every entry, whichever pipeline is named.
    if (!this.o.sharded) this.o.fence(this.rootPipeline() ?? '');
    else if (scope !== undefined) this.o.fence(scope === ROOT_SCOPE ? (this.rootPipeline() ?? '') : scope);
    // Sharded, no lease covers the repo's own entries, so none may be put whole: one instance's
    // copy would overwrite what another (or its own successor) saved. The shared ones are
    // written by compare-and-set instead (recordTag, shareOwnCommit); the meta stays in memory.
    else
      throw new FlotillaError(
        'planner.unfenced-write',
        'sharded, no instance owns the repo-wide state: it is written by compare-and-set only',
      );
  }

  /**
   * Throws unless this instance may act on (and so acknowledge) a consumed event: active and,
   * with one leader, still holding its lease. A message handled by a leader that lost its lease
   * while paused goes back to the stream (nak, then redelivered to the new leader); acknowledged
   * here it would be gone for good (a cluster's health report, and with it the promotion that
   * waits for it).
   */
  private mustLead(): void {
    if (!this.active)
      throw new FlotillaError('planner.not-leader', 'not the active planner', { disposition: 'retry' });
    if (!this.o.sharded) this.o.fence(this.rootPipeline() ?? '');
  }

  /** The name of the repo's root pipeline (flotilla.yaml), once one was rendered. */
  rootPipeline(): string | null {
    for (const u of this.units.values()) if (u.scope.root) return u.scope.name;
    return null;
  }

  /** Becomes the acting planner: load the view, catch up with the repo, resume open promotions. */
  async activate(): Promise<void> {
    const head = await this.queue.run(async () => {
      if (this.active) return undefined;
      // Sharded: only the registry's tags now; each pipeline's entries when it is handed over.
      await this.o.state.load(this.o.sharded ? new Set() : undefined);
      this.units.clear();
      this.sources.clear();
      this.retry.clear();
      this.dispatched = undefined;
      this.attempts = undefined;
      this.active = true;
      const head = await this.o.repo.fetch();
      const inForce = this.o.state.meta.pipelineRevision;
      if (inForce) {
        const { set } = await this.renderer.pipelinesAt(inForce);
        for (const d of set.pipelines) this.target(d);
      }
      return head;
    });
    if (head === undefined) return;
    // The head renders in full (what each pipeline reads is not known yet); decisions and the
    // API go on meanwhile.
    if (head) await this.render(head);
    await this.settled;
    await this.queue.run(async () => {
      if (!this.active) return;
      // Decisions saved before a crash or an outage publish their events first (same ids: a copy
      // JetStream already stored is dropped as a duplicate).
      await this.publishOutbox();
      // Commits pushed before a crash whose decisions were not yet recorded: promotions resume
      // from their saved status (a pushed commit is found by its trailer), rollbacks from their
      // saved intent. Either way the event is recorded once, without the client retrying.
      for (const u of this.units.values()) await u.operations.recoverRollbacks(u.pipeline);
      for (const u of this.units.values()) await u.operations.resumeApprovedChanges(u.pipeline);
      for (const u of this.units.values()) await u.promotions.resumeOpen(u.pipeline);
      await this.evaluate();
      this.interval = setInterval(() => void this.tick(), this.o.evaluateIntervalMs);
    });
  }

  /** Sharded: the pipelines declared at the newest revision, for the leases to compete for. */
  declaredPipelines(): string[] {
    return this.declaredNames;
  }

  /** Sharded: the pipelines this instance serves now. */
  ownedPipelines(): string[] {
    return [...this.owned.keys()].sort();
  }

  private owns(name: string): boolean {
    return !this.o.sharded || this.owned.has(name);
  }

  /**
   * Sharded: pipeline `name`'s lease is ours. Loads its state as the previous holder left it,
   * renders it at the newest revision (a fresh holder knows nothing of what it read), publishes
   * what its saved decisions still owe, resumes its open promotions and folds in the reports
   * that arrived meanwhile. Resolves once that is done (or the pipeline went again).
   */
  acquire(name: string): Promise<void> {
    return this.handOverShard(name, true);
  }

  /**
   * Sharded: pipeline `name`'s lease is gone (or no longer ours to want). Its state is forgotten,
   * its saved events are left to the next holder; a render of it still running records nothing.
   */
  release(name: string): Promise<void> {
    return this.handOverShard(name, false);
  }

  /**
   * Gains and losses are taken in order, in batches: a lease cycle that hands over many
   * pipelines at once (an instance joined or died) loads their state in one pass over the
   * bucket and renders them in one revision dispatch.
   */
  private handOverShard(name: string, take: boolean): Promise<void> {
    this.handovers.push({ name, take });
    this.handingOver ??= this.drainHandovers();
    return this.handingOver;
  }

  private async drainHandovers(): Promise<void> {
    for (;;) {
      const batch = this.handovers.splice(0);
      if (batch.length === 0) {
        // Cleared in the same turn as the emptiness check: a gain queued later starts a new drain.
        this.handingOver = undefined;
        return;
      }
      try {
        await this.takeHandovers(batch);
      } catch (e) {
        this.log.error({ err: messageOf(e) }, 'taking over pipelines failed');
      }
    }
  }

  private async takeHandovers(batch: ReadonlyArray<{ name: string; take: boolean }>): Promise<void> {
    // Released in between counts even when retaken: another holder may have acted meanwhile.
    const released = new Set(batch.filter((h) => !h.take).map((h) => h.name));
    const final = new Map(batch.map((h) => [h.name, h.take]));
    const taken = await this.queue.run(async () => {
      for (const name of released) this.dropShard(name);
      if (!this.active || !this.o.sharded) return [];
      const gained = [...final]
        .filter(([name, take]) => take && !this.owned.has(name) && this.declared.has(name))
        .map(([name]) => this.declared.get(name) as DeclaredPipeline);
      if (gained.length === 0) return [];
      const scopes = gained.map((d) =>
        d.file === this.o.pipelineFile ? ROOT_SCOPE : d.pipeline.metadata.name,
      );
      await this.o.state.load(new Set(scopes));
      for (const d of gained) {
        const name = d.pipeline.metadata.name;
        this.owned.set(name, ++this.tenures);
        this.units.delete(name);
        this.target(d);
        this.sources.delete(name);
        this.retry.add(name);
      }
      this.log.info(
        { pipelines: gained.map((d) => d.pipeline.metadata.name) },
        'pipelines handed to this instance',
      );
      return gained.map((d) => d.pipeline.metadata.name);
    });
    if (taken.length === 0) return;
    if (this.dispatched) await this.render(this.dispatched);
    await this.settled;
    await this.queue.run(async () => {
      if (!this.active) return;
      await this.publishOutbox();
      for (const name of taken) {
        const unit = this.units.get(name);
        if (!unit || !this.owned.has(name)) continue;
        await unit.promotions.resumeOpen(unit.pipeline);
        for (const e of this.parked.get(name)?.values() ?? []) await this.report(e);
        this.parked.delete(name);
        await this.evaluate(unit);
      }
    });
  }

  /** Forgets a pipeline handed over (in the queue). */
  private dropShard(name: string): void {
    if (!this.owned.has(name)) return;
    this.owned.delete(name);
    const unit = this.units.get(name);
    this.units.delete(name);
    this.sources.delete(name);
    this.retry.delete(name);
    if (unit) this.o.state.drop(unit.scope.root ? ROOT_SCOPE : name);
    this.log.info({ pipeline: name }, 'pipeline handed over to another instance');
  }

  async deactivate(): Promise<void> {
    this.active = false;
    clearInterval(this.interval);
    clearTimeout(this.soakTimer);
    this.soakAt = Number.POSITIVE_INFINITY;
    await this.idle();
  }

  /**
   * Queues one evaluation unless one is already waiting: the interval keeps firing while a long
   * render holds the queue, and a waiting evaluation will see everything the skipped ones would.
   */
  private tick(): void {
    if (!this.active) return;
    // A pipeline whose render failed (NATS, the object store) renders again once nothing else does.
    if (this.retry.size > 0 && this.revisions.size === 0 && this.dispatched)
      void this.render(this.dispatched).catch((e) =>
        this.log.warn({ err: messageOf(e) }, 'rendering again failed'),
      );
    if (this.evaluationQueued) return;
    this.evaluationQueued = true;
    void this.queue
      .run(async () => {
        this.evaluationQueued = false;
        await this.publishOutbox();
        return await this.evaluate();
      })
      .catch((e) => this.log.warn({ err: messageOf(e) }, 'promotion evaluation failed'));
  }

  /** Publishes the events of saved decisions still owed (in the queue); a failure waits for the next tick. */
  private async publishOutbox(): Promise<void> {
    if (this.o.state.pendingEvents().length === 0) return;
    const [unit] = this.units.values();
    try {
      if (unit) await unit.promotions.flush();
      else await this.o.state.publishOutbox((e) => this.o.bus.publishEvent(e));
    } catch (e) {
      this.log.warn({ err: messageOf(e) }, 'publishing saved decisions failed; retrying on the next tick');
    }
  }

  /**
   * Consumer entry point. Throwing makes the bus retry (then dead-letter). `seq`: the event's
   * stream sequence (the same in every instance's consumer), which orders tag reports.
   */
  async handle(event: FlotillaEvent, seq?: number): Promise<void> {
    // A commit is only handed to the render lanes here: its renders never hold the decisions.
    // Checked before acting and again before the acknowledgement (the process may have been
    // paused in between): see mustLead.
    if (isEventOf(GitCommitDetected, event)) {
      this.mustLead();
      await this.onCommit(event);
      this.mustLead();
      return;
    }
    return await this.queue.run(async () => {
      this.mustLead();
      if (isEventOf(ImageTagDetected, event)) await this.onImageTag(event, seq);
      else await this.report(event);
      this.mustLead();
    });
  }

  /** A cluster's report (apply result, health), folded into the pipeline its plan was for. */
  private async report(event: FlotillaEvent): Promise<void> {
    if (isEventOf(ApplySucceeded, event))
      await this.reported(event, event.data.pipeline, (u) => u.health.onApplySucceeded(event));
    else if (isEventOf(ApplyFailed, event))
      await this.reported(event, event.data.pipeline, (u) => u.health.onApplyFailed(event));
    else if (isEventOf(HealthChanged, event))
      await this.reported(event, event.data.pipeline, (u) => u.health.onHealth(event));
  }

  /**
   * A cluster's report goes to the pipeline its plan was for (the root one when it names none);
   * sharded, one served elsewhere is parked (the newest per type and cluster) for a handover.
   */
  private async reported(
    event: FlotillaEvent & { data: { cluster: string } },
    pipeline: string | undefined,
    fold: (u: PipelineUnit) => Promise<boolean>,
  ): Promise<void> {
    const unit =
      pipeline === undefined
        ? [...this.units.values()].find((u) => u.scope.root)
        : [...this.units.values()].find((u) => !u.scope.root && u.name === pipeline);
    if (unit) {
      if (await fold(unit)) await this.evaluate(unit);
      return;
    }
    if (!this.o.sharded) return;
    const name =
      pipeline ??
      [...this.declared.values()].find((d) => d.file === this.o.pipelineFile)?.pipeline.metadata.name;
    if (name === undefined || !this.declared.has(name)) return;
    let parked = this.parked.get(name);
    if (!parked) {
      parked = new Map();
      this.parked.set(name, parked);
    }
    const key = `${event.type}/${event.data.cluster}`;
    parked.delete(key);
    parked.set(key, event);
  }

  private async onImageTag(e: EventOf<typeof ImageTagDetected>, seq?: number): Promise<void> {
    // Sharded, the holder of each pipeline acts on the tag; an instance serving none has nothing to do.
    if (this.units.size === 0 && this.o.sharded) return;
    if (this.units.size === 0)
      throw new FlotillaError('planner.no-pipeline', 'no valid pipeline yet', { disposition: 'retry' });
    for (const u of [...this.units.values()]) await u.images.onImageTag(e, u.pipeline, seq);
  }

  private async onCommit(e: EventOf<typeof GitCommitDetected>): Promise<void> {
    if (e.data.repo !== this.o.repoName || e.data.branch !== this.o.branch) return;
    if (this.isRenderedEcho(e.data.sha)) return;
    const fetching = performance.now();
    if (!(await this.o.repo.fetchReported(e.data.sha))) {
      this.log.warn({ sha: e.data.sha }, 'commit not found in the config repo; skipped');
      return;
    }
    await this.render(e.data.sha, e, { fetchMs: performance.now() - fetching });
  }

  /**
   * The git-watcher's report of a commit already rendered (handed to the lanes): that revision, or
   * one of our own pushes followed by a later own push that was rendered (our pushes go on top of
   * each other, so that render contained it). Answered from state alone: no git process holds
   * the queue for an echo of our own work. Anything else takes the full path.
   */
  private isRenderedEcho(sha: string): boolean {
    // A pipeline waiting to render again takes the full path (dispatch retries it).
    if (this.retry.size > 0) return false;
    const meta = this.o.state.meta;
    const rendered = this.dispatched ?? meta.lastRenderedRevision;
    if (!rendered) return false;
    if (rendered === sha) return true;
    const own = meta.ownCommits ?? [];
    const at = own.indexOf(sha);
    return at >= 0 && own.indexOf(rendered) > at;
  }

  /**
   * The unit of a declared pipeline, created or updated (its state is kept by name). A pipeline
   * that moved between flotilla.yaml and pipelines/ is a new unit: its keys and ids change.
   */
  private target(d: DeclaredPipeline): RenderTarget {
    const name = d.pipeline.metadata.name;
    let unit = this.units.get(name);
    if (!unit || unit.scope.file !== d.file) {
      const scope = pipelineScope(name, d.file, this.o.pipelineFile);
      const state = scope.root ? this.o.state : this.o.state.scoped(name);
      unit = new PipelineUnit(scope, d.pipeline, state, {
        bus: this.o.bus,
        repo: this.o.repo,
        writer: this.writer,
        logger: this.o.logger,
        ...(this.o.faults ? { faults: this.o.faults } : {}),
        ...(this.o.idempotencyTtlMs !== undefined ? { idempotencyTtlMs: this.o.idempotencyTtlMs } : {}),
        afterPush: (cause) => this.afterPush(cause),
        host: (u) => this.hostFor(u),
      });
      this.units.set(name, unit);
    }
    unit.pipeline = d.pipeline;
    return { scope: unit.scope, pipeline: d.pipeline, state: unit.state };
  }

  private hostFor(unit: PipelineUnit) {
    return {
      exclusive: <T>(fn: (pipeline: Pipeline) => Promise<T>) =>
        this.queue.run(async () => {
          if (!this.active)
            throw refused('unavailable', 'not-leader', 'this planner is on standby; ask the active one');
          if (this.units.get(unit.name) !== unit)
            throw refused('not-found', 'not-found', `pipeline ${unit.name} is no longer in the repo`);
          return await fn(unit.pipeline);
        }),
      queued: <T>(fn: () => Promise<T>) => this.queue.run(fn),
      evaluate: () => this.evaluate(unit),
      afterPush: (cause?: FlotillaEvent) => this.afterPush(cause),
      lastRenderedRevision: () => this.o.state.meta.lastRenderedRevision ?? null,
      ownCommits: () => new Set(this.o.state.meta.ownCommits ?? []),
      issueHeld: (stage: Stage, cluster: Stage['clusters'][number]) =>
        this.renderer.issueHeld(
          { scope: unit.scope, pipeline: unit.pipeline, state: unit.state },
          stage,
          cluster,
        ),
    };
  }

  /**
   * Renders `revision`: in the revision queue, checks its signatures, opens it and hands each
   * pipeline it touches to that pipeline's lane (see render-selection.ts); resolves once handed
   * over. Lanes render side by side (a slow render holds only its own pipeline) and record
   * their plans as short decisions. The revision counts as rendered (`lastRenderedRevision`,
   * what a restart starts from) only when it and every earlier one finished in every lane.
   */
  render(revision: string, cause?: FlotillaEvent, timing?: { fetchMs: number }): Promise<void> {
    return this.revisions.run(() =>
      withSpan('plan revision', { attributes: { 'flotilla.revision': revision } }, () =>
        this.dispatch(revision, cause, timing),
      ),
    );
  }

  private async dispatch(
    revision: string,
    cause?: FlotillaEvent,
    timing?: { fetchMs: number },
  ): Promise<void> {
    if (!this.active) return;
    const started = performance.now();
    const { state } = this.o;
    const since = this.dispatched ?? state.meta.lastRenderedRevision ?? null;
    if (since === revision && this.retry.size === 0) return;
    // Sharded, another instance's pushes are as much our own: trusted under `require` too.
    if (this.o.sharded && this.o.signature?.policy === 'require')
      state.meta.ownCommits = await state.sharedOwnCommits();
    // Two questions: is it older than what we rendered, and what changed since? The usual commit
    // is a child of the revision rendered last: its commit object (read through the mirror's
    // long-lived object reader) says so, and the two commits' trees say what changed
    // (ConfigRepo.checkoutChanges): no git process at all. Anything else asks one `git log
    // since..revision` (nothing in the range: older), beside the checkout unless every commit must
    // verify first: each is a git process whose wall time on a loaded machine is mostly waiting
    // to be scheduled, and side by side they cost one wait, not two.
    const verifyFirst = this.o.signature?.policy === 'require';
    const from = since !== null && since !== revision ? since : null;
    const child =
      from !== null &&
      (await this.o.repo.mirror.commit(revision).catch(() => undefined))?.parents.includes(from) === true;
    const diffFrom = child && from !== null ? from : undefined;
    const range = from !== null && !child ? this.changedPaths(from, revision) : Promise.resolve(null);
    const early = verifyFirst ? undefined : this.renderer.checkout(revision, diffFrom);
    // Awaited below; a failure meanwhile must not count as unhandled.
    early?.catch(() => {});
    const releaseEarly = () => early?.then((t) => this.renderer.releaseTree(t.dir)).catch(() => {});
    let changed = await range.catch(async (e) => {
      await releaseEarly();
      throw e;
    });
    const older =
      from !== null &&
      !child &&
      (changed ? changed.commits === 0 : await this.o.repo.isAncestor(revision, from));
    if (older || (verifyFirst && !(await this.renderer.signatureAllows(revision, since, cause)))) {
      if (older) this.log.info({ revision, last: since }, 'older than the last rendered revision; skipped');
      await releaseEarly();
      return;
    }
    let tree: Awaited<ReturnType<PlanRenderer['checkout']>>;
    try {
      tree = await (early ?? this.renderer.checkout(revision, diffFrom));
    } catch (e) {
      // Retrying cannot read a file over the limit: said once, and the revision is passed over.
      if (!isGitError(e, 'git.object-too-large')) throw e;
      await this.renderer.reportUnreadable(revision, e, cause);
      return;
    }
    // A child has at least one commit in the range; trees that could not be compared: ask git.
    if (diffFrom !== undefined)
      changed = tree.changed
        ? { paths: tree.changed, commits: 1 }
        : await this.changedPaths(diffFrom, revision);
    const opened = await this.renderer.open(
      revision,
      tree.dir,
      cause,
      from !== null && changed ? { since: from, paths: changed.paths } : undefined,
    );
    const openMs = performance.now() - started;
    let lanes: Array<Promise<PipelineRenderResult | null>>;
    try {
      lanes = await this.queue.run(() => this.handOver(opened, since, changed?.paths ?? null, cause));
    } catch (e) {
      await this.renderer.release(opened);
      throw e;
    }
    // The tree goes once every lane is done with it, also when this planner stood down meanwhile.
    const all = Promise.all(lanes).finally(() => this.renderer.release(opened));
    if (!this.active) return;
    this.dispatched = revision;
    const previous = this.settled;
    this.settled = (async () => {
      await previous;
      const results = await all;
      if (!this.active) return;
      await this.queue.run(async () => {
        const done = results.filter((r): r is PipelineRenderResult => r !== null);
        // A retry at the same revision continues the figures of the attempts before it.
        const before = this.attempts?.revision === revision ? this.attempts : undefined;
        const fetchMs = before ? before.fetchMs : timing?.fetchMs;
        const so = {
          revision,
          started: before?.started ?? started,
          ...(fetchMs !== undefined ? { fetchMs } : {}),
          openMs: before?.openMs ?? openMs,
          plans: (before?.plans ?? 0) + done.reduce((n, r) => n + r.plans, 0),
          pipelines: (before?.pipelines ?? 0) + done.length,
          renderMs: Math.max(before?.renderMs ?? 0, ...done.map((r) => r.renderMs)),
        };
        // While a pipeline waits to render again, no revision counts as rendered: a restart
        // renders the head again.
        if (results.some((r) => r === null) || this.retry.size > 0) {
          this.attempts = so;
          return;
        }
        this.attempts = undefined;
        // The definitions in force on a restart: a removal not finished yet is seen again.
        if (opened.set.pipelines.length > 0) state.meta.pipelineRevision = revision;
        state.meta.lastRenderedRevision = revision;
        // Sharded instances would overwrite each other's: theirs stays in memory (a new holder
        // renders a pipeline in full anyway).
        if (!this.o.sharded) await state.saveMeta();
        const { started: first, ...figures } = so;
        this.lastRender = {
          ...figures,
          totalMs: performance.now() - first,
          ...(before ? { retried: true as const } : {}),
        };
      });
    })().catch((e) => this.log.error({ err: messageOf(e), revision }, 'recording a render failed'));
  }

  /**
   * The decision step of a revision: drops pipelines gone from the repo, updates the ones in
   * force, and starts the render of each that the change may affect in its lane.
   */
  private async handOver(
    opened: OpenedRevision,
    since: string | null,
    changed: string[] | null,
    cause: FlotillaEvent | undefined,
  ): Promise<Array<Promise<PipelineRenderResult | null>>> {
    if (!this.active) return [];
    const { set, revision } = opened;
    this.declared = new Map(set.pipelines.map((d) => [d.pipeline.metadata.name, d]));
    this.declaredNames = [
      ...new Set([...this.declared.keys(), ...set.refused.flatMap((r) => (r.name ? [r.name] : []))]),
    ];
    // A pipeline gone from the repo stops here; its objects stay unless its deletionPolicy is
    // prune. A refused one keeps its last valid definition in force.
    const declared = new Set([
      ...set.pipelines.map((p) => p.pipeline.metadata.name),
      ...set.refused.flatMap((r) => (r.name ? [r.name] : [])),
    ]);
    const refusedFiles = new Set(set.refused.map((r) => r.file));
    const retiring: Array<Promise<PipelineRenderResult | null>> = [];
    for (const [name, unit] of [...this.units]) {
      if (declared.has(name) || refusedFiles.has(unit.scope.file)) continue;
      this.units.delete(name);
      this.sources.delete(name);
      this.retry.delete(name);
      const policy = unit.pipeline.spec.deletionPolicy ?? 'orphan';
      this.log.info({ pipeline: name, deletionPolicy: policy }, 'pipeline removed from the repo');
      if (policy === 'prune') retiring.push(this.retireInLane(unit, revision, cause));
      else this.lanes.delete(name);
    }
    if (set.pipelines.length === 0) return retiring;
    const before = new Map([...this.units].map(([n, u]) => [n, JSON.stringify(u.pipeline)]));
    const targets = set.pipelines
      .filter((d) => this.owns(d.pipeline.metadata.name))
      .map((d) => this.target(d));
    const chosen = new Set(
      since === revision
        ? this.retry
        : pipelinesToRender({
            pipelines: targets.map((t) => ({
              name: t.scope.name,
              file: t.scope.file,
              definitionChanged: before.get(t.scope.name) !== JSON.stringify(t.pipeline),
            })),
            changed: this.o.renderScope === 'all' ? null : changed,
            sources: this.sources,
            retry: this.retry,
          }),
    );
    return [
      ...retiring,
      ...targets.filter((t) => chosen.has(t.scope.name)).map((t) => this.inLane(t, opened, cause)),
    ];
  }

  /**
   * After its pending renders, a removed pipeline under `deletionPolicy: prune` gets an empty
   * plan per cluster (see PlanRenderer.retirePipeline); then its lane is gone.
   */
  private retireInLane(
    unit: PipelineUnit,
    revision: string,
    cause: FlotillaEvent | undefined,
  ): Promise<PipelineRenderResult | null> {
    const name = unit.name;
    const lane = this.lanes.get(name) ?? new SerialQueue();
    this.lanes.delete(name);
    const target: RenderTarget = { scope: unit.scope, pipeline: unit.pipeline, state: unit.state };
    return lane.run(async () => {
      if (!this.active) return null;
      try {
        const plans = await this.renderer.retirePipeline(target, revision, (fn) => this.queue.run(fn), cause);
        this.log.info({ pipeline: name, plans }, 'removed pipeline pruned: empty plans published');
        return { plans, renderMs: 0, sources: [] };
      } catch (e) {
        this.log.error({ err: messageOf(e), pipeline: name, revision }, 'pruning a removed pipeline failed');
        return null;
      }
    });
  }

  /** Renders one pipeline at an opened revision in its lane; null (and a retry) on failure. */
  private inLane(
    target: RenderTarget,
    opened: OpenedRevision,
    cause: FlotillaEvent | undefined,
  ): Promise<PipelineRenderResult | null> {
    const name = target.scope.name;
    let lane = this.lanes.get(name);
    if (!lane) {
      lane = new SerialQueue();
      this.lanes.set(name, lane);
    }
    this.retry.delete(name);
    this.laneLoad.set(name, (this.laneLoad.get(name) ?? 0) + 1);
    let counted = true;
    // Called as a decision, right before the pipeline's promotions are evaluated again.
    const finished = () => {
      if (!counted) return;
      counted = false;
      const left = (this.laneLoad.get(name) ?? 1) - 1;
      if (left > 0) this.laneLoad.set(name, left);
      else this.laneLoad.delete(name);
    };
    // Sharded: a render handed over in one tenure of the pipeline here records nothing in another.
    const tenure = this.owned.get(name);
    const current = () => !this.o.sharded || this.owned.get(name) === tenure;
    return lane.run(async () => {
      try {
        if (!this.active) return null;
        if (!current()) return { plans: 0, renderMs: 0, sources: [] };
        this.inFlight.set(name, opened.revision);
        const r = await this.renderer.renderPipeline(
          target,
          opened,
          (fn) =>
            this.queue.run(() => {
              if (!current()) throw leaseLost(`pipeline.${name}`, 'this instance');
              return fn();
            }),
          cause,
        );
        await this.queue.run(async () => {
          if (r.sources) this.sources.set(name, r.sources);
          else this.sources.delete(name);
          finished();
          const unit = this.units.get(name);
          if (unit) await this.evaluate(unit);
        });
        return r;
      } catch (e) {
        if (!current()) {
          this.log.info(
            { pipeline: name, revision: opened.revision },
            'handed over while rendering; nothing recorded',
          );
          return { plans: 0, renderMs: 0, sources: [] };
        }
        this.retry.add(name);
        this.sources.delete(name);
        if (e instanceof FlotillaError && e.code === 'bus.lease-lost')
          // Fenced, as it must be: the claim ran out mid-render (a pause, a partition). Whoever
          // leads next renders the head on activation; nothing of this render was published.
          this.log.warn(
            { pipeline: name, revision: opened.revision },
            'leadership lost while rendering; nothing published, the next leader renders the head',
          );
        else
          this.log.error(
            { err: messageOf(e), pipeline: name, revision: opened.revision },
            'render failed; the pipeline renders again at the next evaluation tick',
          );
        return null;
      } finally {
        finished();
        this.inFlight.delete(name);
      }
    });
  }

  /**
   * Paths changed in `since..revision` (every commit, merges against their first parent) and how
   * many commits that range holds (none: `revision` is `since` or older); null when git could not
   * tell.
   */
  private async changedPaths(
    since: string,
    revision: string,
  ): Promise<{ paths: string[]; commits: number } | null> {
    try {
      const commits = await this.o.repo.mirror.commitsBetween(since, revision);
      return { paths: [...new Set(commits.flatMap((c) => c.changedPaths))], commits: commits.length };
    } catch (e) {
      this.log.warn({ err: messageOf(e), since, revision }, 'changed paths unknown; rendering everything');
      return null;
    }
  }

  /**
   * A held change: raise `GitPushRejected` on the 1st, 2nd, 4th, 8th… refusal, so a remote that
   * refuses for hours is visible without writing an event per retry into the stream and audit log.
   */
  private async pushRejected(rejection: PushRejection): Promise<void> {
    // A pre-receive hook's output is the remote's text, quoted back: scrubbed like the apiserver's.
    const r = { ...rejection, message: scrubApiMessage(rejection.message) };
    this.log.warn(
      { change: r.change, code: r.code, attempts: r.attempts, err: r.message },
      'push refused; held',
    );
    if ((r.attempts & (r.attempts - 1)) !== 0) return;
    await this.o.bus.publish(
      GitPushRejected,
      { repo: this.o.repoName, branch: this.o.branch, ...r, message: r.message.slice(0, 2000) },
      {
        id: `push-rejected-${createHash('sha256').update(r.change).digest('hex').slice(0, 16)}-${r.attempts}`,
      },
    );
  }

  /** Remembers a commit this planner pushed (in the queue, before any render of it). */
  private async recordOwnCommit(sha: string): Promise<void> {
    const meta = this.o.state.meta;
    if (this.o.sharded) {
      meta.ownCommits = await this.o.state.shareOwnCommit(sha, OWN_COMMITS_KEPT);
      return;
    }
    meta.ownCommits = [...(meta.ownCommits ?? []).filter((s) => s !== sha), sha].slice(-OWN_COMMITS_KEPT);
    await this.o.state.saveMeta();
  }

  /**
   * A commit of ours about to be pushed: its changed clusters render while the push and the fetch
   * run, so the render of the pushed head finds them in the cache (see PlanRenderer.renderAhead).
   */
  private renderAhead(sha: string, written: readonly string[]): void {
    if (this.o.renderOwnPush === false || this.o.renderAhead === false) return;
    const targets = [...this.units.values()].map((u) => ({
      scope: u.scope,
      pipeline: u.pipeline,
      state: u.state,
    }));
    this.renderer.renderAhead(sha, written, targets);
  }

  /**
   * After our own push: fetch and render the new head without waiting for the git-watcher (its
   * GitCommitDetected for the same sha is then skipped as already rendered). The plans continue
   * the correlation and trace of `cause`, the event that announced the commit. Called from
   * inside a decision, so the render is only started here (it needs the queue).
   */
  private async afterPush(cause?: FlotillaEvent): Promise<void> {
    if (this.o.renderOwnPush === false) return;
    // The branch exists (we just pushed to it): fetch without asking the remote for its head first.
    const head = await this.o.repo.fetchBranch();
    // Until the lanes have it, every pipeline's view may be about to change: no promotion is
    // decided on the view from before our own commit (a rollback must not be promoted past).
    this.pushesPending++;
    void this.render(head, cause)
      .catch((e) => this.log.warn({ err: messageOf(e), head }, 'rendering our own push failed'))
      .finally(() => {
        this.pushesPending--;
      });
  }

  /** Re-runs the promotion rules (of one pipeline, or all); schedules the next soak check. */
  private async evaluate(only?: PipelineUnit): Promise<void> {
    if (!this.active || this.pushesPending > 0) return;
    for (const u of only ? [only] : [...this.units.values()]) {
      // A pipeline with a render to come decides once it is recorded (its lane evaluates then).
      if (this.laneLoad.has(u.name)) continue;
      await u.promotions.evaluate(u.pipeline, (at) => this.scheduleSoak(at));
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
}
