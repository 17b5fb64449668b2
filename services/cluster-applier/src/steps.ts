import { messageOf } from '@flotilla/errors';
import { scrubApiMessage } from '@flotilla/events';
import {
  type AggregateHealth,
  aggregateHealth,
  CORE_RESOURCES,
  computeHealth,
  type InventoryEntry,
  isKubeApiError,
  type KubeClient,
  mapSettled,
  type ObjectHealth,
} from '@flotilla/kube';
import {
  APPLY_STAGE_NAMES,
  compareApplyOrder,
  formatRef,
  type KubeObject,
  parseRefKey,
  pruneOrder,
  splitApiVersion,
  stageOf,
} from '@flotilla/manifests';
import { ApplyError, type ObjectProblem, summarize } from './apply-error.ts';
import { type DesiredObject, INVENTORY_LABEL, PRUNE_ANNOTATION } from './desired.ts';
import { type LiveState, liveMarker } from './live-state.ts';

export interface StepContext {
  client: KubeClient;
  parallelism: number;
  conflictPolicy: 'fail' | 'force';
  immutablePolicy: 'fail' | 'recreate';
}

const retryError = (err: unknown, nothingApplied: boolean) =>
  new ApplyError(
    isKubeApiError(err) ? err.code : 'kube.unavailable',
    // Not tied to one object here, so scrubbed as if it were a Secret's (#15).
    `apiserver unavailable, the plan will be retried: ${scrubApiMessage(messageOf(err))}`,
    [],
    nothingApplied,
    'retry',
    err,
  );

/**
 * The apiserver's refusal quotes the value it refused; for a Secret (or a credential-named field)
 * that value must not reach ApplyFailed or the logs (#15), so it is scrubbed here, at the source.
 */
const problemOf = (d: DesiredObject, err: unknown): ObjectProblem => ({
  object: d.label,
  code: isKubeApiError(err) ? err.code : 'apply.error',
  reason: scrubApiMessage(messageOf(err), d.label, d.body),
});

// ---- step 2: what changed ---------------------------------------------------------------------

export interface Changes {
  changed: DesiredObject[];
  unchanged: DesiredObject[];
  /** Inventory entries no longer in the bundle. */
  stale: [string, InventoryEntry][];
  /** Live markers of unchanged objects (kept in the new inventory). */
  markers: Map<string, string>;
  /** With `health`: each candidate's health as read, for evaluateHealth to need no read of its own. */
  health?: Map<string, ObjectHealth['health']>;
}

/**
 * Objects whose manifest hash equals the inventory's AND whose live object still exists with the
 * generation (or resourceVersion) we left it at are unchanged and are not sent again. The live
 * check is one metadata-only LIST per kind, not a request per object. With `health` (a plan that
 * is likely a no-op and will report health), kinds whose health depends on status are read whole
 * instead, and their health kept: the same LIST answers both, not one after the other.
 */
export async function findChanges(
  desired: readonly DesiredObject[],
  entries: Record<string, InventoryEntry>,
  live: LiveState,
  opts: { health?: boolean } = {},
): Promise<Changes> {
  const candidates = desired.filter((d) => !d.viaBundleCrd && entries[d.key]?.h === d.hash);
  // Only each live object's marker (and health) is kept, page by page (#17: not every kind's
  // objects at once).
  const liveMarkers = new Map<string, string | undefined>();
  const mark = (key: string, obj: KubeObject) => {
    if (entries[key]) liveMarkers.set(key, liveMarker(obj));
  };
  const whole = opts.health ? candidates.filter((d) => !hasStaticHealth(d)) : [];
  const health = opts.health ? new Map<string, ObjectHealth['health']>() : undefined;
  const metadata = whole.length > 0 ? candidates.filter(hasStaticHealth) : candidates;
  await Promise.all([
    metadata.length > 0 ? live.forEach(metadata, { metadataOnly: true }, mark) : undefined,
    whole.length > 0
      ? live.forEach(whole, { metadataOnly: false }, (key, obj) => {
          mark(key, obj);
          health?.set(key, computeHealth(obj));
        })
      : undefined,
  ]);
  const changed: DesiredObject[] = [];
  const unchanged: DesiredObject[] = [];
  const markers = new Map<string, string>();
  for (const d of desired) {
    const entry = entries[d.key];
    const marker = liveMarkers.get(d.key);
    if (entry && entry.h === d.hash && !d.viaBundleCrd && marker !== undefined && marker === entry.m) {
      unchanged.push(d);
      markers.set(d.key, marker);
    } else changed.push(d);
  }
  const keys = new Set(desired.map((d) => d.key));
  const stale = Object.entries(entries).filter(([k]) => !keys.has(k));
  return { changed, unchanged, stale, markers, ...(health ? { health } : {}) };
}

