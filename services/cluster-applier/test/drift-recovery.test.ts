import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EVENT_STREAM } from '@flotilla/bus';
import { ApplyFailed, ApplySucceeded, DriftCorrected, DriftDetected, subjectFilter } from '@flotilla/events';
import { CORE_RESOURCES, KubeClient } from '@flotilla/kube';
import type { KubeObject } from '@flotilla/manifests';
import { killGroup, programArgs, rawNats, spawnTracked, waitFor } from '@flotilla/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applierIdentity } from '../src/nats-resources.ts';
import { cm, createHarness, deployment, type Harness, type LiveObject, ns, rand } from './harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await createHarness({ kwok: false });
});
afterAll(async () => {
  await h?.stop();
});

interface Drift {
  object: string;
  diffs: { path: string; expected?: unknown; actual?: unknown; manager?: string }[];
}
const image = (d: LiveObject | undefined) => d?.spec.template.spec.containers[0].image;

describe('cluster-applier: drift, conflicts, immutable fields, crash recovery', () => {
  it('kubectl changing a managed field is drift and is corrected; an HPA-like manager changing replicas is not', async () => {
    const cluster = `c-${rand()}`;
    const space = `drift-${rand()}`;
    const app = await h.start(cluster, { drift: { policy: 'correct', intervalMs: 1000 } });
    const plan = await h.publishPlan(
      cluster,
      [ns(space), deployment(space, 'web', { image: 'registry.local/app:1.0' })],
      {
        sequence: 1,
      },
    );
    await h.events.wait(ApplySucceeded, (d: { planId: string }) => d.planId === plan.planId);

    // An autoscaler owns replicas (absent from the manifest): not drift.
    await h.kubectl(
      'patch',
      'deployment',
      'web',
      '-n',
      space,
      '--type=merge',
      '-p',
      '{"spec":{"replicas":4}}',
      '--field-manager=hpa-controller',
    );
    const quiet = await app.applier.checkDrift();
    expect(quiet.drifted).toEqual([]);
    expect((await h.get('deployment', 'web', space))?.spec.replicas).toBe(4);

    // Someone hand-edits the image Git sets.
    await h.kubectl('set', 'image', `deployment/web`, '-n', space, 'app=registry.local/app:hacked');
    const detected = await h.events.wait<Drift>(
      DriftDetected,
      (d) => d.object === `apps/Deployment ${space}/web`,
      30_000,
    );
    expect(detected.data.diffs).toContainEqual({
      path: '.spec.template.spec.containers[name=app].image',
      expected: 'registry.local/app:1.0',
      actual: 'registry.local/app:hacked',
      manager: 'kubectl-set',
    });
    await h.events.wait(
      DriftCorrected,
      (d: { object: string }) => d.object === `apps/Deployment ${space}/web`,
      30_000,
    );
    const live = await h.get('deployment', 'web', space);
    expect(image(live)).toBe('registry.local/app:1.0');
    expect(live?.spec.replicas).toBe(4);
  });

  it('conflict policy fail: a field another manager owns fails the plan and names the manager', async () => {
    const cluster = `c-${rand()}`;
    const space = `conflict-${rand()}`;
    await h.kubectl('create', 'namespace', space);
    const other = join(h.cluster.dataDir, `other-${rand()}.json`);
    writeFileSync(other, JSON.stringify(cm(space, 'shared', { mode: 'theirs' })));
    await h.kubectl('apply', '--server-side', '--field-manager=team-b', '-f', other);
    await h.start(cluster, { conflictPolicy: 'fail' });
    const plan = await h.publishPlan(cluster, [cm(space, 'shared', { mode: 'ours' })], { sequence: 1 });
    const failed = await h.events.wait<{
      planId: string;
      nothingApplied: boolean;
      objects: { code?: string; reason: string }[];
    }>(ApplyFailed, (d) => d.planId === plan.planId);
    expect(failed.data.nothingApplied).toBe(true);
    expect(failed.data.objects[0]?.code).toBe('kube.field-conflict');
    expect(failed.data.objects[0]?.reason).toMatch(/\.data\.mode.*team-b/);
    expect((await h.get('configmap', 'shared', space))?.data.mode).toBe('theirs');
  });

  it('an immutable field change fails under policy fail and is recreated under policy recreate', async () => {
    const space = `immutable-${rand()}`;
    const frozen = (v: string): KubeObject => ({ ...cm(space, 'frozen', { v }), immutable: true });
    const failing = `c-${rand()}`;
    await h.start(failing, { immutablePolicy: 'fail' });
    const p1 = await h.publishPlan(failing, [ns(space), frozen('1')], { sequence: 1 });
    await h.events.wait(ApplySucceeded, (d: { planId: string }) => d.planId === p1.planId);
    const p2 = await h.publishPlan(failing, [ns(space), frozen('2')], { sequence: 2 });
    const failed = await h.events.wait<{ planId: string; objects: { code?: string }[] }>(
      ApplyFailed,
      (d) => d.planId === p2.planId,
    );
    expect(failed.data.objects[0]?.code).toBe('kube.immutable');
    expect((await h.get('configmap', 'frozen', space))?.data.v).toBe('1');

    const space2 = `immutable-${rand()}`;
    const frozen2 = (v: string): KubeObject => ({ ...cm(space2, 'frozen', { v }), immutable: true });
    const recreating = `c-${rand()}`;
    await h.start(recreating, { immutablePolicy: 'recreate' });
    const r1 = await h.publishPlan(recreating, [ns(space2), frozen2('1')], { sequence: 1 });
    await h.events.wait(ApplySucceeded, (d: { planId: string }) => d.planId === r1.planId);
    const r2 = await h.publishPlan(recreating, [ns(space2), frozen2('2')], { sequence: 2 });
    await h.events.wait(ApplySucceeded, (d: { planId: string }) => d.planId === r2.planId);
    expect((await h.get('configmap', 'frozen', space2))?.data.v).toBe('2');
  });

  it('an applier killed mid-apply: the next one finishes the plan, state converges, one outcome', async () => {
    const cluster = `c-${rand()}`;
    const space = `crash-${rand()}`;
    const keyFile = join(h.cluster.dataDir, `trusted-${rand()}.pem`);
    writeFileSync(keyFile, h.publicPem);
    const env = {
      ...process.env,
      FLOTILLA_CLUSTER: cluster,
      FLOTILLA_INSTANCE: `proc-${rand()}`,
      FLOTILLA_NATS_SERVERS: h.nats.url,
      FLOTILLA_HTTP_PORT: '0',
      FLOTILLA_KUBE_KUBECONFIG: h.cluster.kubeconfigPath,
      FLOTILLA_KUBE_PARALLELISM: '1',
      FLOTILLA_TRUSTED_KEYS: `planner-test=${keyFile}`,
      FLOTILLA_LEASE_DURATION_SECONDS: '3',
      FLOTILLA_CONSUMER_ACK_WAIT_MS: '4000',
      FLOTILLA_DRIFT_INTERVAL_MS: '0',
      FLOTILLA_HEALTH_TIMEOUT_MS: '20000',
    };
    const first = spawnTracked(process.execPath, programArgs('cluster-applier'), {
      env,
      logFile: join(h.cluster.dataDir, 'applier-1.log'),
    });
    const objects = [ns(space), ...Array.from({ length: 200 }, (_, i) => cm(space, `cm-${i}`))];
    const plan = await h.publishPlan(cluster, objects, { sequence: 1 });
    // Kill it once part of the bundle is in the cluster. Tied to observed progress, polled with a
    // direct LIST (milliseconds; a kubectl process per poll took long enough under load for the
    // applier to write all 200 in between).
    const watcher = await KubeClient.connect({ kubeconfigPath: h.cluster.kubeconfigPath, inCluster: false });
    try {
      await waitFor(
        'part of the bundle in the cluster',
        async () => {
          const names = await watcher
            .list(CORE_RESOURCES.configMap, { namespace: space, metadataOnly: true })
            .catch(() => []);
          return names.filter((o) => o.metadata.name.startsWith('cm-')).length >= 10 ? true : undefined;
        },
        { timeoutMs: 120_000, intervalMs: 20 },
      );
      killGroup(first.child, 'SIGKILL');
    } finally {
      await watcher.close();
    }
    await first.exited;
    const partial = (await h.kubectl('get', 'configmaps', '-n', space, '-o', 'name'))
      .split('\n')
      .filter((l) => l.startsWith('configmap/cm-'));
    expect(partial.length).toBeLessThan(200);
    expect(h.events.of(ApplySucceeded, (d: { planId: string }) => d.planId === plan.planId)).toHaveLength(0);

    const second = await h.start(cluster, {
      kube: { kubeconfig: h.cluster.kubeconfigPath, inCluster: false, parallelism: 8, timeoutMs: 30_000 },
      lease: { durationSeconds: 3 },
      consumer: { ackWaitMs: 4000 },
    });
    await h.events.wait(ApplySucceeded, (d: { planId: string }) => d.planId === plan.planId, 90_000);
    const all = (await h.kubectl('get', 'configmaps', '-n', space, '-o', 'name'))
      .split('\n')
      .filter((l) => l.startsWith('configmap/cm-'));
    expect(all).toHaveLength(200);
    expect(Object.keys(await second.applier.inventoryEntries())).toHaveLength(201);
    // One outcome. Once the applier's consumer has nothing pending and nothing awaiting an ack, no
    // redelivery of the plan can follow; the stream itself then holds every ApplySucceeded.
    await waitFor(
      "the applier's consumer drained",
      async () => {
        const c = await rawNats(h.planner).jsm.consumers.info(EVENT_STREAM, applierIdentity(cluster));
        return c.num_pending === 0 && c.num_ack_pending === 0 ? true : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    const outcomes: string[] = [];
    for await (const r of h.planner.replay(subjectFilter(ApplySucceeded, cluster)))
      if ((r.event.data as { planId: string }).planId === plan.planId) outcomes.push(r.event.id);
    expect(outcomes).toHaveLength(1);
  });
});
