import { refOf } from '@flotilla/manifests';
import { describe, expect, it } from 'vitest';
import { loadObject } from '../../test/load-object.ts';
import { aggregateHealth } from './aggregate.ts';
import { computeHealth } from './compute-health.ts';
import type { HealthStatus } from './types.ts';

const load = (name: string) => loadObject(import.meta.url, `./fixtures/${name}.yaml`);
const NOW = new Date('2025-01-01T00:01:00Z');

// [fixture, expected status, message fragment]
const cases: [string, HealthStatus, string][] = [
  ['deployment-available', 'Current', 'Deployment is available. Replicas: 3'],
  ['deployment-progress-deadline', 'Failed', 'Progress deadline exceeded'],
  ['deployment-rolling', 'InProgress', 'Updated: 1/3'],
  ['deployment-generation-not-observed', 'InProgress', 'Generation 6 not yet observed'],
  ['deployment-terminating', 'Terminating', 'being deleted'],
  ['deployment-scaled-to-zero', 'Current', 'Replicas: 0'],
  ['deployment-no-status', 'InProgress', 'Replicas: 0/1'],
  ['statefulset-ready', 'Current', 'Replicas: 3'],
  ['statefulset-partition', 'Current', 'Partitioned rollout complete'],
  ['statefulset-partition-rolling', 'InProgress', 'Updated: 1/2'],
  ['statefulset-revision-pending', 'InProgress', 'Waiting for updated revision db-8a1e'],
  ['statefulset-ondelete', 'Current', 'OnDelete'],
  ['daemonset-ready', 'Current', 'Replicas: 4'],
  ['daemonset-rolling', 'InProgress', 'Updated: 2/4'],
  ['daemonset-not-observed', 'InProgress', 'observe'],
  ['replicaset-failure', 'InProgress', 'exceeded quota'],
  ['replicaset-available', 'Current', 'Replicas: 2'],
  ['job-complete', 'Current', 'Job completed'],
  ['job-failed', 'Failed', 'BackoffLimitExceeded'],
  ['job-running', 'Current', 'active: 2'],
  ['job-not-started', 'InProgress', 'Job not started'],
  ['job-suspended', 'Current', 'suspended'],
  ['pod-ready', 'Current', 'Pod is Ready'],
  ['pod-crashloop', 'Failed', 'CrashLoopBackOff: web'],
  ['pod-unschedulable', 'Failed', 'Insufficient memory'],
  ['pod-pending', 'InProgress', 'Pending'],
  ['pod-succeeded', 'Current', 'completed successfully'],
  ['pvc-bound', 'Current', 'Bound'],
  ['pvc-pending', 'InProgress', 'Phase: Pending'],
  ['service-clusterip', 'Current', 'ready'],
  ['service-loadbalancer-pending', 'InProgress', 'ClusterIP not set'],
  ['crd-established', 'Current', 'established'],
  ['crd-installing', 'InProgress', 'Install in progress'],
  ['crd-names-conflict', 'Failed', 'ListKindConflict'],
  ['custom-ready', 'Current', 'all good'],
  ['custom-not-ready', 'InProgress', 'waiting for database'],
  ['custom-stalled', 'Failed', 'invalid url'],
  ['custom-reconciling', 'InProgress', 'fetching'],
  ['custom-available', 'InProgress', 'MissingEndpoints'],
  ['custom-no-conditions', 'Current', 'current'],
  ['configmap', 'Current', 'current'],
];

describe('computeHealth', () => {
  it.each(cases)('%s → %s', (name, status, fragment) => {
    const health = computeHealth(load(name), { now: NOW });
    expect(health.status).toBe(status);
    expect(health.message).toContain(fragment);
  });

  it('gives an unschedulable Pod 15 seconds before calling it Failed', () => {
    const pod = load('pod-unschedulable');
    expect(computeHealth(pod, { now: new Date('2025-01-01T00:00:10Z') }).status).toBe('InProgress');
    expect(computeHealth(pod, { now: new Date('2025-01-01T00:00:16Z') }).status).toBe('Failed');
  });

  it('is Unknown for things that are not objects', () => {
    expect(computeHealth(null).status).toBe('Unknown');
    expect(computeHealth([1]).status).toBe('Unknown');
    expect(computeHealth({ metadata: {} }).status).toBe('Unknown');
  });

  it('survives malformed status fields', () => {
    const odd = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'x' },
      status: { conditions: 'no', replicas: 'three' },
    };
    expect(computeHealth(odd).status).toBe('InProgress');
  });
});

describe('aggregateHealth', () => {
  const item = (name: string) => {
    const obj = load(name);
    return { ref: refOf(obj), health: computeHealth(obj, { now: NOW }) };
  };

  it('is Current only when everything is Current (and for an empty set)', () => {
    expect(aggregateHealth([]).status).toBe('Current');
    const all = aggregateHealth([item('deployment-available'), item('configmap')]);
    expect(all.status).toBe('Current');
    expect(all.message).toBe('all 2 objects are Current');
  });

  it('fails on any Failed object and lists the worst first', () => {
    const agg = aggregateHealth([
      item('deployment-rolling'),
      item('configmap'),
      item('job-failed'),
      item('deployment-terminating'),
    ]);
    expect(agg.status).toBe('Failed');
    expect(agg.counts).toEqual({ Current: 1, InProgress: 1, Failed: 1, Terminating: 1, Unknown: 0 });
    expect(agg.notCurrent.map((i) => i.health.status)).toEqual(['Failed', 'Terminating', 'InProgress']);
    expect(agg.message).toMatch(/^1\/4 Current; batch\/Job team-a\/migrate: Failed/);
  });

  it('stays InProgress while anything is InProgress, Terminating or Unknown', () => {
    expect(aggregateHealth([item('configmap'), item('pvc-pending')]).status).toBe('InProgress');
    expect(aggregateHealth([item('configmap'), item('deployment-terminating')]).status).toBe('InProgress');
    const unknown = { ref: refOf(load('configmap')), health: { status: 'Unknown' as const, message: '?' } };
    expect(aggregateHealth([unknown]).status).toBe('InProgress');
  });
});