// ---- step 3: dry-run --------------------------------------------------------------------------

export interface DryRunResult {
  /** Could not be dry-run yet: their CRD or namespace is created by this bundle. */
  deferred: DesiredObject[];
  /** Immutable-field changes to delete and recreate (immutablePolicy=recreate). */
  recreate: Set<string>;
  /** Each dry-run object's body as sent, by key: its write sends the same bytes, serialised once. */
  json: Map<string, string>;
  /**
   * What the apiserver warned of while accepting them (a deprecated API version or field, pod
   * template advice), by object; its write would say the same again.
   */
  warnings: ObjectWarning[];
}

export interface ObjectWarning {
  object: string;
  message: string;
}

/**
 * Server-side dry-run of every changed object, `parallelism` at a time. Rule for objects that
 * depend on this bundle: an object whose kind comes from a CRD in the bundle, or whose namespace
 * is a Namespace in the bundle that does not exist yet, cannot be dry-run before those exist. It
 * is checked client-side now (kind, scope) and dry-run as part of its stage, right before that
 * stage writes anything; so an invalid one still stops the apply before its own stage.
 */
export async function dryRun(
  ctx: StepContext,
  objects: readonly DesiredObject[],
  opts: { bundleNamespaces: ReadonlySet<string>; stageLevel: boolean },
): Promise<DryRunResult> {
  const deferred: DesiredObject[] = [];
  const recreate = new Set<string>();
  const json = new Map<string, string>();
  const warnings: ObjectWarning[] = [];
  const problems: ObjectProblem[] = [];
  let retry: unknown;
  const results = await mapSettled(objects, ctx.parallelism, async (d) => {
    if (d.viaBundleCrd && !opts.stageLevel) return 'defer';
    const body = JSON.stringify(d.body);
    const answer = await ctx.client.applyDryRun(d.body, d.info, {
      force: ctx.conflictPolicy === 'force',
      json: body,
    });
    for (const w of answer.warnings)
      warnings.push({ object: d.label, message: scrubApiMessage(w, d.label, d.body) });
    json.set(d.key, body);
    return 'ok';
  });
  results.forEach((r, i) => {
    const d = objects[i] as DesiredObject;
    if (r.status === 'fulfilled') {
      if (r.value === 'defer') deferred.push(d);
      return;
    }
    const err = r.reason;
    if (isKubeApiError(err) && err.disposition === 'retry') retry ??= err;
    else if (
      !opts.stageLevel &&
      isKubeApiError(err, 'kube.namespace-not-found') &&
      d.ref.namespace &&
      opts.bundleNamespaces.has(d.ref.namespace)
    )
      deferred.push(d);
    else if (isKubeApiError(err, 'kube.immutable') && ctx.immutablePolicy === 'recreate') recreate.add(d.key);
    else problems.push(problemOf(d, err));
  });
  if (retry) throw retryError(retry, !opts.stageLevel);
  if (problems.length > 0) {
    const forbidden = problems.every((p) => p.code === 'kube.forbidden');
    throw new ApplyError(
      forbidden ? 'apply.forbidden' : 'apply.dry-run-failed',
      `server-side dry-run refused ${problems.length} of ${objects.length} object(s); ${
        opts.stageLevel ? 'this stage was not written' : 'nothing was written'
      }: ${summarize(problems)}`,
      problems,
      !opts.stageLevel,
    );
  }
  // In object order, not in the order the answers came: the same plan tells the same warnings.
  warnings.sort((a, b) => a.object.localeCompare(b.object));
  return { deferred, recreate, json, warnings };
}

