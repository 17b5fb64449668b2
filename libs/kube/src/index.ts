// Pure logic (no cluster access): kstatus-style health rules and managedFields-based drift.
// The client, apply, discovery and inventory parts live in their own files alongside.

// Client half: raw JSON over keep-alive HTTPS, discovery, server-side apply, inventory, leases.
export { Discovery, type ResourceInfo } from './client/discovery.ts';
export {
  inClusterAccess,
  type KubeAccess,
  type KubeAccessOptions,
  kubeconfigAccess,
  loadKubeAccess,
} from './client/kube-access.ts';
export {
  type ApplyOptions,
  CORE_RESOURCES,
  KubeClient,
  type ListOptions,
  resourcePath,
} from './client/kube-client.ts';
export {
  isKubeApiError,
  KubeApiError,
  type KubeErrorCause,
  type KubeErrorCode,
  type KubeRequestContext,
  type KubeStatus,
  kubeErrorFromResponse,
  kubeNetworkError,
} from './client/kube-errors.ts';
export { KubeHttp, type KubeHttpOptions, type KubeRequest, type KubeResponse } from './client/kube-http.ts';
export { LeaderLease, type LeaderLeaseOptions } from './client/leader-lease.ts';
export { mapLimit, mapSettled } from './client/limit.ts';
export { computeDrift } from './drift/compute-drift.ts';
export {
  type FieldsV1,
  fieldSetPaths,
  formatPathElement,
  type PathElement,
  parsePathElement,
} from './drift/fields-v1.ts';
export {
  type ProtectOptions,
  protectDrift,
  type ReportedDrift,
  valueHash,
} from './drift/protect-values.ts';
export {
  type FieldChange,
  type ObjectChange,
  type RenderedDiff,
  type RenderedDiffOptions,
  renderedDiff,
} from './drift/rendered-diff.ts';
export type { DriftEntry, DriftOptions, ManagedFieldsEntry } from './drift/types.ts';
export { type AggregateHealth, aggregateHealth, type ObjectHealth } from './health/aggregate.ts';
export { computeHealth } from './health/compute-health.ts';
export { UNSCHEDULABLE_GRACE_MS } from './health/pod.ts';
export type { Health, HealthOptions, HealthStatus } from './health/types.ts';
export {
  type Inventory,
  type InventoryEntry,
  InventoryStore,
  inventoryName,
  pipelineInventoryName,
} from './inventory/inventory.ts';
