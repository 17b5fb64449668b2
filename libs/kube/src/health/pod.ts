import { condition, field, str } from './object-fields.ts';
import { current, failed, type HealthRule, inProgress } from './types.ts';

/** How long a Pod may stay unschedulable before it counts as Failed (kstatus uses 15 s). */
export const UNSCHEDULABLE_GRACE_MS = 15_000;

export const podHealth: HealthRule = (obj, { now }) => {
  const phase = str(obj, 'status', 'phase');
  if (phase === 'Succeeded') return current('Pod has completed successfully');
  if (phase === 'Failed') return current('Pod has completed, but not successfully');

  const crashing = crashLoopingContainers(obj);
  if (crashing.length > 0) return failed(`Containers in CrashLoopBackOff: ${crashing.join(', ')}`);

  if (phase === 'Running') {
    if (condition(obj, 'Ready')?.status === 'True') return current('Pod is Ready');
    return inProgress('Pod is running but is not Ready');
  }
  if (phase === 'Pending') {
    const scheduled = condition(obj, 'PodScheduled');
    if (scheduled?.status === 'False' && scheduled.reason === 'Unschedulable') {
      const since = Date.parse(scheduled.lastTransitionTime ?? '');
      if (Number.isFinite(since) && now.getTime() - since > UNSCHEDULABLE_GRACE_MS) {
        return failed(`Pod could not be scheduled${scheduled.message ? `: ${scheduled.message}` : ''}`);
      }
    }
    return inProgress('Pod is in the Pending phase');
  }
  return inProgress('Pod phase not available');
};

function crashLoopingContainers(obj: Record<string, unknown>): string[] {
  const names: string[] = [];
  for (const key of ['initContainerStatuses', 'containerStatuses']) {
    const statuses = field(obj, 'status', key);
    if (!Array.isArray(statuses)) continue;
    for (const s of statuses) {
      if (field(s, 'state', 'waiting', 'reason') === 'CrashLoopBackOff') names.push(String(field(s, 'name')));
    }
  }
  return names;
}
