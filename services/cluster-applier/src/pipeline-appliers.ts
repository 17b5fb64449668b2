import { Semaphore } from '@flotilla/async';
import type { HandlerContext } from '@flotilla/bus';
import type { FlotillaEvent } from '@flotilla/events';
import { pipelineInventoryName } from '@flotilla/kube';
import type { PlanData } from '@flotilla/trust';

type Tenant = NonNullable<PlanData['tenant']>;

import { Applier, type ApplierDeps, type DriftReport } from './applier.ts';
import { SharedLists } from './shared-lists.ts';

/**
 * One Applier per pipeline on this cluster, each with its own inventory, plan sequence and drift
 * view: a plan goes to its pipeline's applier (the root pipeline's when the plan names none).
 * Pipelines apply side by side, each one plan at a time; the consumer bounds how many at once.
 */
export class PipelineAppliers {
  private readonly byPipeline = new Map<string, { applier: Applier; as: string | undefined }>();
  /** Per pipeline, the plan in hand (apply and health): the next one waits for it. */
  private readonly inHand = new Map<string, Promise<unknown>>();
  /** The applier's own reads of its objects, one LIST per kind for all pipelines at once. */
  readonly shared: SharedLists;
  /** `pipelineConcurrency` pipelines apply at once; more check their no-op resyncs meanwhile. */
  private readonly applySlots: Semaphore;

  constructor(
    private readonly deps: Omit<ApplierDeps, 'inventoryName' | 'pipeline' | 'shared' | 'applySlots'>,
  ) {
    this.shared = new SharedLists(deps.client);
    this.applySlots = new Semaphore(deps.config.pipelineConcurrency);
  }

  /** A new tenure (Lease acquired): every pipeline reads its inventory from the cluster again. */
  forgetInventories(): void {
    for (const { applier } of this.byPipeline.values()) applier.forgetInventory();
  }

  /**
   * The applier of `pipeline` (undefined: the repo's root flotilla.yaml), created on first use.
   * With a tenant it talks to the cluster as the tenant's ServiceAccount (impersonation), so
   * the tenant's RBAC decides what it may write; its inventory stays the applier's own.
   */
  get(pipeline?: string, tenant?: Tenant): Applier {
    const key = pipeline ?? '';
    const as = tenant ? `system:serviceaccount:${tenant.namespace}:${tenant.serviceAccount}` : undefined;
    const known = this.byPipeline.get(key);
    if (known && known.as === as) return known.applier;
    const { client } = this.deps;
    const applier = new Applier({
      ...this.deps,
      client: as ? client.impersonating(as, { connections: this.deps.config.kube.parallelism }) : client,
      // A tenant's reads stay within what its own RBAC lets it list.
      ...(as ? {} : { shared: this.shared }),
      applySlots: this.applySlots,
      inventoryName: pipelineInventoryName(this.deps.config.cluster, pipeline),
      ...(pipeline ? { pipeline } : {}),
    });
    this.byPipeline.set(key, { applier, as });
    return applier;
  }

  /**
   * One plan per pipeline at a time, health wait included (as the applier did with one
   * pipeline); plans of other pipelines go on meanwhile, up to the consumer's concurrency. The
   * consumer heartbeats a waiting plan, so it is not redelivered while it waits its turn.
   */
  handlePlan(event: FlotillaEvent, ctx: HandlerContext): Promise<void> {
    const { pipeline, tenant } = event.data as PlanData;
    const key = pipeline ?? '';
    const previous = this.inHand.get(key) ?? Promise.resolve();
    const run = previous.then(
      () => this.get(pipeline, tenant).handlePlan(event, ctx),
      () => this.get(pipeline, tenant).handlePlan(event, ctx),
    );
    const settled = run.catch(() => undefined);
    this.inHand.set(key, settled);
    void settled.then(() => {
      if (this.inHand.get(key) === settled) this.inHand.delete(key);
    });
    return run;
  }

  /** Every pipeline's applier stats added up (benchmarks, tests). */
  totals(): Applier['stats'] {
    const sum = { plans: 0, noops: 0, failures: 0, inventoryWrites: 0, bundleReads: 0 };
    for (const { applier } of this.byPipeline.values())
      for (const k of Object.keys(sum) as (keyof typeof sum)[]) sum[k] += applier.stats[k];
    return sum;
  }

  /** Drift of every pipeline seen since start, one after another. */
  async checkDrift(): Promise<Map<string, DriftReport>> {
    const out = new Map<string, DriftReport>();
    for (const [key, { applier }] of this.byPipeline) out.set(key, await applier.checkDrift());
    return out;
  }
}
