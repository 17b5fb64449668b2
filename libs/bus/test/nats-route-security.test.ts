import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import {
  createTestCa,
  freePort,
  type NatsCluster,
  type NatsServer,
  type RouteSecurity,
  rawNats,
  startNats,
  startNatsCluster,
  type TestCa,
  waitFor,
} from '@flotilla/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Bus, EVENT_STREAM } from '../src/index.ts';

// Routes between NATS nodes cross the network too: the three-node cluster demands mutual TLS
// (certificates from the install's CA) and route credentials on every route. A node that lacks
// either never joins, and the cluster it tried to join carries on with its own members only.
let ca: TestCa;
let otherCa: TestCa;
let cluster: NatsCluster;
let security: Required<RouteSecurity>;
const rogues: NatsServer[] = [];
const buses: Bus[] = [];

interface Routez {
  routes?: Array<{ remote_name?: string }>;
}

/** Names of the nodes a server holds routes to (route pooling opens several per peer). */
async function peers(server: NatsServer): Promise<string[]> {
  const body = (await (await fetch(`${server.monitorUrl}/routez`)).json()) as Routez;
  return [...new Set((body.routes ?? []).map((r) => r.remote_name ?? '?'))].sort();
}

beforeAll(async () => {
  [ca, otherCa] = await Promise.all([createTestCa('flotilla-routes'), createTestCa('impostor')]);
  const peer = await ca.issue('nats-route', 'peer');
  security = {
    tls: { ...peer, caFile: ca.caFile },
    auth: { user: 'route', password: randomBytes(16).toString('hex') },
  };
  cluster = await startNatsCluster(3, { routes: security });
}, 120_000);

afterAll(async () => {
  for (const b of buses) await b.close().catch(() => undefined);
  await Promise.all(rogues.map((r) => r.dispose()));
  await cluster?.dispose();
  for (const c of [ca, otherCa]) if (c) rmSync(c.dir, { recursive: true, force: true });
});

/** A fourth node dialling the cluster's first node with `security`; its own log says why it failed. */
async function rogue(sec: RouteSecurity): Promise<NatsServer> {
  const target = cluster.servers[0]?.clusterPort as number;
  const node = await startNats({
    serverName: `rogue-${randomBytes(3).toString('hex')}`,
    cluster: { name: 'flotilla-rogue', port: await freePort(), routes: [target], security: sec },
  });
  rogues.push(node);
  return node;
}

describe('NATS routes with mutual TLS and route authentication', () => {
  it('the three nodes form a cluster over verified routes and serve a replicated stream', async () => {
    const names = cluster.servers.map((s) => s.name).sort();
    for (const s of cluster.servers)
      await waitFor(
        `${s.name} routed to both peers`,
        async () => {
          const p = await peers(s);
          return p.length === 2 ? p : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 250 },
      ).then((p) => expect(p).toEqual(names.filter((n) => n !== s.name)));
    const bus = await waitFor(
      'JetStream meta leader',
      async () =>
        await Bus.connect({
          servers: cluster.urls,
          service: 'planner',
          instance: 'routes',
          ensureStream: { replicas: 3 },
        }),
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    buses.push(bus);
    const info = await rawNats(bus).jsm.streams.info(EVENT_STREAM);
    expect(info.cluster?.replicas?.length).toBe(2);
  }, 120_000);

  it('a node without a certificate, with one from another CA, or with a wrong route password is refused', async () => {
    const first = cluster.servers[0] as NatsServer;
    const foreign = await otherCa.issue('nats-route', 'peer');
    // Where each refusal shows: the cluster's node sees plaintext where TLS must start; a node
    // holding another CA's certificate fails to verify the cluster's; a wrong password is refused
    // by the cluster's route authorization and the dialling node is told so.
    const attempts: Array<{
      label: string;
      sec: RouteSecurity;
      logOf: 'cluster' | 'rogue';
      refusal: RegExp;
    }> = [
      {
        label: 'no TLS',
        sec: { auth: security.auth },
        logOf: 'cluster',
        refusal: /\[ERR\].*TLS route handshake error: tls: first record does not look like a TLS handshake/,
      },
      {
        label: 'a certificate from another CA',
        sec: { tls: { ...foreign, caFile: otherCa.caFile }, auth: security.auth },
        logOf: 'rogue',
        refusal: /\[ERR\].*TLS route handshake error: .*certificate signed by unknown authority/,
      },
      {
        label: 'a wrong route password',
        sec: { tls: security.tls, auth: { user: 'route', password: 'guess' } },
        logOf: 'rogue',
        refusal: /\[ERR\].*Route Error 'Authorization Violation'/,
      },
    ];
    for (const a of attempts) {
      const node = await rogue(a.sec);
      const log = a.logOf === 'cluster' ? first.logFile : node.logFile;
      await waitFor(
        `${a.label}: the refusal in ${log}`,
        async () => (a.refusal.test(readFileSync(log, 'utf8')) ? true : undefined),
        { timeoutMs: 30_000, intervalMs: 250 },
      );
      expect(await peers(node), a.label).toEqual([]);
      await node.dispose();
    }
    const others = cluster.servers.filter((s) => s !== first).map((s) => s.name);
    expect(await peers(first)).toEqual(others.sort());
  }, 120_000);
});
