import { createHash, type KeyObject } from 'node:crypto';
import { type Semaphore, SerialQueue } from '@flotilla/async';
import type { BlobStore, Bus, HandlerContext } from '@flotilla/bus';
import { FlotillaError, messageOf, retryable } from '@flotilla/errors';
import {
  ApplyFailed,
  ApplyStarted,
  ApplySucceeded,
  DriftCorrected,
  DriftDetected,
  type FlotillaEvent,
  HealthChanged,
  scrubApiMessage,
} from '@flotilla/events';
import {
  type AggregateHealth,
  computeDrift,
  type DriftEntry,
  type Inventory,
  type InventoryEntry,
  type InventoryStore,
  type KubeClient,
  mapSettled,
  protectDrift,
} from '@flotilla/kube';
import { bundleContentDigest, formatRef } from '@flotilla/manifests';
import type { Logger } from '@flotilla/runtime';
import { withSpan } from '@flotilla/telemetry';
import type { PlanData, TrustedKey } from '@flotilla/trust';
import { ApplyError, summarize } from './apply-error.ts';
import type { Config } from './config.ts';
import { type DesiredObject, fetchBundle, resolveDesired } from './desired.ts';
import type { DriftProtection } from './drift-protection.ts';
import { LiveState } from './live-state.ts';
import type { ApplierMetrics } from './metrics.ts';
import { applierBundleBucket } from './nats-resources.ts';
import { ownedElsewhere } from './ownership.ts';
import { PhaseClock } from './phase-clock.ts';
import { checkReplay, mustRecordNoop, verifyPlan } from './plan-checks.ts';
import type { SharedLists } from './shared-lists.ts';
import {
  applyInStages,
  dryRun,
  evaluateHealth,
  findChanges,
  type ObjectWarning,
  prune,
  type StepContext,
  waitForHealth,
} from './steps.ts';

/** Warnings an ApplySucceeded carries at most (the event's schema allows as many). */
const MAX_WARNINGS = 100;

export interface ApplierDeps {
  config: Config;
  client: KubeClient;
  bus: Bus;
  inventory: InventoryStore;
  inventoryName: string;
  /** The pipeline whose plans this applier takes; absent for a repo's root flotilla.yaml. */
  pipeline?: string;
  trustedKeys: readonly TrustedKey[];
  /** This cluster's sealing key: sealed bundles open with it, unsealed ones are then refused. */
  sealingKey?: KeyObject | undefined;
  /** Secret values in drift reports become keyed hashes; the key never leaves the cluster. */
  driftProtection: DriftProtection;
  /** Live-state LISTs shared with this cluster's other pipelines (the applier's own client only). */
  shared?: SharedLists | undefined;
  /**
   * Pipelines applying at once on this cluster (bundle read, writes, health wait): shared by its
   * pipelines' appliers. A plan of the content in hand checks its live objects without one, and
   * takes one only if something must be written.
   */
  applySlots?: Semaphore | undefined;
  logger: Logger;
  /** Counted on /metrics: a refused plan is acked, so only this shows it to a scrape. */
  metrics?: Pick<ApplierMetrics, 'planFailures'>;
}

/** What was applied last, kept for drift detection and to answer a plan of the same content. */
interface Current {
  plan: Pick<PlanData, 'planId' | 'revision' | 'sequence'> & { digest: string };
  desired: DesiredObject[];
  /** bundleContentDigest of `desired`'s bundle, checked against that bundle when it was read. */
  contentDigest: string | undefined;
}

export interface DriftReport {
  checked: number;
  drifted: string[];
  corrected: string[];
}

/**
 * Applies plans for one cluster as a list of small steps that stop at the first error, and checks
 * drift in between. One plan or drift check at a time (a serial queue).
 */
