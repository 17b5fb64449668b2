import { ApplyFailed, ApplyStarted, ApplySucceeded, HealthChanged } from '@flotilla/events';
import { createServiceAccountKubeconfig } from '@flotilla/test-support';
import type { PlanData } from '@flotilla/trust';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cm, createHarness, type Harness, ns, rand } from './harness.ts';

// Many pipelines on one cluster: one inventory each, prune only within it, no taking another's
// objects, and a tenant's pipeline writes only where the tenant's ServiceAccount may.
let h: Harness;
beforeAll(async () => {
  h = await createHarness({ kwok: false });
});
afterAll(async () => {
  await h?.stop();
});

interface Failed {
  planId: string;
  pipeline?: string;
  code: string;
  nothingApplied: boolean;
  objects: { object: string; code?: string; reason: string }[];
}
type Id = { planId: string; pipeline?: string };
type Succeeded = Id & { noop: boolean; counts: { applied: number; unchanged: number } };

describe('cluster-applier: pipelines sharing a cluster', () => {
  it('keeps an inventory per pipeline, refuses an object another pipeline owns, prunes only its own', async () => {
    const cluster = `c-${rand()}`;
    const space = `s-${rand()}`;
    await h.start(cluster);
    const shop1 = await h.publishPlan(cluster, [ns(space), cm(space, 'shared')], {
      sequence: 1,
      pipeline: 'shop',
    });
    await h.events.wait<Id>(ApplySucceeded, (d) => d.planId === shop1.planId && d.pipeline === 'shop');
    const shared = await h.get('configmap', 'shared', space);
    expect(shared?.metadata.labels).toMatchObject({
      'flotilla.io/inventory': `flotilla-inventory-${cluster}.shop`,
      'flotilla.io/pipeline': 'shop',
    });

    // payments starts at sequence 1 too (its own), and may not take shop's ConfigMap.
    const pay1 = await h.publishPlan(cluster, [cm(space, 'pay'), cm(space, 'shared')], {
      sequence: 1,
      pipeline: 'payments',
    });
    const refused = await h.events.wait<Failed>(ApplyFailed, (d) => d.planId === pay1.planId);
    expect(refused.data).toMatchObject({
      pipeline: 'payments',
      code: 'apply.owned-elsewhere',
      nothingApplied: true,
    });
    expect(refused.data.objects).toEqual([
      {
        object: `ConfigMap ${space}/shared`,
        code: 'apply.owned-elsewhere',
        reason: `already managed by pipeline "shop" (inventory flotilla-inventory-${cluster}.shop); this plan is pipeline "payments" (inventory flotilla-inventory-${cluster}.payments)`,
      },
    ]);
    expect(await h.get('configmap', 'pay', space)).toBeUndefined();

    const pay2 = await h.publishPlan(cluster, [cm(space, 'pay')], { sequence: 2, pipeline: 'payments' });
    await h.events.wait<Id>(ApplySucceeded, (d) => d.planId === pay2.planId);
    // shop drops its ConfigMap: pruned; payments' object in the same namespace stays.
    const shop2 = await h.publishPlan(cluster, [ns(space)], { sequence: 2, pipeline: 'shop' });
    await h.events.wait<Id>(ApplySucceeded, (d) => d.planId === shop2.planId);
    expect(await h.get('configmap', 'shared', space)).toBeUndefined();
    expect(await h.get('configmap', 'pay', space)).toBeDefined();
  });

  it("applies a tenant's plan as the tenant: another tenant's namespace is a per-object 403, nothing written", async () => {
    const cluster = `c-${rand()}`;
    const a = `tenant-a-${rand()}`;
    const b = `tenant-b-${rand()}`;
    // Each tenant's ServiceAccount may do anything in its own namespace, nothing elsewhere. The
    // applier itself (cluster admin here) only lends them its connection.
    for (const namespace of [a, b])
      await createServiceAccountKubeconfig(h.cluster, {
        namespace,
        name: 'deployer',
        roles: [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }],
      });
    await h.start(cluster);
    const tenant = (namespace: string) => ({ namespace, serviceAccount: 'deployer' });

    const intrusion = await h.publishPlan(cluster, [cm(a, 'mine'), cm(b, `not-mine-${rand()}`)], {
      sequence: 1,
      pipeline: 'team-a',
      tenant: tenant(a),
    });
    const failed = await h.events.wait<Failed>(ApplyFailed, (d) => d.planId === intrusion.planId);
    expect(failed.data).toMatchObject({ code: 'apply.forbidden', nothingApplied: true, pipeline: 'team-a' });
    expect(failed.data.objects).toHaveLength(1);
    expect(failed.data.objects[0]?.object).toMatch(new RegExp(`^ConfigMap ${b}/not-mine-`));
    expect(failed.data.objects[0]?.reason).toContain(`system:serviceaccount:${a}:deployer`);
    expect(await h.get('configmap', 'mine', a)).toBeUndefined();

    const okA = await h.publishPlan(cluster, [cm(a, 'mine')], {
      sequence: 2,
      pipeline: 'team-a',
      tenant: tenant(a),
    });
    const okB = await h.publishPlan(cluster, [cm(b, 'theirs')], {
      sequence: 1,
      pipeline: 'team-b',
      tenant: tenant(b),
    });
    for (const p of [okA, okB]) await h.events.wait<Id>(ApplySucceeded, (d) => d.planId === p.planId);
    expect(await h.get('configmap', 'mine', a)).toBeDefined();
    expect(await h.get('configmap', 'theirs', b)).toBeDefined();
    // The managed fields name the applier's field manager; the writes were the tenant's.
    const mine = await h.get('configmap', 'mine', a);
    expect(mine?.metadata.labels['flotilla.io/pipeline']).toBe('team-a');
  });

  it('resyncs many pipelines as no-ops through shared LISTs, and still sees a change, a live edit and a replay', async () => {
    const cluster = `c-${rand()}`;
    const app = await h.start(cluster, { pipelineConcurrency: 8 });
    const names = Array.from({ length: 6 }, (_, i) => `team${i}-${rand()}`);
    const objects = (n: string, value = '1') => [ns(n), cm(n, 'a', { v: value }), cm(n, 'b', { v: value })];
    const publishAll = async (sequence: number, value = (_: string) => '1') =>
      await Promise.all(
        names.map((n) => h.publishPlan(cluster, objects(n, value(n)), { sequence, pipeline: n })),
      );
    const succeeded = async (plans: Id[]) =>
      await Promise.all(
        plans.map(
          async (p) => (await h.events.wait<Succeeded>(ApplySucceeded, (d) => d.planId === p.planId)).data,
        ),
      );
    const first = await publishAll(1);
    await succeeded(first);
    // Their health waits over too (they read on their own), so only the resync's reads count below.
    for (const p of first)
      await h.events.wait(
        HealthChanged,
        (d: { planId: string; status: string }) => d.planId === p.planId && d.status === 'Current',
      );

    // Same objects, new plans: no-ops, read through LISTs shared between pipelines, no inventory
    // written (each plan directly follows the recorded one), and health reported for the new bundle.
    // Their signed content digest is that of the objects each applier holds: no bundle is read.
    const before = { ...app.appliers.shared.stats, ...app.appliers.totals() };
    const resync = await publishAll(2);
    const done = await succeeded(resync);
    expect(done.every((d) => d.noop && d.counts.applied === 0 && d.counts.unchanged === 3)).toBe(true);
    const after = { ...app.appliers.shared.stats, ...app.appliers.totals() };
    // Each pipeline read its ConfigMaps and its Namespace once: the Namespace's health (reported
    // for the new bundle) came with the read that found it unchanged.
    expect(after.reads - before.reads).toBe(names.length * 2);
    expect(after.lists - before.lists).toBeLessThan(after.reads - before.reads);
    expect(after.inventoryWrites - before.inventoryWrites).toBe(0);
    expect(after.bundleReads - before.bundleReads).toBe(0);
    for (const p of resync) {
      await h.events.wait(HealthChanged, (d: { planId: string }) => d.planId === p.planId);
      expect(h.events.of(ApplyStarted, (d: { planId: string }) => d.planId === p.planId)).toHaveLength(0);
    }

    // A live edit since (kubectl, another field manager) moves the live marker: the next plan
    // of that pipeline re-applies the edited object even though Git did not change.
    const edited = names[0] as string;
    await h.kubectl('-n', edited, 'patch', 'configmap', 'a', '--type=merge', '-p', '{"data":{"v":"hand"}}');
    // One pipeline changes for real; the others are no-ops again, still unrecorded: the plan
    // between (2) was answered the same way. Only the changed one reads its bundle: the edited
    // one is found by its live marker alone. Only those two write their inventories (applying,
    // then applied).
    const third = await publishAll(3, (n) => (n === names[1] ? '2' : '1'));
    const byPipeline = new Map((await succeeded(third)).map((d) => [d.pipeline, d]));
    expect(app.appliers.totals().bundleReads - after.bundleReads).toBe(1);
    expect(app.appliers.totals().inventoryWrites - after.inventoryWrites).toBe(4);
    expect(byPipeline.get(edited)?.counts.applied).toBe(1);
    expect((await h.get('configmap', 'a', edited))?.data).toEqual({ v: '1' });
    expect(byPipeline.get(names[1])?.counts.applied).toBe(2);
    expect((await h.get('configmap', 'b', names[1]))?.data).toEqual({ v: '2' });
    expect(byPipeline.get(names[2])).toMatchObject({ noop: true });

    // The skipped no-op of sequence 2 is refused as a replay once sequence 3 is recorded.
    const replayed = resync[1] as PlanData;
    await h.publishStaged(replayed);
    const refused = await h.events.wait<Failed>(
      ApplyFailed,
      (d) => d.planId === replayed.planId && d.code === 'plan.replayed',
    );
    expect(refused.data.nothingApplied).toBe(true);
    expect((await h.get('configmap', 'b', names[1]))?.data).toEqual({ v: '2' });
  });
});
