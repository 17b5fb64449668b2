import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type Spawned, spawnTracked, stopProcess } from './child-process.ts';
import { freePort } from './free-port.ts';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.ts';
import { GiveUp, waitFor, waitUntil } from './wait.ts';

export const NATS_VERSION = 'v2.15.2';
const repoRoot = resolve(import.meta.dirname, '../../..');

/** Path of the pinned nats-server, building it from the Go module on first use. */
export function natsServerBinary(): string {
  const cache = process.env.FLOTILLA_CACHE ?? join(homedir(), '.cache', 'flotilla');
  const bin = join(cache, 'bin', `nats-${NATS_VERSION.slice(1)}`, 'nats-server');
  if (!existsSync(bin)) {
    execFileSync('bash', [join(repoRoot, 'deploy/nats/build.sh')], {
      stdio: 'inherit',
      env: { ...process.env, NATS_VERSION },
    });
  }
  return bin;
}

export interface NatsServerOptions {
  /** fsync every write before acking (default true: see README "Durability"). */
  syncAlways?: boolean;
  /** Extra nats-server config appended verbatim (accounts, authorization, …). */
  extraConfig?: string;
  /**
   * Added to nats-server's environment: the config reads `$VAR`s from it (an install's nkeys or
   * passwords, filled from a ConfigMap or Secret).
   */
  env?: Record<string, string>;
  /** Cluster block for multi-node setups, filled by startNatsCluster. */
  cluster?: {
    name: string;
    port: number;
    routes: number[];
    security?: RouteSecurity | undefined;
    /**
     * The route address told to peers (gossip). Set to a closed port when routes go through fault
     * proxies, so no node learns a peer's real address and dials it around the proxy.
     */
    advertise?: string;
    /** Route ping interval: short under fault proxies, so a held link is noticed in seconds. */
    pingInterval?: string;
  };
  serverName?: string;
  storeDir?: string;
}

/**
 * What a route between cluster nodes must present: mutual TLS with a certificate from `caFile`
 * (each node both accepts and dials routes, so a `peer` certificate), and the route credentials.
 */
export interface RouteSecurity {
  tls?: { certFile: string; keyFile: string; caFile: string };
  auth?: { user: string; password: string };
}

export interface NatsServer {
  readonly url: string;
  /** The monitoring endpoint (`/routez`, `/healthz`, …). */
  readonly monitorUrl: string;
  readonly port: number;
  /** The route (cluster) port, when the server is part of a cluster. */
  readonly clusterPort: number | undefined;
  readonly storeDir: string;
  readonly logFile: string;
  readonly name: string;
  /** Graceful stop (SIGTERM); the store stays so restart() resumes from it. */
  stop(): Promise<void>;
  /** SIGKILL: what a crash looks like to JetStream. */
  kill(): Promise<void>;
  /** Start again on the same ports and store dir. */
  restart(): Promise<void>;
  readonly running: boolean;
  /** Stop and delete the store. */
  dispose(): Promise<void>;
}

/** Ports a server listens on; -1 asks nats-server to bind port 0 and report what it got. */
interface Ports {
  client: number;
  monitor: number;
  cluster: number;
}

function configText(ports: Ports, storeDir: string, portsDir: string, opts: NatsServerOptions): string {
  const lines = [
    `server_name: ${JSON.stringify(opts.serverName ?? `flotilla-test-${process.pid}-${randomName()}`)}`,
    `listen: "127.0.0.1:${ports.client}"`,
    `http: "127.0.0.1:${ports.monitor}"`,
    // nats-server writes the ports it actually bound here (<exe>_<pid>.ports) once it listens.
    `ports_file_dir: ${JSON.stringify(portsDir)}`,
    'max_payload: 8MB',
    'jetstream {',
    `  store_dir: ${JSON.stringify(storeDir)}`,
    // Without this JetStream acks writes that are only in the page cache (Jepsen, NATS 2.12.1).
    opts.syncAlways === false ? '' : '  sync_interval: always',
    '  max_memory_store: 256MB',
    '  max_file_store: 4GB',
    '}',
  ];
  if (opts.cluster) {
    const { tls, auth } = opts.cluster.security ?? {};
    // A node dials its routes with the same credentials it demands of incoming ones.
    const userinfo = auth ? `${encodeURIComponent(auth.user)}:${encodeURIComponent(auth.password)}@` : '';
    lines.push(
      'cluster {',
      `  name: ${opts.cluster.name}`,
      `  listen: "127.0.0.1:${ports.cluster}"`,
      opts.cluster.advertise ? `  advertise: ${JSON.stringify(opts.cluster.advertise)}` : '',
      opts.cluster.pingInterval
        ? `  ping_interval: ${JSON.stringify(opts.cluster.pingInterval)}\n  ping_max: 3`
        : '',
      `  routes: [${opts.cluster.routes.map((p) => `"nats-route://${userinfo}127.0.0.1:${p}"`).join(', ')}]`,
      auth
        ? `  authorization { user: ${JSON.stringify(auth.user)}, password: ${JSON.stringify(auth.password)}, timeout: 2 }`
        : '',
      tls
        ? [
            '  tls {',
            `    cert_file: ${JSON.stringify(tls.certFile)}`,
            `    key_file: ${JSON.stringify(tls.keyFile)}`,
            `    ca_file: ${JSON.stringify(tls.caFile)}`,
            '    verify: true',
            '    timeout: 2',
            '  }',
          ].join('\n')
        : '',
      '}',
    );
  }
  if (opts.extraConfig) lines.push(opts.extraConfig);
  return `${lines.filter(Boolean).join('\n')}\n`;
}

