import type { KeyObject } from 'node:crypto';
import type { BlobStore } from '@flotilla/bus';
import { FlotillaError, messageOf } from '@flotilla/errors';
import { isKubeApiError, type KubeClient, mapLimit, type ResourceInfo } from '@flotilla/kube';
import {
  type ApplyStageName,
  type Bundle,
  bundleContentDigest,
  decodeBundle,
  formatRef,
  type KubeObject,
  type ObjectRef,
  objectHash,
  refKey,
  refOf,
  splitApiVersion,
  stageOf,
} from '@flotilla/manifests';
import { isSealed, openBundle, type PlanData } from '@flotilla/trust';
import { ApplyError, type ObjectProblem, summarize } from './apply-error.ts';

/** Label on every object we apply: whose inventory it is in (cheap listing, safe pruning). */
export const INVENTORY_LABEL = 'flotilla.io/inventory';
/** Label on objects applied for a pipeline: which one (the inventory name may be a hash). */
export const PIPELINE_LABEL = 'flotilla.io/pipeline';
/** `flotilla.io/prune: disabled` keeps an object in the cluster when it leaves the bundle. */
export const PRUNE_ANNOTATION = 'flotilla.io/prune';

/** One object of the bundle, resolved against the cluster's API. */
export interface DesiredObject {
  key: string;
  ref: ObjectRef;
  /** `apps/Deployment team-a/web` */
  label: string;
  /** What we send: the manifest plus our inventory label. */
  body: KubeObject;
  hash: string;
  stage: ApplyStageName;
  info: ResourceInfo;
  /** Served by a CRD of this same bundle that the cluster does not serve yet. */
  viaBundleCrd: boolean;
}

/**
 * Step 1a: fetch the bundle by digest from the Object Store and check its sha256 (the signed
 * plan names it, so this covers the ciphertext of a sealed bundle), then open it with this
 * cluster's key: a sealed bundle that does not authenticate, one this applier has no key for,
 * or a plaintext one where a key is configured (a downgrade) is refused before anything is read.
 */
export async function fetchBundle(blobs: BlobStore, plan: PlanData, sealingKey?: KeyObject): Promise<Bundle> {
  let stored: Uint8Array;
  try {
    stored = await blobs.get(plan.bundle.digest);
  } catch (err) {
    const code = err instanceof FlotillaError ? err.code : 'bundle.unreadable';
    if (code === 'bus.blob-digest-mismatch')
      throw new ApplyError(
        'bundle.digest-mismatch',
        `bundle content does not match the plan: ${messageOf(err)}`,
        [],
        true,
      );
    if (code === 'bus.blob-not-found')
      throw new ApplyError(
        'bundle.not-found',
        `bundle ${plan.bundle.digest} is not in the object store`,
        [],
        true,
      );
    throw new ApplyError(
      'bundle.unreadable',
      `bundle ${plan.bundle.digest}: ${messageOf(err)}`,
      [],
      true,
      'retry',
      err,
    );
  }
  const bytes = openIfSealed(stored, plan, sealingKey);
  const decoded = decodeBundle(bytes, {
    ...(bytes === stored ? { expectedDigest: plan.bundle.digest } : {}),
    file: plan.bundle.digest,
  });
  if (!decoded.ok) {
    const first = decoded.errors[0];
    const code = first?.code === 'bundle.digest-mismatch' ? 'bundle.digest-mismatch' : 'bundle.invalid';
    throw new ApplyError(
      code,
      `bundle ${plan.bundle.digest} is invalid: ${decoded.errors
        .map((e) => e.message)
        .slice(0, 3)
        .join('; ')}`,
      decoded.errors
        .slice(0, 1000)
        .map((e) => ({ object: e.path ?? e.file ?? 'bundle', code: e.code, reason: e.message })),
      true,
    );
  }
  const bundle = decoded.bundle;
  if (bundle.cluster !== plan.cluster || bundle.revision !== plan.revision)
    throw new ApplyError(
      'bundle.mismatch',
      `bundle is for ${bundle.cluster}@${bundle.revision}, the plan says ${plan.cluster}@${plan.revision}`,
      [],
      true,
    );
  // The signed content digest lets a later plan of the same content skip this read (see
  // Applier.desiredOf), so it is held to what the bundle really holds whenever it is read.
  const claimed = plan.bundle.contentDigest;
  if (claimed !== undefined && bundleContentDigest(bundle) !== claimed)
    throw new ApplyError(
      'bundle.mismatch',
      `bundle ${plan.bundle.digest} holds content ${bundleContentDigest(bundle)}, the plan says ${claimed}`,
      [],
      true,
    );
  return bundle;
}

function openIfSealed(stored: Uint8Array, plan: PlanData, sealingKey: KeyObject | undefined): Uint8Array {
  if (!isSealed(stored)) {
    if (sealingKey)
      throw new ApplyError(
        'bundle.unsealed',
        `bundle ${plan.bundle.digest} is not sealed, and this applier accepts only bundles sealed to its key`,
        [],
        true,
      );
    return stored;
  }
  if (!sealingKey)
    throw new ApplyError(
      'bundle.sealed-no-key',
      `bundle ${plan.bundle.digest} is sealed, and this applier has no sealing key (sealing.keyFile)`,
      [],
      true,
    );
  try {
    return openBundle(stored, sealingKey, plan.cluster);
  } catch (err) {
    throw new ApplyError('bundle.seal-invalid', `bundle ${plan.bundle.digest}: ${messageOf(err)}`, [], true);
  }
}