// ---- step 4: staged apply ---------------------------------------------------------------------

export interface AppliedObject {
  d: DesiredObject;
  /** Live generation/resourceVersion after our apply (the response itself is not kept). */
  marker: string | undefined;
}

/**
 * Server-side apply in stages (CRDs → wait Established; Namespaces; RBAC; config; resources;
 * admission), `parallelism` requests at a time inside a stage. Stops after the first stage with
 * a failure: later stages may depend on it.
 */
export async function applyInStages(
  ctx: StepContext,
  changed: readonly DesiredObject[],
  dry: DryRunResult,
  opts: { crdTimeoutMs: number; onStage?: (stage: string, count: number) => void },
): Promise<AppliedObject[]> {
  const sorted = [...changed].sort((a, b) => compareApplyOrder(a.ref, b.ref));
  const deferred = new Set(dry.deferred.map((d) => d.key));
  const applied: AppliedObject[] = [];
  for (const stage of APPLY_STAGE_NAMES) {
    const objects = sorted.filter((d) => d.stage === stage);
    if (objects.length === 0) continue;
    const late = objects.filter((d) => deferred.has(d.key));
    if (late.length > 0) {
      for (const d of late) {
        if (!d.viaBundleCrd) continue;
        ctx.client.discovery.invalidate(d.body.apiVersion);
        const info = await ctx.client.discovery.resolve(d.body.apiVersion, d.ref.kind);
        if (info) d.info = info;
      }
      const stageDry = await dryRun(ctx, late, { bundleNamespaces: new Set(), stageLevel: true });
      for (const k of stageDry.recreate) dry.recreate.add(k);
      for (const [k, body] of stageDry.json) dry.json.set(k, body);
      dry.warnings.push(...stageDry.warnings);
    }
    opts.onStage?.(stage, objects.length);
    const results = await mapSettled(objects, ctx.parallelism, async (d) => {
      if (dry.recreate.has(d.key)) await deleteAndWait(ctx.client, d, 60_000);
      const json = dry.json.get(d.key);
      return liveMarker(
        await ctx.client.apply(d.body, d.info, {
          force: ctx.conflictPolicy === 'force',
          ...(json === undefined ? {} : { json }),
        }),
      );
    });
    const problems: ObjectProblem[] = [];
    let retry: unknown;
    results.forEach((r, i) => {
      const d = objects[i] as DesiredObject;
      if (r.status === 'fulfilled') applied.push({ d, marker: r.value });
      else if (isKubeApiError(r.reason) && r.reason.disposition === 'retry') retry ??= r.reason;
      else problems.push(problemOf(d, r.reason));
    });
    if (retry) throw retryError(retry, applied.length === 0);
    if (problems.length > 0)
      throw new ApplyError(
        'apply.failed',
        `applying stage ${stage} failed for ${problems.length} object(s) (${applied.length} applied before): ${summarize(problems)}`,
        problems,
        applied.length === 0,
      );
    if (stage === 'crds') await waitEstablished(ctx.client, objects, opts.crdTimeoutMs);
  }
  return applied;
}

async function deleteAndWait(client: KubeClient, d: DesiredObject, timeoutMs: number): Promise<void> {
  await client.delete(d.info, d.ref, { propagation: 'Foreground' });
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!(await client.get(d.info, d.ref))) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new ApplyError(
    'apply.recreate-timeout',
    `${d.label} was not deleted within ${timeoutMs} ms`,
    [],
    false,
  );
}

