import { conditions, int } from './object-fields.ts';
import { current, failed, type HealthRule, inProgress } from './types.ts';

/** Mirrors the Deployment controller: the Progressing/Available conditions plus replica counters. */
export const deploymentHealth: HealthRule = (obj) => {
  const deadline = obj.spec && (obj.spec as Record<string, unknown>).progressDeadlineSeconds;
  // Without a deadline (or with MaxInt32, the controller's "never") Progressing is never set,
  // so it cannot be required.
  let progressing = typeof deadline !== 'number' || deadline === 2147483647;
  let available = false;
  for (const c of conditions(obj)) {
    if (c.type === 'Progressing') {
      if (c.reason === 'ProgressDeadlineExceeded') {
        return failed(`Progress deadline exceeded${c.message ? `: ${c.message}` : ''}`);
      }
      if (c.status === 'True' && c.reason === 'NewReplicaSetAvailable') progressing = true;
    } else if (c.type === 'Available' && c.status === 'True') {
      available = true;
    }
  }
  const spec = int(obj, ['spec', 'replicas'], 1);
  const replicas = int(obj, ['status', 'replicas'], 0);
  const updated = int(obj, ['status', 'updatedReplicas'], 0);
  const ready = int(obj, ['status', 'readyReplicas'], 0);
  const availableReplicas = int(obj, ['status', 'availableReplicas'], 0);

  if (spec > replicas) return inProgress(`Replicas: ${replicas}/${spec}`);
  if (spec > updated) return inProgress(`Updated: ${updated}/${spec}`);
  if (replicas > spec) return inProgress(`Pending termination: ${replicas - spec}`);
  if (updated > availableReplicas) return inProgress(`Available: ${availableReplicas}/${updated}`);
  if (spec > ready) return inProgress(`Ready: ${ready}/${spec}`);
  if (!progressing) return inProgress('ReplicaSet not Available');
  if (!available) return inProgress('Deployment not Available');
  return current(`Deployment is available. Replicas: ${replicas}`);
};
