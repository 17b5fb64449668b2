import { field, int } from './object-fields.ts';
import { current, type HealthRule, inProgress } from './types.ts';

export const daemonSetHealth: HealthRule = (obj) => {
  if (typeof field(obj, 'status', 'observedGeneration') !== 'number') {
    return inProgress('Waiting for the controller to observe the DaemonSet');
  }
  const desired = field(obj, 'status', 'desiredNumberScheduled');
  if (typeof desired !== 'number') return inProgress('Missing .status.desiredNumberScheduled');
  const checks: [string, string][] = [
    ['currentNumberScheduled', 'Current'],
    ['updatedNumberScheduled', 'Updated'],
    ['numberAvailable', 'Available'],
    ['numberReady', 'Ready'],
  ];
  for (const [key, label] of checks) {
    const n = int(obj, ['status', key], 0);
    if (desired > n) return inProgress(`${label}: ${n}/${desired}`);
  }
  return current(`All replicas scheduled as expected. Replicas: ${desired}`);
};
