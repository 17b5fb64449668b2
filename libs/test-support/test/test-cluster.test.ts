import { randomBytes } from 'node:crypto';
import {
  ApiextensionsV1Api,
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  KubernetesObjectApi,
  PatchStrategy,
  type V1ConfigMap,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServiceAccountKubeconfig, startTestClusters, type TestCluster } from '../src/test-cluster.ts';
import { waitFor } from '../src/wait.ts';

const rand = () => randomBytes(4).toString('hex');

const until = <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000) =>
  waitFor(what, probe, { timeoutMs, intervalMs: 200 });

function statusCode(err: unknown): number | undefined {
  return (err as { code?: number }).code;
}

// One file, four clusters shared by all tests: `dev` runs KWOK (pods become Ready), the
// other three are plain control planes, which is all the isolation test needs.
let dev: TestCluster;
let others: TestCluster[] = [];

beforeAll(async () => {
  const [d, o] = await Promise.all([
    startTestClusters(['dev'], { kwok: true }),
    startTestClusters(['test', 'uat', 'prod'], { kwok: false }),
  ]);
  dev = d[0] as TestCluster;
  others = o;
});

afterAll(async () => {
  await Promise.all([dev, ...others].filter(Boolean).map((c) => c.stop()));
});

describe('test cluster (real kube-apiserver)', () => {
  it('lists the built-in namespaces', async () => {
    const core = dev.kubeConfig.makeApiClient(CoreV1Api);
    const list = await core.listNamespace();
    const names = list.items.map((n) => n.metadata?.name);
    expect(names).toEqual(expect.arrayContaining(['default', 'kube-system', 'kube-public']));
  });

  it('serves a CRD once Established, and a custom resource of it', async () => {
    const group = `t${rand()}.flotilla.test`;
    const ext = dev.kubeConfig.makeApiClient(ApiextensionsV1Api);
    await ext.createCustomResourceDefinition({
      body: {
        metadata: { name: `widgets.${group}` },
        spec: {
          group,
          scope: 'Namespaced',
          names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
          versions: [
            {
              name: 'v1',
              served: true,
              storage: true,
              schema: {
                openAPIV3Schema: {
                  type: 'object',
                  properties: { spec: { type: 'object', properties: { size: { type: 'integer' } } } },
                },
              },
            },
          ],
        },
      },
    });
    await until('CRD Established', async () => {
      const crd = await ext.readCustomResourceDefinition({ name: `widgets.${group}` });
      return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')
        ? true
        : undefined;
    });
    const custom = dev.kubeConfig.makeApiClient(CustomObjectsApi);
    const name = `w-${rand()}`;
    // Discovery for a fresh group can lag Established by a moment.
    await until('custom resource created', () =>
      custom.createNamespacedCustomObject({
        group,
        version: 'v1',
        namespace: 'default',
        plural: 'widgets',
        body: { apiVersion: `${group}/v1`, kind: 'Widget', metadata: { name }, spec: { size: 3 } },
      }),
    );
    const got = (await custom.getNamespacedCustomObject({
      group,
      version: 'v1',
      namespace: 'default',
      plural: 'widgets',
      name,
    })) as { spec: { size: number } };
    expect(got.spec.size).toBe(3);
  });

  it('surfaces a server-side apply conflict between two field managers as 409', async () => {
    const objects = KubernetesObjectApi.makeApiClient(dev.kubeConfig);
    const name = `ssa-${rand()}`;
    const cm = (value: string): V1ConfigMap => ({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name, namespace: 'default' },
      data: { owner: value },
    });
    const applied = await objects.patch(
      cm('alpha'),
      undefined,
      undefined,
      'alpha',
      false,
      PatchStrategy.ServerSideApply,
    );
    expect(applied.metadata?.managedFields?.map((f) => f.manager)).toContain('alpha');

    const conflict = await objects
      .patch(cm('beta'), undefined, undefined, 'beta', false, PatchStrategy.ServerSideApply)
      .then(
        () => undefined,
        (err: unknown) => err,
      );
    expect(statusCode(conflict)).toBe(409);
    expect(String((conflict as { body?: unknown }).body)).toContain('conflict');

    const current = await dev.kubeConfig
      .makeApiClient(CoreV1Api)
      .readNamespacedConfigMap({ name, namespace: 'default' });
    expect(current.data?.owner).toBe('alpha');
  });

  it('rolls a Deployment out to Available with ready pods, then deletes its namespace completely', async () => {
    const core = dev.kubeConfig.makeApiClient(CoreV1Api);
    const apps = dev.kubeConfig.makeApiClient(AppsV1Api);
    const namespace = `deploy-${rand()}`;
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    await apps.createNamespacedDeployment({
      namespace,
      body: {
        metadata: { name: 'web' },
        spec: {
          replicas: 2,
          selector: { matchLabels: { app: 'web' } },
          template: {
            metadata: { labels: { app: 'web' } },
            spec: { containers: [{ name: 'web', image: 'registry.invalid/web:1' }] },
          },
        },
      },
    });
    const available = await until(
      'Deployment Available',
      async () => {
        const d = await apps.readNamespacedDeployment({ name: 'web', namespace });
        const ok = d.status?.conditions?.some((c) => c.type === 'Available' && c.status === 'True');
        return ok && d.status?.readyReplicas === 2 ? d : undefined;
      },
      90_000,
    );
    expect(available.status?.availableReplicas).toBe(2);
    const pods = await core.listNamespacedPod({ namespace, labelSelector: 'app=web' });
    expect(pods.items).toHaveLength(2);
    for (const pod of pods.items) {
      expect(pod.spec?.nodeName).toMatch(/^kwok-node-/);
      expect(pod.status?.phase).toBe('Running');
      expect(pod.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    }

    await core.deleteNamespace({ name: namespace });
    await until(
      'namespace gone',
      async () => {
        try {
          await core.readNamespace({ name: namespace });
          return undefined;
        } catch (err) {
          return statusCode(err) === 404 ? true : undefined;
        }
      },
      90_000,
    );
  });

  it('gives a ServiceAccount scoped to team-a a token that works there and is forbidden in kube-system', async () => {
    const sa = await createServiceAccountKubeconfig(dev, {
      namespace: 'team-a',
      name: `deployer-${rand()}`,
      roles: [
        { apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list', 'create', 'update', 'patch'] },
      ],
    });
    expect(sa.username).toMatch(/^system:serviceaccount:team-a:deployer-/);
    const core = sa.kubeConfig.makeApiClient(CoreV1Api);
    const created = await core.createNamespacedConfigMap({
      namespace: 'team-a',
      body: { metadata: { name: `cm-${rand()}` }, data: { a: '1' } },
    });
    expect(created.metadata?.namespace).toBe('team-a');

    const denied = await core
      .createNamespacedConfigMap({ namespace: 'kube-system', body: { metadata: { name: `cm-${rand()}` } } })
      .then(
        () => undefined,
        (err: unknown) => err,
      );
    expect(statusCode(denied)).toBe(403);
  });

  it('runs four clusters at once, each isolated from the others', async () => {
    const all = [dev, ...others];
    expect(all.map((c) => c.name)).toEqual(['dev', 'test', 'uat', 'prod']);
    expect(new Set(all.map((c) => c.server)).size).toBe(4);

    const marker = `iso-${rand()}`;
    await Promise.all(
      all.map((c) =>
        c.kubeConfig
          .makeApiClient(CoreV1Api)
          .createNamespace({ body: { metadata: { name: `${marker}-${c.name}` } } }),
      ),
    );
    for (const c of all) {
      const names = (await c.kubeConfig.makeApiClient(CoreV1Api).listNamespace()).items
        .map((n) => n.metadata?.name ?? '')
        .filter((n) => n.startsWith(marker));
      expect(names).toEqual([`${marker}-${c.name}`]);
    }

    // Separate CAs too: one cluster's admin kubeconfig pointed at another is refused.
    const [a, b] = all as [TestCluster, TestCluster];
    const crossed = new KubeConfig();
    crossed.loadFromFile(a.kubeconfigPath);
    crossed.clusters = crossed.clusters.map((c) => ({ ...c, server: b.server }));
    await expect(crossed.makeApiClient(CoreV1Api).listNamespace()).rejects.toThrow();
  });
});
