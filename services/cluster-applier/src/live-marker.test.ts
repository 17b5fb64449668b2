import type { KubeObject } from '@flotilla/manifests';
import { describe, expect, it } from 'vitest';
import { liveMarker } from './live-state.ts';

// An APIService as a 1.34 kube-apiserver returns it after Flotilla applied it: no generation;
// the apiserver's availability controller writes status through the status subresource.
function apiService(opts: { rv: string; statusTime: string; extra?: object[] }): KubeObject {
  return {
    apiVersion: 'apiregistration.k8s.io/v1',
    kind: 'APIService',
    metadata: {
      name: 'v1beta1.metrics.k8s.io',
      resourceVersion: opts.rv,
      managedFields: [
        {
          manager: 'flotilla',
          operation: 'Apply',
          apiVersion: 'apiregistration.k8s.io/v1',
          time: '2026-11-30T01:00:00Z',
          fieldsType: 'FieldsV1',
          fieldsV1: { 'f:spec': { 'f:group': {}, 'f:service': { 'f:name': {}, 'f:namespace': {} } } },
        },
        {
          manager: 'kube-apiserver',
          operation: 'Update',
          apiVersion: 'apiregistration.k8s.io/v1',
          time: opts.statusTime,
          fieldsType: 'FieldsV1',
          fieldsV1: { 'f:status': { 'f:conditions': { '.': {}, 'k:{"type":"Available"}': {} } } },
          subresource: 'status',
        },
        ...(opts.extra ?? []),
      ],
    },
    spec: {
      group: 'metrics.k8s.io',
      version: 'v1beta1',
      service: { name: 'metrics-server', namespace: 'kube-system' },
    },
    status: { conditions: [{ type: 'Available', status: 'False', reason: 'MissingEndpoints' }] },
  };
}

describe('liveMarker', () => {
  it('does not change when only the status of an object without generation moves', () => {
    const before = liveMarker(apiService({ rv: '100', statusTime: '2026-11-30T01:00:05Z' }));
    const after = liveMarker(apiService({ rv: '187', statusTime: '2026-11-30T01:07:41Z' }));
    expect(before).toMatch(/^m[0-9a-f]{32}$/);
    expect(after).toBe(before);
  });

  it('changes when anyone else writes the object, or a status write predates the subresource field', () => {
    const base = liveMarker(apiService({ rv: '100', statusTime: '2026-11-30T01:00:05Z' }));
    const edited = apiService({
      rv: '101',
      statusTime: '2026-11-30T01:00:05Z',
      extra: [
        {
          manager: 'kubectl-edit',
          operation: 'Update',
          apiVersion: 'apiregistration.k8s.io/v1',
          time: '2026-11-30T01:02:00Z',
          fieldsType: 'FieldsV1',
          fieldsV1: { 'f:spec': { 'f:insecureSkipTLSVerify': {} } },
        },
      ],
    });
    expect(liveMarker(edited)).not.toBe(base);
    // Older servers record a status write without `subresource`, owning only f:status.
    const legacy = apiService({ rv: '102', statusTime: '2026-11-30T01:00:05Z' });
    const entries = legacy.metadata.managedFields as Record<string, unknown>[];
    delete entries[1]!.subresource;
    const legacyLater = apiService({ rv: '140', statusTime: '2026-11-30T01:09:00Z' });
    delete (legacyLater.metadata.managedFields as Record<string, unknown>[])[1]!.subresource;
    expect(liveMarker(legacyLater)).toBe(liveMarker(legacy));
  });

  it('uses generation where the kind has one, resourceVersion when nothing else is known', () => {
    expect(
      liveMarker({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'a', generation: 3, resourceVersion: '9' },
      }),
    ).toBe('g3');
    expect(
      liveMarker({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a', resourceVersion: '9' } }),
    ).toBe('r9');
    expect(liveMarker(undefined)).toBeUndefined();
  });
});
