import type { KubeObject } from '@flotilla/manifests';
import { describe, expect, it } from 'vitest';
import { placeNamespace } from './desired.ts';

const obj = (kind: string, namespace?: string): KubeObject => ({
  apiVersion: 'v1',
  kind,
  metadata: { name: 'x', ...(namespace ? { namespace } : {}) },
});

describe('placeNamespace (cluster entry targetNamespace)', () => {
  it('puts namespaced objects without a namespace into the target; their own namespace wins', () => {
    // podinfo's kustomize/ and Argo CD's example apps ship Deployments and Services without one.
    expect(placeNamespace(obj('Deployment'), true, 'podinfo')).toEqual({ ok: true, namespace: 'podinfo' });
    expect(placeNamespace(obj('Service', 'other'), true, 'podinfo')).toEqual({
      ok: true,
      namespace: 'other',
    });
  });

  it('refuses a namespaced object with no namespace anywhere, naming both ways to give one', () => {
    const r = placeNamespace(obj('ConfigMap'), true, undefined);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.problem.code).toBe('manifest.namespace-required');
      expect(r.problem.reason).toContain('targetNamespace');
    }
  });

  it('keeps cluster-scoped objects cluster-scoped; a conflicting namespace on one is refused clearly', () => {
    expect(placeNamespace(obj('ClusterRole'), false, 'podinfo')).toEqual({ ok: true, namespace: undefined });
    expect(placeNamespace(obj('ClusterRole', 'podinfo'), false, 'podinfo')).toEqual({
      ok: true,
      namespace: undefined,
    });
    // Without a target the stray namespace is dropped, as the apiserver would.
    expect(placeNamespace(obj('ClusterRole', 'misc'), false, undefined)).toEqual({
      ok: true,
      namespace: undefined,
    });
    const r = placeNamespace(obj('ClusterRole', 'misc'), false, 'podinfo');
    expect(r).toEqual({
      ok: false,
      problem: {
        code: 'manifest.cluster-scoped-namespace',
        reason:
          'ClusterRole is cluster-scoped but sets metadata.namespace misc (targetNamespace is podinfo); remove the namespace',
      },
    });
  });
});
