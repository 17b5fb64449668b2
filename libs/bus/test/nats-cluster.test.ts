import { rmSync } from 'node:fs';
import { PlanCreated, subjectFilter } from '@flotilla/events';
import { samples } from '@flotilla/events/samples';
import { type NatsCluster, rawNats, startNatsCluster, waitFor, waitUntil } from '@flotilla/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Bus, EVENT_STREAM } from '../src/index.ts';

// NATS as a distributed engine: three routed nats-server processes, `sync_interval: always`,
// the event stream at replicas 3. What matters is what was acknowledged to a publisher.
let cluster: NatsCluster;
let bus: Bus;

beforeAll(async () => {
  cluster = await startNatsCluster(3);
  bus = await waitFor(
    'JetStream meta leader',
    async () =>
      await Bus.connect({
        servers: cluster.urls,
        service: 'planner',
        instance: 'c',
        ensureStream: { replicas: 3 },
      }),
    { timeoutMs: 60_000, intervalMs: 500 },
  );
}, 120_000);

afterAll(async () => {
  await bus?.close();
  await cluster?.dispose();
});

/** Publishes until JetStream acknowledges (a leader election in between is retried; the id dedupes). */
async function publishWithRetry(cl: string, i: number): Promise<string> {
  return await waitFor(
    `${cl}-${i} acknowledged`,
    async () =>
      (
        await bus.publish(
          PlanCreated,
          { ...samples.PlanCreated, cluster: cl, sequence: i + 1 },
          { id: `${cl}-${i}` },
        )
      ).event.id,
    { timeoutMs: 60_000, intervalMs: 200 },
  );
}

async function readAll(cl: string, expected: number): Promise<Set<string>> {
  const reader = await Bus.connect({ servers: cluster.urls, service: 'audit-writer', instance: `r-${cl}` });
  const seen = new Set<string>();
  const sub = await reader.consume({
    durable: `read-${cl}`,
    filters: [subjectFilter(PlanCreated, cl)],
    concurrency: 16,
    handler: async (e) => {
      seen.add(e.id);
    },
  });
  await waitUntil(`${expected} ${cl} events read back (have ${seen.size})`, () => seen.size >= expected, {
    timeoutMs: 60_000,
    intervalMs: 200,
  });
  await sub.stop();
  await reader.close();
  return seen;
}

async function streamLeader(): Promise<string> {
  return await waitFor(
    'stream leader',
    async () => (await rawNats(bus).jsm.streams.info(EVENT_STREAM)).cluster?.leader || undefined,
    {
      timeoutMs: 30_000,
      intervalMs: 250,
    },
  );
}

describe('three-node JetStream cluster', () => {
  it('kill -9 of the stream leader while publishing loses no acknowledged event', async () => {
    const leader = await streamLeader();
    const victim = cluster.servers.find((s) => s.name === leader)!;
    const acked: string[] = [];
    for (let i = 0; i < 200; i++) {
      if (i === 80) await victim.kill();
      acked.push(await publishWithRetry('leaderkill', i));
    }
    await victim.restart();
    const seen = await readAll('leaderkill', acked.length);
    expect(acked.filter((id) => !seen.has(id))).toEqual([]);
  });

  it('kill -9 of all three nodes at once and restart loses no acknowledged event', async () => {
    const acked: string[] = [];
    for (let i = 0; i < 100; i++) acked.push(await publishWithRetry('allkill', i));
    await Promise.all(cluster.servers.map((s) => s.kill()));
    await Promise.all(cluster.servers.map((s) => s.restart()));
    await streamLeader();
    const seen = await readAll('allkill', acked.length);
    expect(acked.filter((id) => !seen.has(id))).toEqual([]);
  });

  it('a node whose data dir was removed while down catches up from the others', async () => {
    const node = cluster.servers[2]!;
    await node.kill();
    rmSync(node.storeDir, { recursive: true, force: true });
    for (let i = 0; i < 50; i++) await publishWithRetry('wiped', i);
    await node.restart();
    const info = await waitFor(
      'wiped replica to be current',
      async () => {
        const si = await rawNats(bus).jsm.streams.info(EVENT_STREAM);
        const all = [{ name: si.cluster?.leader, current: true, lag: 0 }, ...(si.cluster?.replicas ?? [])];
        const mine = all.find((r) => r.name === node.name);
        return mine?.current && (mine.lag ?? 0) === 0 && all.length === 3 ? si : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 500 },
    );
    expect(info.state.messages).toBeGreaterThanOrEqual(50);
    // The stream stays readable with the rebuilt replica in the quorum.
    const seen = await readAll('wiped', 50);
    expect(seen.size).toBe(50);
  });
});