export class Applier {
  private readonly queue = new SerialQueue();
  private readonly blobStores = new Map<string, Promise<BlobStore>>();
  private readonly live: LiveState;
  private current: Current | undefined;
  /** Drift already reported, by object key → live resourceVersion: report policy must not repeat itself. */
  private readonly reported = new Map<string, string>();
  /**
   * The last resourceVersion seen of each desired object (by drift checks and corrections): names
   * the deletion a report is about, so a retried report of one deletion is stored once while a
   * later deletion (of the object re-created since) is a new report.
   */
  private lastSeen = new Map<string, string>();
  private readonly ctx: StepContext;
  /**
   * The inventory as this applier last read or wrote it, while it holds the Lease: it is the only
   * writer then, so reading it back before every plan would only cost a request. Dropped when a
   * tenure starts (another replica may have applied meanwhile) and after a write that failed.
   */
  private known: { inv: Inventory | undefined } | undefined;
  /**
   * The last plan answered as a no-op of the recorded objects without writing the inventory, each
   * sequence since the recorded one answered so (see mustRecordNoop); reset by every write and
   * tenure, since only this applier's own answers count.
   */
  private unrecorded: number | undefined;
  /** `bundleReads`: bundles fetched and parsed (a plan of the content in hand reads none). */
  readonly stats = { plans: 0, noops: 0, failures: 0, inventoryWrites: 0, bundleReads: 0 };

  constructor(private readonly d: ApplierDeps) {
    this.live = new LiveState(d.client, d.inventoryName, d.config.kube.parallelism, undefined, d.shared);
    this.ctx = {
      client: d.client,
      parallelism: d.config.kube.parallelism,
      conflictPolicy: d.config.conflictPolicy,
      immutablePolicy: d.config.immutablePolicy,
    };
  }

  /** Every event of this applier names its pipeline (none for the root pipeline). */
  private get pipelineField(): { pipeline?: string } {
    return this.d.pipeline ? { pipeline: this.d.pipeline } : {};
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    return this.queue.run(fn);
  }

  /** A new tenure (Lease acquired): what this applier remembers of its inventory is read again. */
  forgetInventory(): void {
    this.known = undefined;
    this.unrecorded = undefined;
  }

  private async readInventory(): Promise<Inventory | undefined> {
    if (this.known) return this.known.inv;
    const inv = await this.d.inventory.read(this.d.inventoryName);
    this.known = { inv };
    return inv;
  }

  private async writeInventory(inv: Inventory): Promise<void> {
    this.known = undefined;
    this.unrecorded = undefined;
    this.stats.inventoryWrites++;
    await withSpan('apply inventory write', {}, () => this.d.inventory.write(inv));
    this.known = { inv };
  }

  private blobs(bucket: string): Promise<BlobStore> {
    let p = this.blobStores.get(bucket);
    if (!p) {
      p = this.d.bus.blobs(bucket);
      p.catch(() => this.blobStores.delete(bucket));
      this.blobStores.set(bucket, p);
    }
    return p;
  }

  /** Consumer handler: returns (ack) once the outcome is published; throws to be redelivered. */
  async handlePlan(event: FlotillaEvent, ctx: HandlerContext): Promise<void> {
    // An apply slot, taken when the plan needs one and held through its health wait.
    let release: (() => void) | undefined;
    const slot = async () => {
      release ??= (await this.d.applySlots?.acquire()) ?? (() => {});
    };
    try {
      // The health wait runs outside the lock so drift checks continue meanwhile; the next plan
      // still waits (the consumer takes one at a time and acks after health).
      const health = await this.serial(() => this.runPlan(event as FlotillaEvent<PlanData>, ctx, slot));
      await health?.();
    } finally {
      release?.();
    }
  }

