import { condition, describeCondition, field, int } from './object-fields.ts';
import { current, failed, type HealthRule, inProgress } from './types.ts';

/** A started Job counts as Current while it runs: waiting for completion is the caller's choice. */
export const jobHealth: HealthRule = (obj) => {
  const parallelism = int(obj, ['spec', 'parallelism'], 1);
  const completions = int(obj, ['spec', 'completions'], parallelism);
  const succeeded = int(obj, ['status', 'succeeded'], 0);
  const active = int(obj, ['status', 'active'], 0);
  const failedPods = int(obj, ['status', 'failed'], 0);

  const failedCond = condition(obj, 'Failed');
  if (failedCond?.status === 'True') {
    return failed(`Job failed (${describeCondition(failedCond)}). Failed: ${failedPods}/${completions}`);
  }
  const complete = condition(obj, 'Complete');
  if (complete?.status === 'True') return current(`Job completed. Succeeded: ${succeeded}/${completions}`);
  if (field(obj, 'spec', 'suspend') === true || condition(obj, 'Suspended')?.status === 'True') {
    return current('Job is suspended');
  }
  if (field(obj, 'status', 'startTime') === undefined) return inProgress('Job not started');
  return current(`Job in progress. Succeeded: ${succeeded}, active: ${active}, failed: ${failedPods}`);
};
