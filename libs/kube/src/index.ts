// Pure logic (no cluster access): kstatus-style health rules and managedFields-based drift.
// The client, apply, discovery and inventory parts live in their own files alongside.

export { computeDrift } from './drift/compute-drift.ts';
export {
  type FieldsV1,
  fieldSetPaths,
  formatPathElement,
  type PathElement,
  parsePathElement,
} from './drift/fields-v1.ts';
export type { DriftEntry, DriftOptions, ManagedFieldsEntry } from './drift/types.ts';
export { type AggregateHealth, aggregateHealth, type ObjectHealth } from './health/aggregate.ts';
export { computeHealth } from './health/compute-health.ts';
export { UNSCHEDULABLE_GRACE_MS } from './health/pod.ts';
export type { Health, HealthOptions, HealthStatus } from './health/types.ts';
