import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type Spawned, spawnTracked, stopProcess, waitFor } from './child-process.ts';
import { freePort } from './free-port.ts';

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
  /** Cluster block for multi-node setups, filled by startNatsCluster. */
  cluster?: { name: string; port: number; routes: number[] };
  serverName?: string;
  port?: number;
  storeDir?: string;
}

export interface NatsServer {
  readonly url: string;
  readonly port: number;
  readonly storeDir: string;
  readonly logFile: string;
  readonly name: string;
  /** Graceful stop (SIGTERM); the store stays so restart() resumes from it. */
  stop(): Promise<void>;
  /** SIGKILL: what a crash looks like to JetStream. */
  kill(): Promise<void>;
  /** Start again on the same port and store dir. */
  restart(): Promise<void>;
  readonly running: boolean;
  /** Stop and delete the store. */
  dispose(): Promise<void>;
}

function configText(port: number, monitorPort: number, storeDir: string, opts: NatsServerOptions): string {
  const lines = [
    `server_name: ${JSON.stringify(opts.serverName ?? `flotilla-test-${port}`)}`,
    `listen: "127.0.0.1:${port}"`,
    `http: "127.0.0.1:${monitorPort}"`,
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
    lines.push(
      'cluster {',
      `  name: ${opts.cluster.name}`,
      `  listen: "127.0.0.1:${opts.cluster.port}"`,
      `  routes: [${opts.cluster.routes.map((p) => `"nats-route://127.0.0.1:${p}"`).join(', ')}]`,
      '}',
    );
  }
  if (opts.extraConfig) lines.push(opts.extraConfig);
  return `${lines.filter(Boolean).join('\n')}\n`;
}

export async function startNats(opts: NatsServerOptions = {}): Promise<NatsServer> {
  const bin = natsServerBinary();
  const port = opts.port ?? (await freePort());
  const monitorPort = await freePort();
  const ownStore = !opts.storeDir;
  const workDir = mkdtempSync(join(tmpdir(), 'flotilla-nats-'));
  const storeDir = opts.storeDir ?? join(workDir, 'js');
  mkdirSync(storeDir, { recursive: true });
  const confFile = join(workDir, 'nats.conf');
  const logFile = join(workDir, 'nats.log');
  writeFileSync(confFile, configText(port, monitorPort, storeDir, opts));

  let proc: Spawned | undefined;
  const launch = async () => {
    proc = spawnTracked(bin, ['-c', confFile], { logFile });
    const current = proc;
    await waitFor(`nats-server on ${port} (log: ${logFile})`, async () => {
      if (current.child.exitCode !== null)
        throw new Error(`nats-server exited with ${current.child.exitCode}`);
      const res = await fetch(`http://127.0.0.1:${monitorPort}/healthz?js-enabled-only=true`);
      return res.ok ? true : undefined;
    });
  };
  await launch();

  const isRunning = () => !!proc && proc.child.exitCode === null && proc.child.signalCode === null;
  const server: NatsServer = {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    logFile,
    name: opts.serverName ?? `flotilla-test-${port}`,
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
      rmSync(workDir, { recursive: true, force: true });
      if (!ownStore) return;
    },
  };
  return server;
}

export interface NatsCluster {
  readonly servers: NatsServer[];
  /** Comma-free list for NATS clients. */
  readonly urls: string[];
  dispose(): Promise<void>;
}

/** N routed nats-server processes (JetStream clustered), each with its own store. */
export async function startNatsCluster(
  size = 3,
  opts: Omit<NatsServerOptions, 'cluster' | 'port'> = {},
): Promise<NatsCluster> {
  const clientPorts = await Promise.all(Array.from({ length: size }, freePort));
  const routePorts = await Promise.all(Array.from({ length: size }, freePort));
  const name = `flotilla-${process.pid}-${Date.now().toString(36)}`;
  const servers = await Promise.all(
    clientPorts.map((port, i) =>
      startNats({
        ...opts,
        port,
        serverName: `n${i + 1}-${port}`,
        cluster: { name, port: routePorts[i]!, routes: routePorts.filter((_, j) => j !== i) },
      }),
    ),
  );
  return {
    servers,
    urls: servers.map((s) => s.url),
    async dispose() {
      await Promise.all(servers.map((s) => s.dispose()));
    },
  };
}
