import { describe, expect, it } from 'vitest';
import { kubeErrorFromResponse, kubeNetworkError } from './kube-errors.ts';

const status = (code: number, reason: string, message: string, details?: object) =>
  JSON.stringify({
    kind: 'Status',
    apiVersion: 'v1',
    status: 'Failure',
    code,
    reason,
    message,
    ...(details ? { details } : {}),
  });

describe('kubeErrorFromResponse', () => {
  it('403 names the user, the verb and the object, and stalls', () => {
    const e = kubeErrorFromResponse(
      403,
      status(
        403,
        'Forbidden',
        'configmaps "x" is forbidden: User "system:serviceaccount:team-a:applier" cannot patch resource "configmaps" in API group "" in the namespace "kube-system"',
      ),
      { verb: 'apply', object: 'ConfigMap kube-system/x' },
    );
    expect(e.code).toBe('kube.forbidden');
    expect(e.disposition).toBe('stall');
    expect(e.message).toMatch(
      /^RBAC: system:serviceaccount:team-a:applier may not patch ConfigMap kube-system\/x/,
    );
  });

  it('409 with FieldManagerConflict causes lists each field and its manager', () => {
    const e = kubeErrorFromResponse(
      409,
      status(409, 'Conflict', 'Apply failed with 1 conflict', {
        causes: [
          { reason: 'FieldManagerConflict', message: 'conflict with "team-b" using v1', field: '.data.mode' },
        ],
      }),
      { verb: 'apply', object: 'ConfigMap a/b' },
    );
    expect(e.code).toBe('kube.field-conflict');
    expect(e.causes).toEqual([
      { reason: 'FieldManagerConflict', message: 'conflict with "team-b" using v1', field: '.data.mode' },
    ]);
    expect(e.message).toContain('.data.mode (conflict with "team-b" using v1)');
  });

  it('409 without conflict causes (resourceVersion race) retries', () => {
    expect(
      kubeErrorFromResponse(409, status(409, 'Conflict', 'the object has been modified'), { verb: 'update' })
        .disposition,
    ).toBe('retry');
  });

  it('422 tells immutable field changes apart from other invalid objects', () => {
    const immutable = kubeErrorFromResponse(
      422,
      status(
        422,
        'Invalid',
        'ConfigMap "f" is invalid: data: Forbidden: field is immutable when `immutable` is set',
      ),
      { verb: 'apply' },
    );
    expect(immutable.code).toBe('kube.immutable');
    const invalid = kubeErrorFromResponse(422, status(422, 'Invalid', 'spec.replicas: Invalid value: -1'), {
      verb: 'apply',
    });
    expect(invalid.code).toBe('kube.invalid');
  });

  it("500 for an object that does not fit its kind's schema is invalid, not an outage to retry", () => {
    // The apiserver's own answer (1.34) to a server-side apply with a misspelt field.
    const message =
      'failed to create typed patch object (shop/web; apps/v1, Kind=Deployment): errors:\n  .spec.replica: field not declared in schema\n  .spec.template.spec.containers[name="app"].imagePort: field not declared in schema';
    const e = kubeErrorFromResponse(500, status(500, '', message), {
      verb: 'dry-run apply',
      object: 'apps/Deployment shop/web',
    });
    expect(e).toMatchObject({ code: 'kube.invalid', disposition: 'stall' });
    expect(e.message).toContain('.spec.replica: field not declared in schema');
    expect(e.message).toContain('imagePort');
    // Any other 500 is still the apiserver's trouble.
    expect(
      kubeErrorFromResponse(500, status(500, '', 'etcdserver: request timed out'), { verb: 'apply' }),
    ).toMatchObject({ code: 'kube.unavailable', disposition: 'retry' });
  });

  it('404 for a missing namespace is distinguishable', () => {
    const e = kubeErrorFromResponse(
      404,
      status(404, 'NotFound', 'namespaces "nope" not found', { name: 'nope', kind: 'namespaces' }),
      {
        verb: 'apply',
      },
    );
    expect(e.code).toBe('kube.namespace-not-found');
    expect(
      kubeErrorFromResponse(404, status(404, 'NotFound', 'configmaps "x" not found'), { verb: 'get' }).code,
    ).toBe('kube.not-found');
  });

  it('5xx, 429 and network failures retry', () => {
    expect(kubeErrorFromResponse(503, 'service unavailable', { verb: 'apply' }).disposition).toBe('retry');
    expect(
      kubeErrorFromResponse(429, status(429, 'TooManyRequests', 'slow down'), { verb: 'apply' }).code,
    ).toBe('kube.unavailable');
    const net = kubeNetworkError(
      Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
      'https://x',
      { verb: 'get' },
    );
    expect(net).toMatchObject({ code: 'kube.unavailable', disposition: 'retry' });
  });
});