  private async runPlan(
    event: FlotillaEvent<PlanData>,
    hctx: HandlerContext,
    slot: () => Promise<void>,
  ): Promise<(() => Promise<void>) | undefined> {
    const plan = event.data;
    const { config, logger } = this.d;
    const startedAt = new Date();
    const clock = new PhaseClock();
    const log = logger.child({ planId: plan.planId, sequence: plan.sequence, digest: plan.bundle.digest });
    this.stats.plans++;
    let written = false;
    let started: Promise<unknown> | undefined;
    try {
      // 0. signature, cluster, replay
      verifyPlan(plan, {
        cluster: config.cluster,
        trustedKeys: this.d.trustedKeys,
        requireSigned: config.requireSignedPlans,
      });
      const inv = await this.readInventory();
      const verdict = checkReplay(plan, inv);
      clock.mark('checked');
      // 1. bundle: fetch, digest, decode, resolve kinds (unless its content is the one in hand)
      const { desired, read } = await this.desiredOf(plan, slot);
      clock.mark('bundle');
      // A large bundle takes a while to read; the objects in hand take nothing worth telling.
      if (read) hctx.working();
      // 2. what changed since the inventory (+ a cheap live check)
      const entries = inv?.entries ?? {};
      // A new bundle, or a redelivery whose health report may have been cut short: a no-op
      // reports health once. A plan of the content in hand is most likely a no-op, so its live
      // read brings that health along (one LIST per kind); a new content reads metadata only.
      const reportHealth = inv?.digest !== plan.bundle.digest || verdict === 'redelivery';
      const changes = await withSpan('apply find-changes', {}, () =>
        findChanges(desired, entries, this.live, { health: reportHealth && !read }),
      );
      clock.mark('find-changes');
      const staleToPrune = config.prune ? changes.stale : [];
      const base = {
        name: this.d.inventoryName,
        cluster: config.cluster,
        sequence: plan.sequence,
        ...(plan.epoch === undefined ? {} : { epoch: plan.epoch }),
        digest: plan.bundle.digest,
        revision: plan.revision,
        planId: plan.planId,
      };
      if (changes.changed.length === 0 && staleToPrune.length === 0) {
        // Fast no-op: nothing to send. Record the plan as applied (replay protection) unless the
        // record would say nothing new (see mustRecordNoop).
        const entriesNow = this.entriesFor(desired, changes.markers, []);
        if (mustRecordNoop(plan, inv, verdict, entriesNow, this.unrecorded))
          await this.writeInventory({ ...base, appliedAt: new Date().toISOString(), entries: entriesNow });
        else if (verdict === 'new') this.unrecorded = plan.sequence;
        this.current = { plan: { ...base }, desired, contentDigest: plan.bundle.contentDigest };
        this.stats.noops++;
        // Both reports go out together (acks awaited side by side, not one after the other).
        const health = reportHealth ? await evaluateHealth(desired, this.live, changes.health) : undefined;
        await Promise.all([
          this.publishSucceeded(
            event,
            plan,
            startedAt,
            { total: desired.length, applied: 0, unchanged: desired.length, pruned: 0 },
            true,
          ),
          health ? this.publishHealth(event, plan, health, undefined) : undefined,
        ]);
        log.info({ objects: desired.length }, 'plan unchanged: no-op');
        return undefined;
      }
      // Something will be written: in turn with the other pipelines' applies, and announced now (a
      // no-op is announced by its ApplySucceeded only). The announcement is stored while the
      // ownership check and the dry-run run (each a round trip that does not depend on it: #20),
      // and awaited before the first write and before any ApplyFailed, so the stream still reads
      // started → written → succeeded/failed.
      await slot();
      started = this.d.bus.publish(
        ApplyStarted,
        {
          ...this.pipelineField,
          cluster: config.cluster,
          planId: plan.planId,
          revision: plan.revision,
          bundleDigest: plan.bundle.digest,
          objects: desired.length,
        },
        { cause: event, id: `${plan.planId}-started` },
      );
      // Awaited below; a failure meanwhile must not count as unhandled.
      started.catch(() => {});
      // 3. nothing another pipeline owns, and 4. a dry-run of everything that will be written:
      // both only read, so they run side by side (a few LISTs beside thousands of dry-runs, not
      // a round of LISTs per namespace before them: #20). Either refuses the plan whole before
      // anything is written; an ownership refusal is told first, as when it ran first.
      const bundleNamespaces = new Set(
        desired.filter((d) => d.ref.group === '' && d.ref.kind === 'Namespace').map((d) => d.ref.name),
      );
      const [owners, dryRunResult] = await Promise.allSettled([
        ownedElsewhere(
          this.d.client,
          changes.changed.filter((d) => !(d.key in entries)),
          { inventory: this.d.inventoryName, ...(this.d.pipeline ? { pipeline: this.d.pipeline } : {}) },
          config.kube.parallelism,
        ).finally(() => clock.mark('ownership')),
        withSpan('apply dry-run', { attributes: { 'flotilla.objects': changes.changed.length } }, () =>
          dryRun(this.ctx, changes.changed, { bundleNamespaces, stageLevel: false }),
        ).finally(() => clock.mark('dry-run')),
      ]);
      if (owners.status === 'rejected') throw owners.reason;
      const taken = owners.value;
      if (taken.length > 0)
        throw new ApplyError(
          'apply.owned-elsewhere',
          `${taken.length} object(s) belong to another pipeline's inventory; nothing was written: ${summarize(taken)}`,
          taken,
          true,
        );
      if (dryRunResult.status === 'rejected') throw dryRunResult.reason;
      const dry = dryRunResult.value;
      hctx.working();
      // Before writing: the inventory holds old ∪ new, so a crash leaves nothing we created unowned.
      const applying: Inventory = {
        ...(inv ?? { ...base, sequence: 0 }),
        name: this.d.inventoryName,
        cluster: config.cluster,
        applying: { planId: plan.planId, sequence: plan.sequence },
        entries: { ...entries },
      };
      for (const d of changes.changed) {
        const old = entries[d.key];
        applying.entries[d.key] = old ? { ...old, h: '' } : { v: d.body.apiVersion, h: '' };
      }
      await started;
      clock.mark('started');
      written = true;
      await this.writeInventory(applying);
      clock.mark('inventory-applying');
      // 5. server-side apply in stages
      const applied = await withSpan(
        'apply server-side',
        { attributes: { 'flotilla.objects': changes.changed.length } },
        () =>
          applyInStages(this.ctx, changes.changed, dry, {
            crdTimeoutMs: 60_000,
            onStage: (stage, count) => {
              clock.mark(`stage-${stage}-start`);
              hctx.working();
              log.debug({ stage, count }, 'applying stage');
            },
          }),
      );
      clock.mark('applied');
      for (const a of applied) if (a.marker) changes.markers.set(a.d.key, a.marker);
      // 6. prune
      const pruned = await withSpan(
        'apply prune',
        { attributes: { 'flotilla.objects': staleToPrune.length } },
        () => prune(this.ctx, staleToPrune, this.d.inventoryName),
      );
      clock.mark('pruned');
      await this.writeInventory({
        ...base,
        appliedAt: new Date().toISOString(),
        entries: this.entriesFor(desired, changes.markers, pruned.failed),
      });
      clock.mark('inventory');
      this.current = { plan: { ...base }, desired, contentDigest: plan.bundle.contentDigest };
      if (pruned.failed.length > 0)
        throw new ApplyError(
          'prune.failed',
          `applied, but ${pruned.failed.length} stale object(s) could not be deleted (kept in the inventory, retried next plan)`,
          pruned.failed.map((f) => f.problem),
          false,
        );
      await this.publishSucceeded(
        event,
        plan,
        startedAt,
        {
          total: desired.length,
          applied: applied.length,
          unchanged: changes.unchanged.length,
          pruned: pruned.pruned.length,
        },
        false,
        dry.warnings,
      );
      clock.mark('published');
      if (dry.warnings.length > 0)
        log.warn(
          { warnings: dry.warnings.slice(0, MAX_WARNINGS) },
          'the apiserver warned while accepting the plan',
        );
      log.info(
        {
          applied: applied.length,
          unchanged: changes.unchanged.length,
          pruned: pruned.pruned.length,
          kept: pruned.kept.length,
          phases: clock.toJSON(),
        },
        'plan applied',
      );
      // 7. health
      return async () => {
        await withSpan('health wait', {}, () =>
          waitForHealth(desired, this.live, {
            timeoutMs: config.health.timeoutMs,
            pollMs: config.health.pollMs,
            onChange: async (h, prev) => {
              hctx.working();
              await this.publishHealth(event, plan, h, prev);
            },
          }),
        );
      };
    } catch (err) {
      this.stats.failures++;
      // A refusal found while ApplyStarted was on its way is told after it (or after its failure).
      await started?.catch(() => {});
      // Its retry reads the bundle again, and resolves its kinds afresh (one may have gone).
      if (this.current) this.current = { ...this.current, contentDigest: undefined };
      const e = toApplyError(err, !written);
      this.d.metrics?.planFailures.inc({ code: e.code, disposition: e.disposition });
      log.warn(
        { code: e.code, disposition: e.disposition, objects: e.objects.length, err: e.message },
        'plan failed',
      );
      await this.d.bus.publish(
        ApplyFailed,
        {
          ...this.pipelineField,
          cluster: config.cluster,
          planId: plan.planId,
          revision: plan.revision,
          bundleDigest: plan.bundle.digest,
          code: e.code,
          message: e.message.slice(0, 16_000),
          disposition: e.disposition,
          nothingApplied: e.nothingApplied,
          objects: e.objects.slice(0, 1000).map((o) => ({ ...o, reason: o.reason.slice(0, 4000) })),
        },
        // Same failure redelivered → same id (deduped); each retry attempt is its own event.
        {
          cause: event,
          id: `${plan.planId}-failed-${e.code}${e.disposition === 'retry' ? `-${hctx.deliveryCount}` : ''}`,
        },
      );
      // Not acked: JetStream redelivers with backoff; nothing is lost while the apiserver is down.
      if (e.disposition !== 'stall') throw retryable(e.code, e.message, { cause: e });
      return undefined;
    }
  }

