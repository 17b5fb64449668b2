import { ApplyFailed, ApplySucceeded, HealthChanged } from '@flotilla/events';
import type { KubeObject } from '@flotilla/manifests';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cm, createHarness, deployment, type Harness, type LiveObject, ns, rand } from './harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await createHarness({ kwok: true });
});
afterAll(async () => {
  await h?.stop();
});

const rv = (o: LiveObject | undefined) => Number(o?.metadata?.resourceVersion);

describe('cluster-applier: apply, order, dry-run, prune, no-op, health', () => {
  it('applies a CRD, a CR of it, a namespace and a deployment, in order; deployment becomes Current', async () => {
    const cluster = `c-${rand()}`;
    const space = `app-${rand()}`;
    const group = `g${rand()}.example.com`;
    const crd: KubeObject = {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: `widgets.${group}` },
      spec: {
        group,
        scope: 'Namespaced',
        names: { kind: 'Widget', plural: 'widgets', singular: 'widget', listKind: 'WidgetList' },
        versions: [
          {
            name: 'v1',
            served: true,
            storage: true,
            schema: {
              openAPIV3Schema: {
                type: 'object',
                properties: { spec: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
              },
            },
          },
        ],
      },
    } as unknown as KubeObject;
    const widget: KubeObject = {
      apiVersion: `${group}/v1`,
      kind: 'Widget',
      metadata: { name: 'w1', namespace: space },
      spec: { size: 3 },
    };
    await h.start(cluster);
    const plan = await h.publishPlan(
      cluster,
      [crd, widget, ns(space), deployment(space, 'web', { replicas: 1 }), cm(space, 'settings')],
      {
        sequence: 1,
      },
    );
    const ok = await h.events.wait<{ planId: string; counts: { applied: number } }>(
      ApplySucceeded,
      (d) => d.planId === plan.planId,
    );
    expect(ok.data.counts.applied).toBe(5);
    const [liveCrd, liveNs, liveDep, liveCm] = await Promise.all([
      h.get('crd', `widgets.${group}`),
      h.get('namespace', space),
      h.get('deployment', 'web', space),
      h.get('configmap', 'settings', space),
    ]);
    const liveWidget = await h.get(`widgets.${group}`, 'w1', space);
    expect(liveWidget?.spec).toEqual({ size: 3 });
    // Stage order shows in etcd revisions: CRD and namespace before what lives in them.
    expect(rv(liveCrd)).toBeLessThan(rv(liveWidget));
    expect(rv(liveNs)).toBeLessThan(rv(liveCm));
    expect(rv(liveCm)).toBeLessThan(rv(liveDep));
    expect(liveDep?.metadata.labels['flotilla.io/inventory']).toMatch(/^flotilla-inventory-/);
    const healthy = await h.events.wait<{ planId: string; status: string }>(
      HealthChanged,
      (d) => d.planId === plan.planId && d.status === 'Current',
    );
    expect(healthy.data.status).toBe('Current');
  });

  it('one invalid object among 50: nothing is written and the event names it', async () => {
    const cluster = `c-${rand()}`;
    const space = `bad-${rand()}`;
    await h.kubectl('create', 'namespace', space);
    const objects = Array.from({ length: 49 }, (_, i) => cm(space, `cm-${i}`));
    objects.push(deployment(space, 'broken', { image: '', replicas: -1 }));
    await h.start(cluster);
    const plan = await h.publishPlan(cluster, objects, { sequence: 1 });
    const failed = await h.events.wait<{
      planId: string;
      nothingApplied: boolean;
      objects: { object: string; reason: string }[];
      code: string;
    }>(ApplyFailed, (d) => d.planId === plan.planId);
    expect(failed.data.code).toBe('apply.dry-run-failed');
    expect(failed.data.nothingApplied).toBe(true);
    expect(failed.data.objects.map((o) => o.object)).toEqual([`apps/Deployment ${space}/broken`]);
    expect(failed.data.objects[0]?.reason).toMatch(/replicas|image/);
    expect((await h.kubectl('get', 'configmaps', '-n', space, '-o', 'name')).trim()).toBe(
      'configmap/kube-root-ca.crt',
    );
  });

  it("carries the apiserver's warnings (a deprecated node selector) in ApplySucceeded, naming the object", async () => {
    const cluster = `c-${rand()}`;
    const space = `warn-${rand()}`;
    await h.kubectl('create', 'namespace', space);
    const old = deployment(space, 'legacy', { replicas: 0 }) as KubeObject & {
      spec: { template: { spec: Record<string, unknown> } };
    };
    old.spec.template.spec.nodeSelector = { 'beta.kubernetes.io/os': 'linux' };
    await h.start(cluster);
    const plan = await h.publishPlan(cluster, [old, cm(space, 'quiet')], { sequence: 1 });
    const done = await h.events.wait<{ planId: string; warnings?: { object: string; message: string }[] }>(
      ApplySucceeded,
      (d) => d.planId === plan.planId,
    );
    expect(done.data.warnings).toEqual([
      {
        object: `apps/Deployment ${space}/legacy`,
        message:
          'spec.template.spec.nodeSelector[beta.kubernetes.io/os]: deprecated since v1.14; use "kubernetes.io/os" instead',
      },
    ]);
  });

  it('a misspelt field is refused at dry-run as invalid, once, naming the field: not retried as an outage', async () => {
    const cluster = `c-${rand()}`;
    const space = `typo-${rand()}`;
    await h.kubectl('create', 'namespace', space);
    const typo = deployment(space, 'web') as KubeObject & { spec: Record<string, unknown> };
    // `replica` for `replicas`: server-side apply refuses it with a 500 ("failed to create typed
    // patch object … field not declared in schema"), which is no outage.
    typo.spec.replica = 3;
    await h.start(cluster);
    const plan = await h.publishPlan(cluster, [cm(space, 'settings'), typo], { sequence: 1 });
    const failed = await h.events.wait<{
      planId: string;
      code: string;
      disposition: string;
      nothingApplied: boolean;
      objects: { object: string; code: string; reason: string }[];
    }>(ApplyFailed, (d) => d.planId === plan.planId);
    expect(failed.data).toMatchObject({
      code: 'apply.dry-run-failed',
      disposition: 'stall',
      nothingApplied: true,
    });
    expect(failed.data.objects).toHaveLength(1);
    expect(failed.data.objects[0]).toMatchObject({
      object: `apps/Deployment ${space}/web`,
      code: 'kube.invalid',
    });
    expect(failed.data.objects[0]?.reason).toContain('.spec.replica: field not declared in schema');
    expect((await h.kubectl('get', 'configmaps', '-n', space, '-o', 'name')).trim()).toBe(
      'configmap/kube-root-ca.crt',
    );
  });

  it('a Secret the apiserver refuses: ApplyFailed keeps the field path and reason, never the quoted value (#15)', async () => {
    const cluster = `c-${rand()}`;
    const space = `leak-${rand()}`;
    await h.kubectl('create', 'namespace', space);
    // A data key the apiserver refuses; its refusal quotes the key (`Invalid value: "…"`), and a
    // key can carry a secret as well as a value can.
    const token = `s3cr3t ${rand()}!`;
    const secret: KubeObject = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'db', namespace: space },
      stringData: { [token]: 'hunter2' },
    } as unknown as KubeObject;
    await h.start(cluster);
    const plan = await h.publishPlan(cluster, [secret], { sequence: 1 });
    const failed = await h.events.wait<{
      planId: string;
      message: string;
      objects: { object: string; reason: string }[];
    }>(ApplyFailed, (d) => d.planId === plan.planId);
    expect(failed.data.objects.map((o) => o.object)).toEqual([`Secret ${space}/db`]);
    expect(failed.data.objects[0]?.reason).toMatch(/\[REDACTED\]: a valid config key must consist of/);
    expect(failed.data.message).toContain('[REDACTED]');
    expect(JSON.stringify(failed)).not.toContain(token.slice(0, 12));
  });

  it('prunes what left the bundle, keeps opted-out objects and never touches foreign ones; re-sending is a no-op', async () => {
    const cluster = `c-${rand()}`;
    const space = `prune-${rand()}`;
    const app = await h.start(cluster);
    const keep = cm(space, 'keep', { a: '1' }, { 'flotilla.io/prune': 'disabled' });
    const first = [ns(space), cm(space, 'stays'), cm(space, 'gone-1'), cm(space, 'gone-2'), keep];
    const p1 = await h.publishPlan(cluster, first, { sequence: 1 });
    await h.events.wait(ApplySucceeded, (d: { planId: string }) => d.planId === p1.planId);
    await h.kubectl('create', 'configmap', 'foreign', '-n', space, '--from-literal=x=y');

    const p2 = await h.publishPlan(cluster, [ns(space), cm(space, 'stays')], { sequence: 2 });
    const ok = await h.events.wait<{
      planId: string;
      counts: { pruned: number; unchanged: number; applied: number };
    }>(ApplySucceeded, (d) => d.planId === p2.planId);
    expect(ok.data.counts).toMatchObject({ pruned: 2, unchanged: 2, applied: 0 });
    const names = (await h.kubectl('get', 'configmaps', '-n', space, '-o', 'name')).trim().split('\n').sort();
    expect(names).toEqual([
      'configmap/foreign',
      'configmap/keep',
      'configmap/kube-root-ca.crt',
      'configmap/stays',
    ]);
    const entries = Object.keys(await app.applier.inventoryEntries()).sort();
    expect(entries).toEqual([`_ConfigMap_${space}_stays`, `_Namespace__${space}`]);

    // Same content again under a new plan: fast no-op, nothing sent.
    const before = app.client.http.requests.total;
    const p3 = await h.publishPlan(cluster, [ns(space), cm(space, 'stays')], { sequence: 3 });
    const noop = await h.events.wait<{ planId: string; noop: boolean }>(
      ApplySucceeded,
      (d) => d.planId === p3.planId,
    );
    expect(noop.data.noop).toBe(true);
    expect(app.client.http.requests.total - before).toBeLessThanOrEqual(6);
  });

  it('a Deployment whose pods can never start turns health Failed within the timeout', async () => {
    const cluster = `c-${rand()}`;
    const space = `stuck-${rand()}`;
    await h.start(cluster, { health: { timeoutMs: 60_000, pollMs: 300 } });
    const stuck = deployment(space, 'stuck', { replicas: 1 });
    const spec = stuck.spec as {
      progressDeadlineSeconds: number;
      template: { spec: Record<string, unknown> };
    };
    // No scheduler serves this name: the pod stays Pending and the rollout misses its deadline.
    spec.progressDeadlineSeconds = 2;
    spec.template.spec.schedulerName = 'no-such-scheduler';
    const plan = await h.publishPlan(cluster, [ns(space), stuck], { sequence: 1 });
    const failed = await h.events.wait<{
      planId: string;
      status: string;
      objects: { object: string; message: string }[];
    }>(HealthChanged, (d) => d.planId === plan.planId && d.status === 'Failed', 60_000);
    expect(failed.data.objects[0]?.object).toBe(`apps/Deployment ${space}/stuck`);
    expect(failed.data.objects[0]?.message).toMatch(/ProgressDeadlineExceeded|deadline/i);
  });
});