async function waitEstablished(client: KubeClient, crds: readonly DesiredObject[], timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  const pending = new Set(crds.map((c) => c.key));
  while (pending.size > 0) {
    for (const d of crds) {
      if (!pending.has(d.key)) continue;
      const live = await client.get(CORE_RESOURCES.crd, d.ref);
      const h = computeHealth(live);
      if (h.status === 'Current') {
        pending.delete(d.key);
        const spec = (d.body.spec ?? {}) as { group?: string; versions?: { name?: string }[] };
        for (const v of spec.versions ?? []) client.discovery.invalidate(`${spec.group}/${v.name}`);
      } else if (h.status === 'Failed')
        throw new ApplyError(
          'apply.crd-failed',
          `${d.label} is not usable: ${h.message}`,
          [{ object: d.label, code: 'crd.failed', reason: h.message }],
          false,
        );
    }
    if (pending.size === 0) break;
    if (Date.now() > deadline)
      throw new ApplyError(
        'apply.crd-timeout',
        `CRDs not Established within ${timeoutMs} ms: ${[...pending].join(', ')}`,
        [...pending].map((k) => ({ object: k, reason: 'not Established' })),
        false,
      );
    await new Promise((r) => setTimeout(r, 200));
  }
}

// ---- step 5: prune ----------------------------------------------------------------------------

export interface PruneResult {
  pruned: string[];
  /** Left in place: opted out by annotation, or no longer labelled as ours. */
  kept: string[];
  /** Could not be deleted: stay in the inventory, to be tried again. */
  failed: { key: string; entry: InventoryEntry; problem: ObjectProblem }[];
}

/**
 * Deletes objects of the old inventory that left the bundle, in reverse apply order (webhooks
 * first, CRDs and Namespaces last), with background propagation. Never touches anything not in
 * our inventory; skips objects annotated `flotilla.io/prune: disabled` and objects whose
 * inventory label says they are no longer ours.
 */
export async function prune(
  ctx: StepContext,
  stale: readonly [string, InventoryEntry][],
  inventoryName: string,
): Promise<PruneResult> {
  const result: PruneResult = { pruned: [], kept: [], failed: [] };
  const items = stale
    .map(([key, entry]) => {
      const ref = parseRefKey(key);
      return ref ? { key, entry, ref: { ...ref, version: splitApiVersion(entry.v).version } } : undefined;
    })
    .filter((x) => x !== undefined);
  const ordered = pruneOrder(items.map((i) => ({ ...i.ref, item: i }))).map((r) => r.item);
  // Same stage → in parallel; stages one after another, in reverse.
  for (const stage of [...APPLY_STAGE_NAMES].reverse()) {
    const batch = ordered.filter((i) => stageOf(i.ref) === stage);
    const results = await mapSettled(batch, ctx.parallelism, async (i) => {
      const info = await ctx.client.discovery.resolve(i.entry.v, i.ref.kind);
      if (!info) return 'gone'; // its CRD is gone, so is it
      const live = await ctx.client.get(info, i.ref);
      if (!live) return 'gone';
      if (live.metadata.annotations?.[PRUNE_ANNOTATION] === 'disabled') return 'kept';
      if (live.metadata.labels?.[INVENTORY_LABEL] !== inventoryName) return 'kept';
      const uid = live.metadata.uid;
      await ctx.client.delete(info, i.ref, {
        propagation: 'Background',
        ...(typeof uid === 'string' ? { uid } : {}),
      });
      return 'pruned';
    });
    results.forEach((r, n) => {
      const i = batch[n]!;
      if (r.status === 'fulfilled') {
        if (r.value === 'kept') result.kept.push(i.key);
        else result.pruned.push(i.key);
      } else
        result.failed.push({
          key: i.key,
          entry: i.entry,
          problem: {
            object: i.key,
            code: isKubeApiError(r.reason) ? r.reason.code : 'prune.error',
            reason: scrubApiMessage(messageOf(r.reason), labelOfKey(i.key)),
          },
        });
    });
  }
  return result;
}

/** The event label of an inventory key; undefined (scrubbed as a Secret) if it cannot be read. */
function labelOfKey(key: string): string | undefined {
  const ref = parseRefKey(key);
  return ref ? formatRef(ref) : undefined;
}