  /**
   * The objects of the plan's bundle, resolved against the cluster. A plan whose signed content
   * digest is that of the objects this applier applied last (a resync: the same objects at a new
   * revision) gets those again, without fetching, opening or parsing its bundle: fetchBundle held
   * that digest to the bundle it was claimed for, and this plan's signature covers its own claim.
   * What is live is still read (findChanges), so drift shows as before. Objects resolved through a
   * CRD of their bundle are resolved again: the cluster may serve that kind by now.
   */
  private async desiredOf(
    plan: PlanData,
    slot: () => Promise<void>,
  ): Promise<{ desired: DesiredObject[]; read: boolean }> {
    const held = this.current;
    const content = plan.bundle.contentDigest;
    if (content !== undefined && held?.contentDigest === content && !held.desired.some((d) => d.viaBundleCrd))
      return { desired: held.desired, read: false };
    // New content is most likely applied: its bundle is read in an apply slot already.
    await slot();
    this.stats.bundleReads++;
    const bundle = await fetchBundle(await this.blobs(plan.bundle.bucket), plan, this.d.sealingKey);
    const desired = await withSpan('apply resolve', {}, () =>
      resolveDesired(
        this.d.client,
        bundle,
        this.d.inventoryName,
        this.d.config.kube.parallelism,
        this.d.pipeline,
      ),
    );
    return { desired, read: true };
  }