function randomName(): string {
  return Math.random().toString(36).slice(2, 8);
}

function portOf(urls: string[] | undefined, what: string): number {
  const port = Number(new URL(urls?.[0] ?? 'x:').port);
  if (!port) throw new Error(`nats-server reported no ${what} port`);
  return port;
}

function logTail(file: string): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-10).join('\n');
  } catch {
    return '(no log)';
  }
}

/**
 * Starts nats-server with every listener on port 0 and reads back the ports it bound, so two
 * test processes never race for a port. A restart binds the same ports again (clients keep
 * their URL), which is the one moment another process could have taken one.
 */
export async function startNats(opts: NatsServerOptions = {}): Promise<NatsServer> {
  const bin = natsServerBinary();
  const workDir = mkdtempSync(join(tmpdir(), 'flotilla-nats-'));
  const storeDir = opts.storeDir ?? join(workDir, 'js');
  mkdirSync(storeDir, { recursive: true });
  const confFile = join(workDir, 'nats.conf');
  const logFile = join(workDir, 'nats.log');
  const name = opts.serverName ?? `flotilla-test-${process.pid}-${randomName()}`;
  const ports: Ports = { client: -1, monitor: -1, cluster: opts.cluster?.port ?? -1 };

  let proc: Spawned | undefined;
  const launch = async () => {
    writeFileSync(confFile, configText(ports, storeDir, workDir, { ...opts, serverName: name }));
    proc = spawnTracked(bin, ['-c', confFile], {
      logFile,
      ...(opts.env ? { env: { ...process.env, ...opts.env } } : {}),
    });
    const current = proc;
    const portsFile = join(workDir, `nats-server_${current.child.pid}.ports`);
    const bound = await waitFor(`nats-server ${name} to listen (log: ${logFile})`, async () => {
      if (current.child.exitCode !== null || current.child.signalCode !== null)
        throw new GiveUp(
          `nats-server exited (${current.child.exitCode ?? current.child.signalCode}):\n${logTail(logFile)}`,
        );
      if (!existsSync(portsFile)) return undefined;
      return JSON.parse(readFileSync(portsFile, 'utf8')) as Record<string, string[] | undefined>;
    });
    ports.client = portOf(bound.nats, 'client');
    ports.monitor = portOf(bound.monitoring, 'monitoring');
    await waitFor(`nats-server ${name} JetStream (log: ${logFile})`, async () => {
      if (current.child.exitCode !== null)
        throw new GiveUp(`nats-server exited with ${current.child.exitCode}:\n${logTail(logFile)}`);
      const res = await fetch(`http://127.0.0.1:${ports.monitor}/healthz?js-enabled-only=true`);
      return res.ok ? true : undefined;
    });
  };
  await launch();

  const isRunning = () => !!proc && proc.child.exitCode === null && proc.child.signalCode === null;
  const server: NatsServer = {
    url: `nats://127.0.0.1:${ports.client}`,
    get monitorUrl() {
      return `http://127.0.0.1:${ports.monitor}`;
    },
    port: ports.client,
    clusterPort: opts.cluster ? ports.cluster : undefined,
    storeDir,
    logFile,
    name,
    get running() {
      return isRunning();
    },
    async stop() {
      if (proc) await stopProcess(proc);
    },
    async kill() {
      if (proc && isRunning()) {
        proc.child.kill('SIGKILL');
        await proc.exited;
      }
    },
    async restart() {
      if (isRunning()) await server.stop();
      await launch();
    },
    async dispose() {
      await server.stop();
      // A caller's storeDir lives outside workDir and is left to the caller.
      rmSync(workDir, { recursive: true, force: true });
    },
  };
  return server;
}

export interface NatsCluster {
  readonly servers: NatsServer[];
  /** Comma-free list for NATS clients. */
  readonly urls: string[];
  /**
   * With `faultableRoutes`: partition the route links between each pair of nodes (indexes into
   * `servers`), both directions, as a network partition does (bytes held, no reset). Pairs
   * already cut stay cut. Isolating node k from the rest is `cut([k, i], [k, j])`.
   */
  cut(...pairs: Array<[number, number]>): void;
  /** Heal every cut route link. */
  heal(): void;
  dispose(): Promise<void>;
}

