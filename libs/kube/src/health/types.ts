/**
 * kstatus vocabulary (kubernetes-sigs/cli-utils): `Current` = reconciled and healthy, `InProgress` =
 * not there yet, `Failed` = will not get there without a change, `Terminating` = being deleted,
 * `Unknown` = cannot tell from the object. NotFound is not a health: it comes from a 404 on GET.
 */
export type HealthStatus = 'Current' | 'InProgress' | 'Failed' | 'Terminating' | 'Unknown';

export interface Health {
  status: HealthStatus;
  message: string;
}

export interface HealthOptions {
  /** Clock for time-based rules (Pod unschedulable for > 15 s). Defaults to now. */
  now?: Date;
}

/** A kind-specific rule: returns the verdict for this kind. */
export type HealthRule = (obj: Record<string, unknown>, options: Required<HealthOptions>) => Health;

export const current = (message: string): Health => ({ status: 'Current', message });
export const inProgress = (message: string): Health => ({ status: 'InProgress', message });
export const failed = (message: string): Health => ({ status: 'Failed', message });