  private entriesFor(
    desired: readonly DesiredObject[],
    markers: Map<string, string>,
    failedPrunes: { key: string; entry: InventoryEntry }[],
  ): Record<string, InventoryEntry> {
    const entries: Record<string, InventoryEntry> = {};
    for (const d of desired) {
      const m = markers.get(d.key);
      entries[d.key] = { v: d.body.apiVersion, h: d.hash, ...(m ? { m } : {}) };
    }
    for (const f of failedPrunes) entries[f.key] = f.entry;
    return entries;
  }

  private async publishSucceeded(
    event: FlotillaEvent<PlanData>,
    plan: PlanData,
    startedAt: Date,
    counts: { total: number; applied: number; unchanged: number; pruned: number },
    noop: boolean,
    warnings: readonly ObjectWarning[] = [],
  ) {
    await this.d.bus.publish(
      ApplySucceeded,
      {
        ...this.pipelineField,
        cluster: this.d.config.cluster,
        planId: plan.planId,
        revision: plan.revision,
        bundleDigest: plan.bundle.digest,
        counts,
        noop,
        ...(warnings.length > 0 ? { warnings: warnings.slice(0, MAX_WARNINGS) } : {}),
        startedAt: startedAt.toISOString(),
        durationMs: Date.now() - startedAt.getTime(),
      },
      { cause: event, id: `${plan.planId}-succeeded` },
    );
  }

