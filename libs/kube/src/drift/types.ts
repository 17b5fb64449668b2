import type { FieldsV1 } from './fields-v1.ts';

/** One entry of `metadata.managedFields`. */
export interface ManagedFieldsEntry {
  manager?: string;
  operation?: 'Apply' | 'Update' | string;
  apiVersion?: string;
  time?: string;
  fieldsType?: string;
  fieldsV1?: FieldsV1;
  subresource?: string;
}

/** A field Flotilla sets whose live value was changed (or removed) by someone else. */
export interface DriftEntry {
  /** `.spec.replicas`, `.spec.template.spec.containers[name=web].image`, `.metadata.labels.app`. */
  path: string;
  /** The value in the desired manifest. */
  expected: unknown;
  /** The live value; `undefined` when the field was removed. */
  actual: unknown;
  /** The manager that owns the field now (most recent first), if any. */
  manager?: string;
}

export interface DriftOptions {
  /** Flotilla's field manager name, as used for server-side apply. */
  fieldManager: string;
  /**
   * Paths (in DriftEntry path form) to leave alone, with everything below them, e.g.
   * `.spec.replicas` or `.metadata.annotations`. Like Argo CD's ignoreDifferences.
   */
  ignorePaths?: readonly string[];
  /** Changes made by these managers are accepted, not drift (Argo CD's managedFieldsManagers). */
  ignoreManagers?: readonly string[];
  /** Overrides `live.metadata.managedFields`, e.g. when they were fetched separately. */
  managedFields?: readonly ManagedFieldsEntry[];
}
