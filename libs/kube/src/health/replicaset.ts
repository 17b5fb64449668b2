import { condition, describeCondition, int } from './object-fields.ts';
import { current, type HealthRule, inProgress } from './types.ts';

export const replicaSetHealth: HealthRule = (obj) => {
  const failure = condition(obj, 'ReplicaFailure');
  // kstatus keeps this InProgress: quota or admission problems can clear on their own.
  if (failure?.status === 'True') return inProgress(`Replica failure: ${describeCondition(failure)}`);
  const spec = int(obj, ['spec', 'replicas'], 1);
  const checks: [string, string][] = [
    ['fullyLabeledReplicas', 'Labelled'],
    ['availableReplicas', 'Available'],
    ['readyReplicas', 'Ready'],
  ];
  for (const [key, label] of checks) {
    const n = int(obj, ['status', key], 0);
    if (spec > n) return inProgress(`${label}: ${n}/${spec}`);
  }
  const replicas = int(obj, ['status', 'replicas'], 0);
  if (replicas > spec) return inProgress(`Pending termination: ${replicas - spec}`);
  return current(`ReplicaSet is available. Replicas: ${spec}`);
};
