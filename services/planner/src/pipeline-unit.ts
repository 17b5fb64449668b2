import type { Bus } from '@flotilla/bus';
import type { FlotillaEvent } from '@flotilla/events';
import type { Pipeline } from '@flotilla/policy';
import type { Logger } from '@flotilla/runtime';
import type { ConfigRepo } from './config-repo.ts';
import type { ConfigWriter } from './config-writer.ts';
import { HealthView } from './health-view.ts';
import { ImageAutomation } from './image-automation.ts';
import { type OperationsHost, PlannerOperations } from './operations.ts';
import type { PipelineScope } from './pipeline-scope.ts';
import { type PlannerFaults, Promotions } from './promotions.ts';
import type { PlannerState } from './state.ts';

export interface PipelineUnitDeps {
  bus: Bus;
  repo: ConfigRepo;
  writer: ConfigWriter;
  logger: Logger;
  faults?: PlannerFaults;
  /** How long an Idempotency-Key is answered with its recorded decision. */
  idempotencyTtlMs?: number;
  afterPush(cause?: FlotillaEvent): Promise<void>;
  /** Runs work for this pipeline in the planner's queue (see OperationsHost). */
  host(unit: PipelineUnit): OperationsHost;
}

/**
 * One pipeline in force: its own state (stages, clusters, promotions), health view, image
 * automation, promotions and API operations. Pipelines share only the planner's queue, the
 * config writer and the registry's tag record; nothing one does moves another's images.
 */
export class PipelineUnit {
  readonly health: HealthView;
  readonly images: ImageAutomation;
  readonly promotions: Promotions;
  readonly operations: PlannerOperations;

  constructor(
    readonly scope: PipelineScope,
    public pipeline: Pipeline,
    readonly state: PlannerState,
    d: PipelineUnitDeps,
  ) {
    const logger = d.logger.child({ pipeline: scope.name });
    // Soak times are saved with this instance's name: another instance's clock is not ours.
    this.health = new HealthView(state, logger, () => new Date(), d.bus.instance);
    this.images = new ImageAutomation({
      scope,
      bus: d.bus,
      state,
      writer: d.writer,
      logger,
      afterPush: d.afterPush,
    });
    this.promotions = new Promotions({
      scope,
      bus: d.bus,
      repo: d.repo,
      state,
      writer: d.writer,
      health: this.health,
      logger,
      afterPush: d.afterPush,
      ...(d.faults ? { faults: d.faults } : {}),
    });
    this.operations = new PlannerOperations({
      scope,
      host: d.host(this),
      bus: d.bus,
      repo: d.repo,
      state,
      writer: d.writer,
      health: this.health,
      promotions: this.promotions,
      ...(d.faults ? { faults: d.faults } : {}),
      ...(d.idempotencyTtlMs !== undefined ? { idempotencyTtlMs: d.idempotencyTtlMs } : {}),
    });
  }

  get name(): string {
    return this.scope.name;
  }
}
