import { describe, expect, it } from 'vitest';
import { apiVersionOf, compareRefs, formatRef, parseRefKey, refKey, refOf } from './object-ref.ts';

describe('object identity', () => {
  const deploy = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'team-a' },
  };

  it('derives a ref, a stable key and a human form', () => {
    const ref = refOf(deploy);
    expect(ref).toEqual({
      group: 'apps',
      version: 'v1',
      kind: 'Deployment',
      namespace: 'team-a',
      name: 'web',
    });
    expect(refKey(ref)).toBe('apps_Deployment_team-a_web');
    expect(formatRef(ref)).toBe('apps/Deployment team-a/web');
    expect(apiVersionOf(ref)).toBe('apps/v1');
  });

  it('handles the core group and cluster scope', () => {
    const ns = refOf({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'team-a', namespace: 'ignored' },
    });
    expect(ns).toEqual({ group: '', version: 'v1', kind: 'Namespace', name: 'team-a' });
    expect(refKey(ns)).toBe('_Namespace__team-a');
    expect(formatRef(ns)).toBe('Namespace team-a');
    expect(apiVersionOf(ns)).toBe('v1');
    const cm = refOf({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'team-a' } });
    expect(formatRef(cm)).toBe('ConfigMap team-a/c');
    const cr = refOf({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: 'a' },
    });
    expect(formatRef(cr)).toBe('rbac.authorization.k8s.io/ClusterRole a');
  });

  it('does not include the version in the key and parses keys back, even with _ in names', () => {
    const v1beta = refOf({ ...deploy, apiVersion: 'apps/v1beta2' });
    expect(refKey(v1beta)).toBe(refKey(refOf(deploy)));
    const rbac = {
      group: 'rbac.authorization.k8s.io',
      version: '',
      kind: 'Role',
      namespace: 'x',
      name: 'system:a_b',
    };
    expect(parseRefKey(refKey(rbac))).toEqual(rbac);
    expect(parseRefKey('_Namespace__team-a')).toEqual({
      group: '',
      version: '',
      kind: 'Namespace',
      name: 'team-a',
    });
    expect(parseRefKey('nope')).toBeUndefined();
    expect(parseRefKey('a__b_')).toBeUndefined();
  });

  it('orders refs by key in code units', () => {
    const a = refOf({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'B', namespace: 'n' } });
    const b = refOf({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a', namespace: 'n' } });
    expect([b, a].sort(compareRefs)).toEqual([a, b]);
  });
});
