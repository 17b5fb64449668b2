import type { HandlerContext } from '@flotilla/bus';
import type { FlotillaEvent } from '@flotilla/events';
import { pipelineInventoryName } from '@flotilla/kube';
import type { PlanData } from '@flotilla/trust';
import { Applier, type ApplierDeps, type DriftReport } from './applier.ts';

/**
 * One Applier per pipeline on this cluster, each with its own inventory, plan sequence and drift
 * view: a plan goes to its pipeline's applier (the root pipeline's when the plan names none).
 * Pipelines apply side by side, each one plan at a time; the consumer bounds how many at once.
 */
export class PipelineAppliers {
  private readonly byPipeline = new Map<string, Applier>();
  /** Per pipeline, the plan in hand (apply and health): the next one waits for it. */
  private readonly inHand = new Map<string, Promise<unknown>>();

  constructor(private readonly deps: Omit<ApplierDeps, 'inventoryName' | 'pipeline'>) {}

  /** The applier of `pipeline` (undefined: the repo's root flotilla.yaml), created on first use. */
  get(pipeline?: string): Applier {
    const key = pipeline ?? '';
    let a = this.byPipeline.get(key);
    if (!a) {
      a = new Applier({
        ...this.deps,
        inventoryName: pipelineInventoryName(this.deps.config.cluster, pipeline),
        ...(pipeline ? { pipeline } : {}),
      });
      this.byPipeline.set(key, a);
    }
    return a;
  }

  /**
   * One plan per pipeline at a time, health wait included (as the applier did with one
   * pipeline); plans of other pipelines go on meanwhile, up to the consumer's concurrency. The
   * consumer heartbeats a waiting plan, so it is not redelivered while it waits its turn.
   */
  handlePlan(event: FlotillaEvent, ctx: HandlerContext): Promise<void> {
    const pipeline = (event.data as PlanData).pipeline;
    const key = pipeline ?? '';
    const previous = this.inHand.get(key) ?? Promise.resolve();
    const run = previous.then(
      () => this.get(pipeline).handlePlan(event, ctx),
      () => this.get(pipeline).handlePlan(event, ctx),
    );
    const settled = run.catch(() => undefined);
    this.inHand.set(key, settled);
    void settled.then(() => {
      if (this.inHand.get(key) === settled) this.inHand.delete(key);
    });
    return run;
  }

  /** Drift of every pipeline seen since start, one after another. */
  async checkDrift(): Promise<Map<string, DriftReport>> {
    const out = new Map<string, DriftReport>();
    for (const [key, a] of this.byPipeline) out.set(key, await a.checkDrift());
    return out;
  }
}
