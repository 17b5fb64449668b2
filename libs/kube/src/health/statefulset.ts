import { field, int, str } from './object-fields.ts';
import { current, type HealthRule, inProgress } from './types.ts';

/** StatefulSets never report Failed: a stuck rollout just stays InProgress. */
export const statefulSetHealth: HealthRule = (obj) => {
  if (str(obj, 'spec', 'updateStrategy', 'type') === 'OnDelete') {
    return current('StatefulSet is using the OnDelete update strategy');
  }
  const spec = int(obj, ['spec', 'replicas'], 1);
  const replicas = int(obj, ['status', 'replicas'], 0);
  const ready = int(obj, ['status', 'readyReplicas'], 0);
  const currentReplicas = int(obj, ['status', 'currentReplicas'], 0);
  const updated = int(obj, ['status', 'updatedReplicas'], 0);

  if (spec > replicas) return inProgress(`Replicas: ${replicas}/${spec}`);
  if (spec > ready) return inProgress(`Ready: ${ready}/${spec}`);
  if (replicas > spec) return inProgress(`Pending termination: ${replicas - spec}`);

  const partition = field(obj, 'spec', 'updateStrategy', 'rollingUpdate', 'partition');
  if (typeof partition === 'number') {
    // Only ordinals >= partition are updated; the rest stay on the old revision by design.
    const want = Math.max(0, spec - partition);
    if (updated < want) return inProgress(`Partitioned rollout in progress. Updated: ${updated}/${want}`);
    return current(`Partitioned rollout complete. Updated: ${updated}`);
  }
  if (spec > currentReplicas) return inProgress(`Current: ${currentReplicas}/${spec}`);
  const currentRevision = str(obj, 'status', 'currentRevision');
  const updateRevision = str(obj, 'status', 'updateRevision');
  if (currentRevision !== updateRevision) {
    return inProgress(
      `Waiting for updated revision ${updateRevision ?? '?'} (current ${currentRevision ?? '?'})`,
    );
  }
  return current(`All replicas scheduled as expected. Replicas: ${replicas}`);
};