/**
 * N routed nats-server processes (JetStream clustered), each with its own store. Client and
 * monitoring ports are bound as port 0, but route ports must be known before any node starts
 * (JetStream refuses a cluster without configured routes), so those are picked up front and the
 * whole cluster is started again on new ones if another process took one in the meantime.
 */
export async function startNatsCluster(
  size = 3,
  opts: Omit<NatsServerOptions, 'cluster'> & {
    routes?: RouteSecurity;
    /**
     * Route every node-to-node link through its own TCP fault proxy (one per ordered pair: node i
     * dials node j through proxy i→j), so `cut()` can partition any pair. Off by default.
     */
    faultableRoutes?: boolean;
  } = {},
): Promise<NatsCluster> {
  const { routes: security, faultableRoutes, ...nodeOpts } = opts;
  for (let attempt = 1; ; attempt++) {
    const routePorts = await Promise.all(Array.from({ length: size }, freePort));
    const name = `flotilla-${process.pid}-${Date.now().toString(36)}`;
    // proxies[i][j]: how node i reaches node j's route port.
    const proxies: Array<Array<TcpProxy | undefined>> = await Promise.all(
      routePorts.map((_, i) =>
        Promise.all(
          routePorts.map((port, j) =>
            faultableRoutes && i !== j ? startTcpProxy({ port }, 'nats-route') : Promise.resolve(undefined),
          ),
        ),
      ),
    );
    const allProxies = proxies.flat().filter((p): p is TcpProxy => p !== undefined);
    const results = await Promise.allSettled(
      routePorts.map((port, i) =>
        startNats({
          ...nodeOpts,
          serverName: `n${i + 1}-${name}`,
          cluster: {
            name,
            port,
            routes: routePorts.flatMap((p, j) => (j === i ? [] : [proxies[i]?.[j]?.port ?? p])),
            security,
            // Port 1 answers nobody: a peer told this address for an implicit route gets a refusal
            // and keeps to its configured (proxied) route.
            ...(faultableRoutes ? { advertise: '127.0.0.1:1', pingInterval: '1s' } : {}),
          },
        }),
      ),
    );
    const servers = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (!failed) {
      const link = (i: number, j: number) => {
        const p = proxies[i]?.[j];
        if (!p) throw new Error(`no route proxy ${i}→${j} (start the cluster with faultableRoutes)`);
        return p;
      };
      try {
        await metaGroupFormed(servers);
      } catch (err) {
        await Promise.all(servers.map((s) => s.dispose()));
        await Promise.all(allProxies.map((p) => p.close()));
        throw err;
      }
      return {
        servers,
        urls: servers.map((s) => s.url),
        cut(...pairs) {
          for (const [i, j] of pairs) {
            link(i, j).partition();
            link(j, i).partition();
          }
        },
        heal() {
          for (const p of allProxies) p.heal();
        },
        async dispose() {
          await Promise.all(servers.map((s) => s.dispose()));
          await Promise.all(allProxies.map((p) => p.close()));
        },
      };
    }
    await Promise.all(servers.map((s) => s.dispose()));
    await Promise.all(allProxies.map((p) => p.close()));
    if (attempt >= 5 || !String(failed.reason).includes('address already in use')) throw failed.reason;
  }
}

interface MetaCluster {
  leader?: string;
  cluster_size?: number;
  replicas?: Array<{ name: string; current: boolean }>;
}

/**
 * Resolves once JetStream's meta group spans every node: a leader that all nodes agree on, with
 * every other node a current replica. Until then the group can be two nodes strong (each node's
 * /healthz is already ok), and an R3 stream is refused with "no suitable peers for placement"
 * (seen in CI at load 21).
 */
async function metaGroupFormed(servers: NatsServer[]): Promise<void> {
  const meta = async (s: NatsServer) =>
    ((await (await fetch(`${s.monitorUrl}/jsz`)).json()) as { meta_cluster?: MetaCluster }).meta_cluster;
  await waitUntil(
    `a JetStream meta group of all ${servers.length} nodes`,
    async () => {
      const views = await Promise.all(servers.map(meta));
      const leader = views[0]?.leader;
      if (!leader || views.some((v) => v?.leader !== leader || v.cluster_size !== servers.length))
        return false;
      const own = views[servers.findIndex((s) => s.name === leader)];
      const replicas = own?.replicas ?? [];
      return replicas.length === servers.length - 1 && replicas.every((r) => r.current);
    },
    { timeoutMs: 60_000, intervalMs: 200 },
  );
}

/** The INFO line nats-server greets every client with, before any TLS handshake. */
export function natsGreeting(url: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect(Number(new URL(url).port), '127.0.0.1');
    let text = '';
    socket.setTimeout(5000, () => socket.destroy(new Error(`no INFO; got ${JSON.stringify(text)}`)));
    socket.on('data', (d) => {
      text += String(d);
      const end = text.indexOf('\r\n');
      if (text.startsWith('INFO ') && end > 0) {
        socket.destroy();
        resolve(JSON.parse(text.slice(5, end)) as Record<string, unknown>);
      }
    });
    socket.on('error', reject);
  });
}