  private async publishHealth(
    event: FlotillaEvent<PlanData> | undefined,
    plan: Pick<PlanData, 'planId' | 'revision'> & { digest?: string },
    h: AggregateHealth,
    prev: AggregateHealth | undefined,
  ) {
    const digest = 'bundle' in plan ? (plan as PlanData).bundle.digest : plan.digest;
    await this.d.bus.publish(
      HealthChanged,
      {
        ...this.pipelineField,
        cluster: this.d.config.cluster,
        planId: plan.planId,
        revision: plan.revision,
        ...(digest ? { bundleDigest: digest } : {}),
        status: h.status,
        ...(prev ? { previous: prev.status } : {}),
        objects: h.notCurrent.slice(0, 200).map((o) => ({
          object: formatRef(o.ref),
          status: o.health.status,
          // Conditions quote what the workload or the apiserver said, values included (#15).
          message: scrubApiMessage(o.health.message, formatRef(o.ref)).slice(0, 4000),
        })),
      },
      event ? { cause: event } : {},
    );
    this.d.logger.info(
      { planId: plan.planId, status: h.status, previous: prev?.status, message: scrubApiMessage(h.message) },
      'health changed',
    );
  }

  /**
   * Drift: compares each applied object with what Git says, by field ownership (computeDrift):
   * a field we set that someone else changed (kubectl edit) is drift; fields only others own
   * (HPA replicas) are not. Missing objects are drift too. Corrects by re-applying, per policy.
   */
  checkDrift(): Promise<DriftReport> {
    return this.serial(() => this.runDriftCheck());
  }

  private async runDriftCheck(): Promise<DriftReport> {
    const report: DriftReport = { checked: 0, drifted: [], corrected: [] };
    const current = this.current ?? (await this.loadCurrent());
    if (!current) return report;
    const { config } = this.d;
    // `seen` is what the report is about: the live resourceVersion, or 'deleted'.
    const drifted: { d: DesiredObject; diffs: DriftEntry[]; seen: string; id: string }[] = [];
    // Rebuilt each check: only objects of the current plan are remembered.
    const lastSeen = new Map<string, string>();
    // Each live object is compared as its page arrives and then dropped: only the diffs and
    // resourceVersions are kept, never the live objects of the whole bundle at once (#17).
    const byKey = new Map(current.desired.map((d) => [d.key, d]));
    const present = new Set<string>();
    await this.live.forEach(current.desired, { metadataOnly: false }, (key, live) => {
      const d = byKey.get(key);
      if (!d || present.has(key)) return;
      present.add(key);
      report.checked++;
      const diffs = computeDrift(d.body, live, { fieldManager: config.fieldManager });
      const rv = String(live.metadata.resourceVersion ?? '');
      lastSeen.set(key, rv);
      if (diffs.length === 0) this.reported.delete(key);
      else if (this.reported.get(key) !== rv)
        drifted.push({ d, diffs, seen: rv, id: driftEventId(config.cluster, key, rv) });
    });
    for (const d of current.desired) {
      if (present.has(d.key)) continue;
      report.checked++;
      // Never seen by this process (deleted before a check, or before a restart): the plan
      // stands in for the version, so a restarted applier re-reporting it is still deduplicated.
      const last = this.lastSeen.get(d.key);
      if (last !== undefined) lastSeen.set(d.key, last);
      if (this.reported.get(d.key) !== 'deleted')
        drifted.push({
          d,
          diffs: [{ path: '.', expected: 'present', actual: 'deleted' }],
          seen: 'deleted',
          id: driftEventId(config.cluster, d.key, `deleted@${last ?? `plan:${current.plan.planId}`}`),
        });
    }
    this.lastSeen = lastSeen;
    const protection = this.d.driftProtection;
    const results = await mapSettled(drifted, config.kube.parallelism, async ({ d, diffs, seen, id }) => {
      report.drifted.push(d.key);
      await this.d.bus.publish(
        DriftDetected,
        {
          ...this.pipelineField,
          cluster: config.cluster,
          revision: current.plan.revision,
          object: d.label,
          diffs: protectDrift(diffs.slice(0, 200), {
            key: protection.key,
            sensitive: (path) => protection.sensitive({ kind: d.ref.kind, label: d.label }, path),
          }),
          policy: config.drift.policy,
        },
        // A live edit is named by its resourceVersion, a deletion by the last one seen: the report
        // retried after a publish that timed out but was stored is dropped by JetStream.
        { id },
      );
      // Marked reported only once JetStream acknowledged it: a failed publish is retried next check.
      this.reported.set(d.key, seen);
      if (config.drift.policy !== 'correct') return;
      const applied = await this.d.client.apply(d.body, d.info, { force: true });
      const rv = applied.metadata?.resourceVersion;
      if (rv !== undefined) this.lastSeen.set(d.key, String(rv));
      report.corrected.push(d.key);
      await this.d.bus.publish(DriftCorrected, {
        ...this.pipelineField,
        cluster: config.cluster,
        revision: current.plan.revision,
        object: d.label,
        paths: diffs.map((x) => x.path),
      });
    });
    results.forEach((r, i) => {
      if (r.status !== 'rejected') return;
      const object = drifted[i]?.d.label;
      this.d.logger.warn(
        { object, err: scrubApiMessage(messageOf(r.reason), object) },
        'drift correction failed',
      );
    });
    if (drifted.length > 0)
      this.d.logger.info(
        { drifted: report.drifted.length, corrected: report.corrected.length },
        'drift checked',
      );
    return report;
  }

