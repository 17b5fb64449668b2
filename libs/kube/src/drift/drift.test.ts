import { describe, expect, it } from 'vitest';
import { loadObject } from '../../test/load-object.ts';
import { computeDrift } from './compute-drift.ts';
import { fieldSetPaths, parsePathElement } from './fields-v1.ts';
import type { DriftEntry, DriftOptions } from './types.ts';

const FM = 'flotilla';

function scenario(name: string, options: Partial<DriftOptions> = {}): DriftEntry[] {
  const desired = loadObject(import.meta.url, `./fixtures/${name}/desired.yaml`);
  const live = loadObject(import.meta.url, `./fixtures/${name}/live.yaml`);
  return computeDrift(desired, live, { fieldManager: FM, ...options });
}

describe('computeDrift', () => {
  it('kubectl-edit-image: an image changed by kubectl edit is drift; defaults and normalised quantities are not', () => {
    expect(scenario('kubectl-edit-image')).toEqual([
      {
        path: '.spec.template.spec.containers[name=web].image',
        expected: 'registry.example.com/web:1.0.0',
        actual: 'registry.example.com/web:1.0.1-hotfix',
        manager: 'kubectl-edit',
      },
    ]);
  });

  it('hpa-replicas: replicas changed by an HPA are not drift when the manifest does not set them', () => {
    expect(scenario('hpa-replicas')).toEqual([]);
  });

  it('hpa-replicas-set-in-manifest: a manifest that sets replicas sees the HPA change as drift', () => {
    expect(scenario('hpa-replicas-set-in-manifest')).toEqual([
      { path: '.spec.replicas', expected: 2, actual: 5, manager: 'kube-controller-manager' },
    ]);
  });

  it('label-added-by-other: a label we do not set is not drift; Service defaults are not either', () => {
    expect(scenario('label-added-by-other')).toEqual([]);
  });

  it('label-removed: a label of ours deleted by someone is drift with no owner', () => {
    expect(scenario('label-removed')).toEqual([
      { path: '.metadata.labels.tier', expected: 'backend', actual: undefined },
    ]);
  });

  it('configmap-data-edit: a data key taken over by client-side apply is drift; added keys are not', () => {
    expect(scenario('configmap-data-edit')).toEqual([
      { path: '.data.LOG_LEVEL', expected: 'info', actual: 'debug', manager: 'kubectl-client-side-apply' },
    ]);
  });

  it('env-and-args-edit: keyed env items, atomic args and set-like finalizers; injected fields ignored', () => {
    expect(scenario('env-and-args-edit')).toEqual([
      {
        path: '.metadata.finalizers[=example.com/cleanup]',
        expected: 'example.com/cleanup',
        actual: undefined,
      },
      {
        path: '.spec.template.spec.containers[name=worker].args',
        expected: ['--queue=jobs', '--concurrency=4'],
        actual: ['--queue=jobs', '--concurrency=16'],
        manager: 'kubectl-edit',
      },
      {
        path: '.spec.template.spec.containers[name=worker].env[name=MODE].value',
        expected: 'batch',
        actual: 'interactive',
        manager: 'kubectl-set',
      },
    ]);
  });

  it('no-managed-fields: without ownership data every differing field we set is drift', () => {
    expect(scenario('no-managed-fields')).toEqual([{ path: '.data.B', expected: '2', actual: '3' }]);
  });

  it('ignoreManagers and ignorePaths accept changes', () => {
    expect(scenario('kubectl-edit-image', { ignoreManagers: ['kubectl-edit'] })).toEqual([]);
    expect(
      scenario('env-and-args-edit', { ignorePaths: ['.spec.template.spec.containers[name=worker]'] }),
    ).toEqual([expect.objectContaining({ path: '.metadata.finalizers[=example.com/cleanup]' })]);
    expect(scenario('hpa-replicas-set-in-manifest', { ignorePaths: ['.spec.replicas'] })).toEqual([]);
  });

  it('a differing field flotilla still owns (server normalisation, webhook on our own apply) is not drift', () => {
    const desired = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: { a: '1' } };
    const live = {
      ...desired,
      data: { a: '2' },
      metadata: {
        name: 'c',
        managedFields: [
          { manager: FM, operation: 'Apply', fieldsType: 'FieldsV1', fieldsV1: { 'f:data': { 'f:a': {} } } },
        ],
      },
    };
    expect(computeDrift(desired, live, { fieldManager: FM })).toEqual([]);
  });

  it('explicit managedFields override the live ones; identity and status are never compared', () => {
    const desired = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'c', namespace: 'a', resourceVersion: '1' },
      data: { a: '1' },
      status: { x: 1 },
    };
    const live = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'c', namespace: 'a', resourceVersion: '9' },
      data: { a: '2' },
    };
    expect(computeDrift(desired, live, { fieldManager: FM })).toEqual([
      { path: '.data.a', expected: '1', actual: '2' },
    ]);
    const managedFields = [{ manager: FM, operation: 'Apply', fieldsV1: { 'f:data': { 'f:a': {} } } }];
    expect(computeDrift(desired, live, { fieldManager: FM, managedFields })).toEqual([]);
  });
});

describe('fieldsV1', () => {
  it('parses path elements', () => {
    expect(parsePathElement('f:spec')).toEqual({ type: 'field', name: 'spec' });
    expect(parsePathElement('k:{"containerPort":80,"protocol":"TCP"}')).toEqual({
      type: 'key',
      fields: { containerPort: 80, protocol: 'TCP' },
    });
    expect(parsePathElement('v:"example.com/x"')).toEqual({ type: 'value', value: 'example.com/x' });
    expect(parsePathElement('i:3')).toEqual({ type: 'index', index: 3 });
    expect(parsePathElement('.')).toBeUndefined();
    expect(parsePathElement('k:{broken')).toBeUndefined();
    expect(parsePathElement('i:-1')).toBeUndefined();
  });

  it('lists owned paths in human form', () => {
    const live = loadObject(import.meta.url, './fixtures/kubectl-edit-image/live.yaml');
    const mf = (live.metadata.managedFields as { manager: string; fieldsV1: object }[]).find(
      (e) => e.manager === FM,
    )!;
    expect(fieldSetPaths(mf.fieldsV1 as never)).toEqual([
      '.metadata.annotations["flotilla.io/revision"]',
      '.metadata.labels.app',
      '.spec.replicas',
      '.spec.selector',
      '.spec.template.metadata.labels.app',
      '.spec.template.spec.containers[name=web]',
      '.spec.template.spec.containers[name=web].name',
      '.spec.template.spec.containers[name=web].ports[containerPort=8080,protocol=TCP]',
      '.spec.template.spec.containers[name=web].ports[containerPort=8080,protocol=TCP].containerPort',
      '.spec.template.spec.containers[name=web].resources.requests.cpu',
      '.spec.template.spec.containers[name=web].resources.requests.memory',
    ]);
  });
});