interface CrdServes {
  group: string;
  kind: string;
  plural: string;
  namespaced: boolean;
  versions: Set<string>;
}

function crdsOf(objects: readonly KubeObject[]): CrdServes[] {
  const out: CrdServes[] = [];
  for (const o of objects) {
    if (o.kind !== 'CustomResourceDefinition' || !o.apiVersion.startsWith('apiextensions.k8s.io/')) continue;
    const spec = (o.spec ?? {}) as {
      group?: string;
      scope?: string;
      names?: { kind?: string; plural?: string };
      versions?: { name?: string; served?: boolean }[];
    };
    if (!spec.group || !spec.names?.kind || !spec.names.plural) continue;
    out.push({
      group: spec.group,
      kind: spec.names.kind,
      plural: spec.names.plural,
      namespaced: spec.scope !== 'Cluster',
      versions: new Set(
        (spec.versions ?? []).filter((v) => v.served !== false && v.name).map((v) => v.name as string),
      ),
    });
  }
  return out;
}

export type NamespacePlacement =
  | { ok: true; namespace: string | undefined }
  | { ok: false; problem: { code: string; reason: string } };

/**
 * The namespace an object is applied in. A namespaced object keeps its own, else takes the
 * cluster entry's `targetNamespace` (Flux's `targetNamespace`, Argo CD's destination namespace),
 * else is refused. A cluster-scoped object has none: a stray one is dropped as the apiserver
 * would, except that with a `targetNamespace` a different namespace on a cluster-scoped object
 * is refused, since its author evidently took it for namespaced and nothing would be where
 * they meant it to be. Pure, so each case is unit-tested.
 */
export function placeNamespace(
  manifest: KubeObject,
  namespaced: boolean,
  targetNamespace: string | undefined,
): NamespacePlacement {
  const own = manifest.metadata.namespace || undefined;
  if (namespaced) {
    const namespace = own ?? targetNamespace;
    if (namespace) return { ok: true, namespace };
    return {
      ok: false,
      problem: {
        code: 'manifest.namespace-required',
        reason: `${manifest.kind} is namespaced; set metadata.namespace in Git or targetNamespace on the cluster entry`,
      },
    };
  }
  if (own && targetNamespace && own !== targetNamespace)
    return {
      ok: false,
      problem: {
        code: 'manifest.cluster-scoped-namespace',
        reason: `${manifest.kind} is cluster-scoped but sets metadata.namespace ${own} (targetNamespace is ${targetNamespace}); remove the namespace`,
      },
    };
  return { ok: true, namespace: undefined };
}

/**
 * Step 1b: every object must be of a kind the cluster serves (or a CRD of this bundle defines),
 * namespaced objects need a namespace (their own or the bundle's targetNamespace), and a
 * cluster-scoped object's stray namespace is dropped (as the apiserver would). Every problem is
 * reported, not just the first.
 */
export async function resolveDesired(
  client: KubeClient,
  bundle: Bundle,
  inventoryName: string,
  parallelism: number,
  pipeline?: string,
): Promise<DesiredObject[]> {
  const crds = crdsOf(bundle.objects);
  const problems: ObjectProblem[] = [];
  const resolved = await mapLimit(bundle.objects, parallelism, async (manifest) => {
    const label = formatRef(refOf(manifest));
    let info: ResourceInfo | undefined;
    let viaBundleCrd = false;
    try {
      info = await client.discovery.resolve(manifest.apiVersion, manifest.kind);
    } catch (err) {
      if (isKubeApiError(err) && err.disposition === 'stall') {
        problems.push({ object: label, code: err.code, reason: err.message });
        return undefined;
      }
      throw err;
    }
    if (!info) {
      const { group, version } = splitApiVersion(manifest.apiVersion);
      const crd = crds.find((c) => c.group === group && c.kind === manifest.kind && c.versions.has(version));
      if (!crd) {
        problems.push({
          object: label,
          code: 'kube.unknown-kind',
          reason: `kind ${manifest.kind} in ${manifest.apiVersion} is not served by the cluster and no CRD in this bundle defines it`,
        });
        return undefined;
      }
      info = { group, version, kind: manifest.kind, resource: crd.plural, namespaced: crd.namespaced };
      viaBundleCrd = true;
    }
    const placed = placeNamespace(manifest, info.namespaced, bundle.targetNamespace);
    if (!placed.ok) {
      problems.push({ object: label, ...placed.problem });
      return undefined;
    }
    const metadata = { ...manifest.metadata };
    if (placed.namespace === undefined) delete metadata.namespace;
    else metadata.namespace = placed.namespace;
    metadata.labels = {
      ...(metadata.labels ?? {}),
      [INVENTORY_LABEL]: inventoryName,
      ...(pipeline ? { [PIPELINE_LABEL]: pipeline } : {}),
    };
    const body: KubeObject = { ...manifest, metadata };
    const ref = refOf(body);
    if (!info.namespaced) delete ref.namespace;
    const out: DesiredObject = {
      key: refKey(ref),
      ref,
      label: formatRef(ref),
      body,
      hash: objectHash(body),
      stage: stageOf(ref),
      info,
      viaBundleCrd,
    };
    return out;
  });
  if (problems.length > 0)
    throw new ApplyError(
      problems.every((p) => p.code === 'kube.unknown-kind') ? 'bundle.unknown-kind' : 'bundle.invalid',
      `${problems.length} object(s) cannot be applied to this cluster; nothing was written: ${summarize(problems)}`,
      problems,
      true,
    );
  return resolved.filter((d): d is DesiredObject => d !== undefined);
}
