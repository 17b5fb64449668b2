import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { computeHealth } from './compute-health.ts';

const STATUSES = ['Current', 'InProgress', 'Failed', 'Terminating', 'Unknown'];

describe('computeHealth properties', () => {
  it('never throws and always answers with a known status, for any status block of any built-in kind', () => {
    const kind = fc.constantFrom(
      ['apps/v1', 'Deployment'],
      ['apps/v1', 'StatefulSet'],
      ['apps/v1', 'DaemonSet'],
      ['apps/v1', 'ReplicaSet'],
      ['batch/v1', 'Job'],
      ['v1', 'Pod'],
      ['v1', 'PersistentVolumeClaim'],
      ['v1', 'Service'],
      ['apiextensions.k8s.io/v1', 'CustomResourceDefinition'],
      ['example.com/v1', 'Widget'],
    );
    fc.assert(
      fc.property(kind, fc.anything(), fc.anything(), ([apiVersion, kind], spec, status) => {
        const health = computeHealth({ apiVersion, kind, metadata: { name: 'x' }, spec, status });
        expect(STATUSES).toContain(health.status);
        expect(typeof health.message).toBe('string');
      }),
      { numRuns: 300 },
    );
  });
});
