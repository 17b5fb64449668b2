import { crdHealth } from './crd.ts';
import { daemonSetHealth } from './daemonset.ts';
import { deploymentHealth } from './deployment.ts';
import { jobHealth } from './job.ts';
import { condition, describeCondition, field } from './object-fields.ts';
import { podHealth } from './pod.ts';
import { pvcHealth } from './pvc.ts';
import { replicaSetHealth } from './replicaset.ts';
import { serviceHealth } from './service.ts';
import { statefulSetHealth } from './statefulset.ts';
import { current, failed, type Health, type HealthOptions, type HealthRule, inProgress } from './types.ts';

const alwaysCurrent: HealthRule = () => current('Resource is current');

/** Built-in rules keyed `<group>/<kind>` (core group is empty). */
const RULES = new Map<string, HealthRule>([
  ['apps/Deployment', deploymentHealth],
  ['apps/StatefulSet', statefulSetHealth],
  ['apps/DaemonSet', daemonSetHealth],
  ['apps/ReplicaSet', replicaSetHealth],
  ['batch/Job', jobHealth],
  ['/Pod', podHealth],
  ['/PersistentVolumeClaim', pvcHealth],
  ['/Service', serviceHealth],
  ['apiextensions.k8s.io/CustomResourceDefinition', crdHealth],
  ['/Secret', alwaysCurrent],
  ['/ConfigMap', alwaysCurrent],
  ['batch/CronJob', alwaysCurrent],
  ['policy/PodDisruptionBudget', alwaysCurrent],
]);

/**
 * kstatus-style health of a live object, checked in kstatus's order: deletion, generation not yet
 * observed, the Reconciling/Stalled convention, the built-in rule for the kind, then the generic
 * Ready (or Available) condition. Pure: it reads only the object (and the clock for Pods).
 */
export function computeHealth(obj: unknown, options: HealthOptions = {}): Health {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
    return { status: 'Unknown', message: 'not a Kubernetes object' };
  }
  const o = obj as Record<string, unknown>;
  const apiVersion = typeof o.apiVersion === 'string' ? o.apiVersion : undefined;
  const kind = typeof o.kind === 'string' ? o.kind : undefined;
  if (!apiVersion || !kind) return { status: 'Unknown', message: 'object has no apiVersion/kind' };

  if (field(o, 'metadata', 'deletionTimestamp') !== undefined) {
    return { status: 'Terminating', message: 'Resource is being deleted' };
  }
  const generation = field(o, 'metadata', 'generation');
  const observed = field(o, 'status', 'observedGeneration');
  if (typeof generation === 'number' && typeof observed === 'number' && generation !== observed) {
    return inProgress(`Generation ${generation} not yet observed (observed ${observed})`);
  }
  const reconciling = condition(o, 'Reconciling');
  if (reconciling?.status === 'True') return inProgress(`Reconciling: ${describeCondition(reconciling)}`);
  const stalled = condition(o, 'Stalled');
  if (stalled?.status === 'True') return failed(`Stalled: ${describeCondition(stalled)}`);

  const slash = apiVersion.indexOf('/');
  const group = slash < 0 ? '' : apiVersion.slice(0, slash);
  const rule = RULES.get(`${group}/${kind}`);
  if (rule) return rule(o, { now: options.now ?? new Date() });
  return genericHealth(o);
}

/** Ready, else Available, else (no such condition) Current: most operators follow one of these. */
function genericHealth(obj: Record<string, unknown>): Health {
  for (const type of ['Ready', 'Available']) {
    const c = condition(obj, type);
    if (!c) continue;
    if (c.status === 'True') return current(`${type}${c.message ? `: ${c.message}` : ''}`);
    return inProgress(`${type}=${c.status}: ${describeCondition(c)}`);
  }
  return current('Resource is current');
}
