import type { ObjectRef } from '@flotilla/manifests';
import { formatRef } from '@flotilla/manifests';
import type { Health, HealthStatus } from './types.ts';

export interface ObjectHealth {
  ref: ObjectRef;
  health: Health;
}

export interface AggregateHealth extends Health {
  counts: Record<HealthStatus, number>;
  /** The objects that are not Current, worst first. */
  notCurrent: ObjectHealth[];
}

/** Worse first: one Failed object fails the whole; anything not Current keeps it InProgress. */
const SEVERITY: Record<HealthStatus, number> = {
  Failed: 4,
  Terminating: 3,
  InProgress: 2,
  Unknown: 1,
  Current: 0,
};

/**
 * The health of a set of objects: Failed if any failed; Current only if all are Current (an empty
 * set is Current); otherwise InProgress (a Terminating or Unknown object is not done yet).
 */
export function aggregateHealth(list: readonly ObjectHealth[]): AggregateHealth {
  const counts: Record<HealthStatus, number> = {
    Current: 0,
    InProgress: 0,
    Failed: 0,
    Terminating: 0,
    Unknown: 0,
  };
  for (const item of list) counts[item.health.status]++;
  const notCurrent = list
    .filter((i) => i.health.status !== 'Current')
    .sort((a, b) => SEVERITY[b.health.status] - SEVERITY[a.health.status]);
  const status: HealthStatus =
    counts.Failed > 0 ? 'Failed' : notCurrent.length > 0 ? 'InProgress' : 'Current';
  const worst = notCurrent
    .slice(0, 3)
    .map((i) => `${formatRef(i.ref)}: ${i.health.status} (${i.health.message})`)
    .join('; ');
  const message =
    notCurrent.length === 0
      ? `all ${list.length} objects are Current`
      : `${list.length - notCurrent.length}/${list.length} Current; ${worst}${notCurrent.length > 3 ? `; and ${notCurrent.length - 3} more` : ''}`;
  return { status, message, counts, notCurrent };
}
