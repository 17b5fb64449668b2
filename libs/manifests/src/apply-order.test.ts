import { describe, expect, it } from 'vitest';
import { fixture } from '../test/fixture.ts';
import { applyStages, pruneOrder, sortForApply, stageOf } from './apply-order.ts';
import { formatRef, refOf } from './object-ref.ts';
import { parseManifests } from './parse.ts';

describe('apply ordering', () => {
  const objects = parseManifests(fixture('app-valid.yaml')).objects.map((p) => p.object);

  it('groups objects into stages in dependency order with Flux kind order inside', () => {
    const stages = applyStages(objects);
    expect(stages.map((s) => [s.name, s.objects.map((o) => formatRef(refOf(o)))])).toEqual([
      ['crds', ['apiextensions.k8s.io/CustomResourceDefinition widgets.example.com']],
      ['namespaces', ['Namespace team-a']],
      [
        'rbac',
        [
          'ServiceAccount team-a/web',
          'rbac.authorization.k8s.io/Role team-a/system:web-reader',
          'rbac.authorization.k8s.io/RoleBinding team-a/web',
        ],
      ],
      ['config', ['ConfigMap team-a/web-config', 'Secret team-a/web-secret']],
      ['resources', ['Service team-a/web', 'apps/Deployment team-a/web', 'example.com/Widget team-a/blue']],
      ['admission', ['admissionregistration.k8s.io/ValidatingWebhookConfiguration widgets.example.com']],
    ]);
  });

  it('is independent of input order', () => {
    const reversed = applyStages([...objects].reverse());
    expect(reversed).toEqual(applyStages(objects));
  });

  it('assigns classes, cluster RBAC and admission kinds to their stages', () => {
    expect(stageOf({ group: 'storage.k8s.io', kind: 'StorageClass' })).toBe('config');
    expect(stageOf({ group: 'scheduling.k8s.io', kind: 'PriorityClass' })).toBe('config');
    expect(stageOf({ group: 'gateway.networking.k8s.io', kind: 'GatewayClass' })).toBe('config');
    expect(stageOf({ group: 'rbac.authorization.k8s.io', kind: 'ClusterRoleBinding' })).toBe('rbac');
    expect(stageOf({ group: '', kind: 'LimitRange' })).toBe('config');
    expect(stageOf({ group: 'admissionregistration.k8s.io', kind: 'MutatingWebhookConfiguration' })).toBe(
      'admission',
    );
    expect(stageOf({ group: 'example.com', kind: 'Role' })).toBe('resources');
  });

  it('orders cluster RBAC like Flux and puts webhooks after admission policies', () => {
    const refs = [
      { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'RoleBinding', namespace: 'a', name: 'x' },
      { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'ClusterRoleBinding', name: 'x' },
      { group: '', version: 'v1', kind: 'ServiceAccount', namespace: 'a', name: 'x' },
      { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'ClusterRole', name: 'x' },
      {
        group: 'admissionregistration.k8s.io',
        version: 'v1',
        kind: 'MutatingWebhookConfiguration',
        name: 'm',
      },
      { group: 'admissionregistration.k8s.io', version: 'v1', kind: 'ValidatingAdmissionPolicy', name: 'p' },
    ];
    expect(sortForApply(refs).map((r) => r.kind)).toEqual([
      'ClusterRole',
      'ClusterRoleBinding',
      'ServiceAccount',
      'RoleBinding',
      'ValidatingAdmissionPolicy',
      'MutatingWebhookConfiguration',
    ]);
  });

  it('prunes in exact reverse apply order', () => {
    const refs = objects.map(refOf);
    const applyOrder = applyStages(objects).flatMap((s) => s.objects.map(refOf));
    expect(pruneOrder(refs)).toEqual([...applyOrder].reverse());
    expect(pruneOrder(refs)[0]?.kind).toBe('ValidatingWebhookConfiguration');
    expect(pruneOrder(refs).at(-1)?.kind).toBe('CustomResourceDefinition');
  });
});
