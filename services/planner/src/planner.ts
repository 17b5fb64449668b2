import type { BlobStore, Bus } from '@flotilla/bus';
import { FlotillaError, messageOf } from '@flotilla/errors';
import {
  ApplyFailed,
  ApplySucceeded,
  type EventOf,
  type FlotillaEvent,
  GitCommitDetected,
  HealthChanged,
  ImageTagDetected,
  isEventOf,
} from '@flotilla/events';
import type { Pipeline } from '@flotilla/policy';
import type { Logger } from '@flotilla/runtime';
import type { SigningKey } from '@flotilla/trust';
import type { ConfigRepo } from './config-repo.ts';
import { ConfigWriter } from './config-writer.ts';
import { HealthView } from './health-view.ts';
import { ImageAutomation } from './image-automation.ts';
import { refused } from './operation-error.ts';
import { PlannerOperations } from './operations.ts';
import { PlanRenderer } from './plan-renderer.ts';
import { Promotions } from './promotions.ts';
import { SerialQueue } from './serial-queue.ts';
import type { PlannerState } from './state.ts';

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

/**
 * The acting planner: one queue through which every decision passes (events, API operations,
 * timers), so state changes never interleave. It wires the components and owns activation, the
 * pipeline in force and the soak timer; the work is theirs:
 * - PlanRenderer: revision → signed plans;
 * - ImageAutomation: new tags → first-stage commits;
 * - HealthView: apply/health reports → per-cluster view;
 * - Promotions: rules → proposals → commits, through @flotilla/policy's `nextPromotion`;
 * - ConfigWriter: the only writer of the config repo;
 * - PlannerOperations: the API's operations (api.ts maps their refusals to HTTP).
 */
export class Planner {
  private readonly queue = new SerialQueue();
  private pipeline: Pipeline | null = null;
  private active = false;
  private soakTimer: NodeJS.Timeout | undefined;
  private soakAt = Number.POSITIVE_INFINITY;
  private interval: NodeJS.Timeout | undefined;
  private readonly log: Logger;
  private readonly renderer: PlanRenderer;
  private readonly images: ImageAutomation;
  private readonly health: HealthView;
  private readonly promotions: Promotions;
  readonly operations: PlannerOperations;

  constructor(private readonly o: PlannerOptions) {
    this.log = o.logger.child({ component: 'planner' });
    const writer = new ConfigWriter(o.repo);
    const afterPush = () => this.afterPush();
    this.renderer = new PlanRenderer(o);
    this.health = new HealthView(o.state, this.log);
    this.images = new ImageAutomation({ bus: o.bus, state: o.state, writer, logger: o.logger, afterPush });
    this.promotions = new Promotions({
      bus: o.bus,
      repo: o.repo,
      state: o.state,
      writer,
      health: this.health,
      logger: o.logger,
      afterPush,
      ...(o.crashAt ? { crashAt: o.crashAt } : {}),
    });
    this.operations = new PlannerOperations({
      host: {
        exclusive: (fn) =>
          this.queue.run(async () => {
            if (!this.active)
              throw refused('unavailable', 'not-leader', 'this planner is on standby; ask the active one');
            if (!this.pipeline)
              throw refused('unavailable', 'no-pipeline', 'no valid pipeline has been rendered yet');
            return await fn(this.pipeline);
          }),
        queued: (fn) => this.queue.run(fn),
        evaluate: () => this.evaluate(),
        afterPush,
        lastRenderedRevision: () => o.state.meta.lastRenderedRevision ?? null,
      },
      bus: o.bus,
      repo: o.repo,
      state: o.state,
      writer,
      health: this.health,
      promotions: this.promotions,
    });
  }

  /** Timings of the last render, for benchmarks and logs: wall time of the kubectl phase vs all. */
  get lastRender(): PlanRenderer['lastRender'] {
    return this.renderer.lastRender;
  }

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
      const inForce = this.o.state.meta.pipelineRevision;
      if (inForce) this.pipeline = (await this.renderer.pipelineAt(inForce)) ?? this.pipeline;
      if (head) await this.render(head);
      await this.promotions.resumeOpen(this.pipeline);
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
      else if (isEventOf(ImageTagDetected, event)) await this.images.onImageTag(event, this.pipeline);
      else if (isEventOf(ApplySucceeded, event)) await this.reported(this.health.onApplySucceeded(event));
      else if (isEventOf(ApplyFailed, event)) await this.reported(this.health.onApplyFailed(event));
      else if (isEventOf(HealthChanged, event)) await this.reported(this.health.onHealth(event));
    });
  }

  private async reported(changed: Promise<boolean>): Promise<void> {
    if (await changed) await this.evaluate();
  }

  private async onCommit(e: EventOf<typeof GitCommitDetected>): Promise<void> {
    if (e.data.repo !== this.o.repoName || e.data.branch !== this.o.branch) return;
    if (!(await this.o.repo.has(e.data.sha))) {
      this.log.warn({ sha: e.data.sha }, 'commit not found in the config repo; skipped');
      return;
    }
    await this.render(e.data.sha, e);
  }

  /** Renders `revision` (see PlanRenderer) and, when it holds a valid pipeline, re-evaluates. */
  async render(revision: string, cause?: FlotillaEvent): Promise<void> {
    const outcome = await this.renderer.render(revision, cause);
    if (outcome.kind !== 'rendered') return;
    this.pipeline = outcome.pipeline;
    await this.evaluate();
  }

  /** After our own push: fetch and render the new head without waiting for the git-watcher. */
  private async afterPush(): Promise<void> {
    const head = await this.o.repo.fetch();
    if (head) await this.render(head);
  }

  /** Re-runs the promotion rules for every stage; schedules the next soak check. */
  private async evaluate(): Promise<void> {
    if (!this.pipeline || !this.active) return;
    await this.promotions.evaluate(this.pipeline, (at) => this.scheduleSoak(at));
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