// ---- step 6: health ---------------------------------------------------------------------------

/** Kinds whose health never depends on status: no need to read them back. */
const STATIC_HEALTH = new Set([
  '/ConfigMap',
  '/Secret',
  '/ServiceAccount',
  'rbac.authorization.k8s.io/Role',
  'rbac.authorization.k8s.io/RoleBinding',
  'rbac.authorization.k8s.io/ClusterRole',
  'rbac.authorization.k8s.io/ClusterRoleBinding',
  'networking.k8s.io/NetworkPolicy',
  'networking.k8s.io/Ingress',
  'batch/CronJob',
  'policy/PodDisruptionBudget',
]);

const hasStaticHealth = (d: DesiredObject) => STATIC_HEALTH.has(`${d.ref.group}/${d.ref.kind}`);

/**
 * Aggregate health of `desired`, from their live objects; `read` (findChanges' health) when
 * they were just read whole, so nothing is read again.
 */
export async function evaluateHealth(
  desired: readonly DesiredObject[],
  live: LiveState,
  read?: ReadonlyMap<string, ObjectHealth['health']>,
): Promise<AggregateHealth> {
  const dynamic = desired.filter((d) => !hasStaticHealth(d));
  // Each live object's health is computed as its page arrives; only the verdicts are kept (#17).
  const healths = new Map<string, ObjectHealth['health']>(read);
  if (dynamic.length > 0 && !read) {
    const wanted = new Set(dynamic.map((d) => d.key));
    await live.forEach(dynamic, { metadataOnly: false }, (key, obj) => {
      if (wanted.has(key)) healths.set(key, computeHealth(obj));
    });
  }
  const list: ObjectHealth[] = desired.map((d) => {
    if (hasStaticHealth(d))
      return { ref: d.ref, health: { status: 'Current', message: 'Resource is current' } };
    return {
      ref: d.ref,
      health: healths.get(d.key) ?? {
        status: 'InProgress',
        message: 'not found (not created yet or deleted)',
      },
    };
  });
  return aggregateHealth(list);
}

/**
 * The waits between health checks: the first soon after the apply, doubling up to `pollMs`. Most
 * rollouts that finish at all finish in the first second or two (a scaled-to-zero Deployment, a
 * ConfigMap change, a warm node); a flat `pollMs` wait made every one of them look up to
 * `pollMs` slower, and the next stage's soak starts only at Current (#20). Slow rollouts still
 * cost one check per `pollMs` after the first few.
 */
export function healthPollDelays(pollMs: number, firstMs = 100): (attempt: number) => number {
  return (attempt) => Math.min(pollMs, firstMs * 2 ** attempt);
}

/**
 * Polls aggregate health until Current or Failed, or the timeout (which counts as Failed: a
 * rollout that does not finish in time needs a person). `onChange` sees every transition.
 */
export async function waitForHealth(
  desired: readonly DesiredObject[],
  live: LiveState,
  opts: {
    timeoutMs: number;
    pollMs: number;
    onChange: (h: AggregateHealth, previous: AggregateHealth | undefined) => Promise<void>;
    signal?: { aborted: boolean };
  },
): Promise<AggregateHealth> {
  const deadline = Date.now() + opts.timeoutMs;
  let previous: AggregateHealth | undefined;
  const delay = healthPollDelays(opts.pollMs);
  for (let attempt = 0; ; attempt++) {
    let h = await evaluateHealth(desired, live);
    const done = h.status === 'Current' || h.status === 'Failed';
    if (!done && (Date.now() >= deadline || opts.signal?.aborted)) {
      h = {
        ...h,
        status: 'Failed',
        message: `not healthy after ${Math.round(opts.timeoutMs / 1000)} s: ${h.message}`,
      };
    }
    if (!previous || previous.status !== h.status) await opts.onChange(h, previous);
    previous = h;
    if (h.status === 'Current' || h.status === 'Failed') return h;
    await new Promise((r) => setTimeout(r, delay(attempt)));
  }
}
