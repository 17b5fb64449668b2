import { readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { EVENT_STREAM } from '@flotilla/bus';
import { ApplyFailed, ApplySucceeded } from '@flotilla/events';
import { freePort, rawNats, waitFor } from '@flotilla/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applierConsumer } from '../src/nats-resources.ts';
import { cm, createHarness, type Harness, ns, rand } from './harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await createHarness({ kwok: false });
});
afterAll(async () => {
  await h?.stop();
});

interface Failed {
  planId: string;
  code: string;
  nothingApplied: boolean;
  objects: { object: string; code?: string; reason: string }[];
}

describe('cluster-applier: bad input in a signed plan', () => {
  it('a kind the cluster does not serve (and no CRD in the bundle defines) fails the plan; nothing is written', async () => {
    const cluster = `c-${rand()}`;
    const space = `s-${rand()}`;
    await h.start(cluster);
    const widget = {
      apiVersion: 'example.com/v1',
      kind: 'Widget',
      metadata: { name: 'w', namespace: space },
      spec: { size: 3 },
    };
    const plan = await h.publishPlan(cluster, [ns(space), cm(space, 'kept-out'), widget], { sequence: 1 });
    const failed = await h.events.wait<Failed>(ApplyFailed, (d) => d.planId === plan.planId);
    expect(failed.data).toMatchObject({ code: 'bundle.unknown-kind', nothingApplied: true });
    expect(failed.data.objects).toHaveLength(1);
    expect(failed.data.objects[0]).toMatchObject({ code: 'kube.unknown-kind' });
    expect(failed.data.objects[0]?.object).toContain(`${space}/w`);
    expect(failed.data.objects[0]?.reason).toMatch(/not served by the cluster and no CRD in this bundle/);
    expect(await h.get('namespace', space)).toBeUndefined();
  });
});

/** A TCP relay in front of the real apiserver, so the test can make it unreachable and bring it back. */
async function relay(target: URL, port: number) {
  let server: Server | undefined;
  const sockets = new Set<Socket>();
  return {
    async up() {
      server = createServer((client) => {
        const upstream = connect(Number(target.port), target.hostname);
        for (const s of [client, upstream]) {
          sockets.add(s);
          s.on('close', () => sockets.delete(s));
          s.on('error', () => s.destroy());
        }
        client.pipe(upstream).pipe(client);
      });
      await new Promise<void>((r) => server!.listen(port, '127.0.0.1', r));
    },
    async down() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server?.close(r));
    },
  };
}

describe('cluster-applier: apiserver unavailable', () => {
  it('a plan arriving while the apiserver is unreachable fails with retry, nothing applied, then applies once it is back', async () => {
    const cluster = `c-${rand()}`;
    const space = `s-${rand()}`;
    const port = await freePort();
    const target = new URL(h.cluster.server);
    const proxy = await relay(target, port);
    const kubeconfig = join(h.cluster.dataDir, `relay-${rand()}.kubeconfig`);
    writeFileSync(
      kubeconfig,
      readFileSync(h.cluster.kubeconfigPath, 'utf8').replaceAll(target.host, `127.0.0.1:${port}`),
    );
    await proxy.up();
    try {
      const applier = await h.start(cluster, {}, kubeconfig);
      await proxy.down();
      const plan = await h.publishPlan(cluster, [ns(space), cm(space, 'after-outage')], { sequence: 1 });
      const failed = await h.events.wait<Failed & { disposition: string }>(
        ApplyFailed,
        (d) => d.planId === plan.planId,
      );
      expect(failed.data).toMatchObject({
        code: 'kube.unavailable',
        disposition: 'retry',
        nothingApplied: true,
      });
      // The applier holds the plan and watches /readyz instead of handing it to the consumer's
      // backoff: it is applied on the first probe that answers, within the same delivery.
      await waitFor('the applier to wait out the outage', async () =>
        applier.outagesWaited >= 1 ? true : undefined,
      );
      await proxy.up();
      await h.events.wait(ApplySucceeded, (d: { planId: string }) => d.planId === plan.planId, 90_000);
      expect(await h.get('configmap', 'after-outage', space)).toBeDefined();
      expect(h.events.of<Failed>(ApplyFailed, (d) => d.planId === plan.planId)).toHaveLength(1);
      const consumer = await rawNats(applier.bus).jsm.consumers.info(
        EVENT_STREAM,
        applierConsumer(cluster).durable,
      );
      expect(consumer.num_redelivered).toBe(0);
    } finally {
      await proxy.down();
    }
  });
});
