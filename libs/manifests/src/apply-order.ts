import type { KubeObject } from './kube-object.ts';
import { type ObjectRef, refKey, refOf } from './object-ref.ts';

/**
 * Stages, applied in this order, each waiting for the previous one to settle:
 * - `crds`: CustomResourceDefinitions (wait Established before their custom resources)
 * - `namespaces`
 * - `rbac`: ClusterRoles, Roles, their bindings and ServiceAccounts (what workloads run as)
 * - `config`: ConfigMaps, Secrets, quotas, limit ranges and `*Class` kinds that others reference
 * - `resources`: everything else, custom resources included
 * - `admission`: webhook configurations and admission policies, last, so a webhook whose backend
 *   is not running yet cannot block the rest of the bundle (and first to go when pruning).
 */
export type ApplyStageName = 'crds' | 'namespaces' | 'rbac' | 'config' | 'resources' | 'admission';

export const APPLY_STAGE_NAMES: readonly ApplyStageName[] = [
  'crds',
  'namespaces',
  'rbac',
  'config',
  'resources',
  'admission',
];

export interface ApplyStage<T> {
  name: ApplyStageName;
  objects: T[];
}

const RBAC = 'rbac.authorization.k8s.io';
const ADMISSION = 'admissionregistration.k8s.io';

/** Which stage an object of this group/kind belongs to. */
export function stageOf(ref: Pick<ObjectRef, 'group' | 'kind'>): ApplyStageName {
  const { group, kind } = ref;
  if (group === 'apiextensions.k8s.io' && kind === 'CustomResourceDefinition') return 'crds';
  if (group === '' && kind === 'Namespace') return 'namespaces';
  if (group === RBAC && ['ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding'].includes(kind))
    return 'rbac';
  if (group === '' && kind === 'ServiceAccount') return 'rbac';
  if (group === '' && ['ConfigMap', 'Secret', 'ResourceQuota', 'LimitRange'].includes(kind)) return 'config';
  // Flux's rule: kinds ending in `Class` (StorageClass, PriorityClass, IngressClass, ...) are
  // referenced by other objects, so they go early.
  if (kind.endsWith('Class')) return 'config';
  if (group === ADMISSION) return 'admission';
  return 'resources';
}

/** Flux's kind order inside a stage (kustomize-controller); unknown kinds come after, by group/kind. */
const KIND_ORDER = [
  'CustomResourceDefinition',
  'Namespace',
  'ClusterRole',
  'ClusterClass',
  'RuntimeClass',
  'PriorityClass',
  'StorageClass',
  'VolumeSnapshotClass',
  'IngressClass',
  'GatewayClass',
  'ClusterRoleBinding',
  'ResourceQuota',
  'ServiceAccount',
  'Role',
  'RoleBinding',
  'ConfigMap',
  'Secret',
  'Service',
  'LimitRange',
  'Deployment',
  'StatefulSet',
  'CronJob',
  'PodDisruptionBudget',
];
const KIND_RANK = new Map(KIND_ORDER.map((k, i) => [k, i]));
/** Within the admission stage: policies (and their bindings) before webhooks. */
const ADMISSION_LAST = new Set(['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']);

type RefLike = Pick<ObjectRef, 'group' | 'kind' | 'namespace' | 'name'>;

function cmp(a: string | number, b: string | number): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Total, stable apply order: stage, Flux kind rank, group/kind, then namespace/name. */
export function compareApplyOrder(a: RefLike, b: RefLike): number {
  const stage = cmp(APPLY_STAGE_NAMES.indexOf(stageOf(a)), APPLY_STAGE_NAMES.indexOf(stageOf(b)));
  if (stage !== 0) return stage;
  const last = cmp(ADMISSION_LAST.has(a.kind) ? 1 : 0, ADMISSION_LAST.has(b.kind) ? 1 : 0);
  if (last !== 0) return last;
  const rank = cmp(KIND_RANK.get(a.kind) ?? KIND_ORDER.length, KIND_RANK.get(b.kind) ?? KIND_ORDER.length);
  if (rank !== 0) return rank;
  const type = cmp(`${a.group}/${a.kind}`, `${b.group}/${b.kind}`);
  if (type !== 0) return type;
  return cmp(refKey(a), refKey(b));
}

/** Objects grouped into non-empty stages in apply order, each sorted by {@link compareApplyOrder}. */
export function applyStages<T extends Pick<KubeObject, 'apiVersion' | 'kind' | 'metadata'>>(
  objects: readonly T[],
): ApplyStage<T>[] {
  const withRefs = objects.map((o) => ({ o, r: refOf(o) })).sort((x, y) => compareApplyOrder(x.r, y.r));
  const stages: ApplyStage<T>[] = [];
  for (const { o, r } of withRefs) {
    const name = stageOf(r);
    const current = stages.at(-1);
    if (current?.name === name) current.objects.push(o);
    else stages.push({ name, objects: [o] });
  }
  return stages;
}

/** Refs in apply order. */
export function sortForApply<T extends RefLike>(refs: readonly T[]): T[] {
  return [...refs].sort(compareApplyOrder);
}

/** Deletion order: the exact reverse of apply order (webhooks first, workloads, ..., CRDs last). */
export function pruneOrder<T extends RefLike>(refs: readonly T[]): T[] {
  return [...refs].sort((a, b) => compareApplyOrder(b, a));
}