  /** After a restart: what the inventory says we applied, from the bundle in the object store. */
  private async loadCurrent(): Promise<Current | undefined> {
    const inv = await this.readInventory();
    if (!inv?.digest || !inv.revision || !inv.planId || inv.applying) return undefined;
    const bucket = applierBundleBucket(this.d.config);
    const bundle = await fetchBundle(
      await this.blobs(bucket),
      {
        planId: inv.planId,
        cluster: this.d.config.cluster,
        revision: inv.revision,
        bundle: { digest: inv.digest, bucket, size: 0, objects: 0 },
      } as PlanData,
      this.d.sealingKey,
    );
    const desired = await resolveDesired(
      this.d.client,
      bundle,
      this.d.inventoryName,
      this.d.config.kube.parallelism,
      this.d.pipeline,
    );
    this.current = {
      plan: { planId: inv.planId, revision: inv.revision, sequence: inv.sequence, digest: inv.digest },
      desired,
      // Read from the bundle itself: the next plan of this content skips its bundle.
      contentDigest: bundleContentDigest(bundle),
    };
    return this.current;
  }

  /** Objects of the inventory, for tests and the API: key → entry. */
  async inventoryEntries(): Promise<Record<string, InventoryEntry>> {
    return (await this.d.inventory.read(this.d.inventoryName))?.entries ?? {};
  }
}

export function toApplyError(err: unknown, nothingWritten: boolean): ApplyError {
  if (err instanceof ApplyError) return err;
  // Not tied to one object: apiserver values are scrubbed as if they were a Secret's (#15).
  if (err instanceof FlotillaError)
    return new ApplyError(
      err.code,
      scrubApiMessage(err.message),
      [],
      nothingWritten,
      err.disposition === 'stall' ? 'stall' : 'retry',
      err,
    );
  return new ApplyError('apply.error', scrubApiMessage(messageOf(err)), [], nothingWritten, 'retry', err);
}

/**
 * The id of the drift report about one live edit (object key at a resourceVersion) of a cluster,
 * or one deletion (`deleted@<last resourceVersion seen>`).
 */
function driftEventId(cluster: string, key: string, resourceVersion: string): string {
  return `drift-${createHash('sha256').update(`${cluster}\n${key}\n${resourceVersion}`).digest('hex').slice(0, 32)}`;
}
