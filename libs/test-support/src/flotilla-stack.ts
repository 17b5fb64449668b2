import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { type Spawned, spawnTracked, stopProcess } from './child-process.ts';
import { freePort } from './free-port.ts';
import { type GitServer, GitWorkdir, startGitServer } from './git-server.ts';
import { type NatsServer, startNats } from './nats-server.ts';
import { programArgs } from './programs.ts';
import { type RegistryHandle, startRegistry } from './registry.ts';
import { createTestCa, natsTlsConfig } from './test-ca.ts';
import { startTestClusters, type TestCluster } from './test-cluster.ts';
import { GiveUp, waitFor } from './wait.ts';

const repoRoot = resolve(import.meta.dirname, '../../..');
/** The sample config repo: a small app with dev/test/uat/prod overlays and a flotilla.yaml. */
export const SHOP_CONFIG_FIXTURE = join(repoRoot, 'examples/shop-config');

export type ServiceName =
  | 'planner'
  | 'git-watcher'
  | 'registry-watcher'
  | 'audit-writer'
  | 'console'
  | `applier-${string}`;

export interface ServiceProcess {
  readonly name: ServiceName;
  readonly url: string;
  readonly logFile: string;
  readonly configFile: string;
  readonly running: boolean;
  /** SIGKILL: a crash, no graceful shutdown. */
  kill(): Promise<void>;
  /** SIGTERM and wait (graceful shutdown). */
  stop(): Promise<void>;
  /** Start again with the same config, state dirs and port. */
  start(): Promise<void>;
}

export interface StackOptions {
  clusters?: string[];
  /** Where service logs go (kept after stop); default a temp dir. */
  logDir?: string;
  /** KWOK + binder so Deployments become Available (default true). */
  kwok?: boolean;
  /** Console progress lines (the demo sets this). */
  onProgress?: (line: string) => void;
  /** Also start the web console (services/console); its URL is `consoleUrl`. */
  console?: boolean;
  /**
   * Top-level config keys replaced per service (`applier` for every applier): benchmarks run the
   * same stack with other intervals, e.g. poll-only like Flux or Argo CD defaults.
   */
  overrides?: Partial<
    Record<
      'planner' | 'git-watcher' | 'registry-watcher' | 'audit-writer' | 'applier',
      Record<string, unknown>
    >
  >;
  /** The registry notifies the registry-watcher (default true); false leaves it to polling. */
  registryWebhooks?: boolean;
  /** Extra environment of every service process (OTEL_* for the benchmark's span receiver). */
  env?: Record<string, string>;
  /**
   * The config repo's files instead of examples/shop-config (`localhost:5000` becomes the
   * registry's address, as in the fixture): e.g. several teams' pipelines.
   */
  configFiles?: Record<string, string>;
  /**
   * Seal each cluster's bundles to its own X25519 key, as an install does (`flotilla seal-key`):
   * the planner gets every cluster's public key, each applier only its own private key and then
   * refuses unsealed bundles, so a plan applied at all proves its bundle was sealed.
   */
  sealBundles?: boolean;
  /**
   * NATS over mutual TLS, as an install should run it: nats-server presents a certificate from a
   * throwaway test CA and requires one from every client; each service verifies the server against
   * that CA and presents its own client certificate (`nats.tls`). A plaintext client is refused.
   */
  tls?: boolean;
}

/** What a client of the stack's NATS needs when it runs with `tls: true` (the bus's `nats.tls`). */
export interface StackNatsTls {
  caFile: string;
  certFile: string;
  keyFile: string;
}

export interface FlotillaStack {
  nats: NatsServer;
  /** Set when started with `tls: true`: the CA and a client certificate for NATS connections. */
  natsTls?: StackNatsTls;
  git: GitServer;
  registry: RegistryHandle;
  clusters: TestCluster[];
  services: Map<ServiceName, ServiceProcess>;
  /** `127.0.0.1:<port>/shop/web` */
  image: string;
  configRepoUrl: string;
  auditRepoUrl: string;
  plannerUrl: string;
  auditUrl: string;
  /** Set when started with `console: true`. */
  consoleUrl?: string;
  tokens: { approver: string; viewer: string };
  secrets: { registryWebhookToken: string };
  logDir: string;
  workDir: string;
  /** Stop everything started, in reverse order, and remove temp state (logs stay). */
  stop(): Promise<void>;
}

function serviceProcess(
  name: ServiceName,
  port: number,
  config: Record<string, unknown>,
  dirs: {
    logDir: string;
    workDir: string;
    env?: Record<string, string> | undefined;
    overrides?: StackOptions['overrides'];
  },
): ServiceProcess {
  const configFile = join(dirs.workDir, `${name}.yaml`);
  const overrideKey = name.startsWith('applier-')
    ? 'applier'
    : (name as keyof NonNullable<StackOptions['overrides']>);
  writeFileSync(configFile, toYaml({ ...config, ...(dirs.overrides?.[overrideKey] ?? {}) }));
  const logFile = join(dirs.logDir, `${name}.log`);
  const service = name.startsWith('applier-')
    ? 'cluster-applier'
    : (name as Exclude<ServiceName, `applier-${string}`>);
  const url = `http://127.0.0.1:${port}`;
  let proc: Spawned | undefined;
  const running = () => !!proc && proc.child.exitCode === null && proc.child.signalCode === null;
  return {
    name,
    url,
    logFile,
    configFile,
    get running() {
      return running();
    },
    async start() {
      const spawned = spawnTracked(process.execPath, programArgs(service), {
        cwd: repoRoot,
        logFile,
        env: {
          ...process.env,
          ...dirs.env,
          FLOTILLA_CONFIG: configFile,
          LOG_LEVEL: process.env.LOG_LEVEL ?? 'info',
        },
      });
      proc = spawned;
      await waitFor(
        `${name} /readyz (log: ${logFile})`,
        async () => {
          if (spawned.child.exitCode !== null) {
            const tail = readFileSync(logFile, 'utf8').split('\n').slice(-15).join('\n');
            throw new GiveUp(
              `${name} exited with ${spawned.child.exitCode}; last lines of ${logFile}:\n${tail}`,
            );
          }
          const res = await fetch(`${url}/readyz`).catch(() => undefined);
          if (!res?.ok) return undefined;
          // Another process on the port (it was free when chosen) is not this service being ready.
          const answered = ((await res.json().catch(() => ({}))) as { service?: string }).service;
          if (answered !== service)
            throw new GiveUp(
              `${name}: port ${port} is answered by ${answered ?? 'something else'}, not ${service}`,
            );
          return true;
        },
        { timeoutMs: 120_000, intervalMs: 250 },
      );
    },
    async kill() {
      if (proc && running()) {
        proc.child.kill('SIGKILL');
        await proc.exited;
      }
    },
    async stop() {
      if (proc) await stopProcess(proc, 20_000);
    },
  };
}

/** A config repo fixture's files, `localhost:5000` replaced by the registry the test runs. */
export function copyFixture(dir: string, registryHost: string): Record<string, string> {
  const files: Record<string, string> = {};
  const walk = (rel: string) => {
    for (const entry of readdirSync(join(dir, rel))) {
      const path = rel ? `${rel}/${entry}` : entry;
      if (statSync(join(dir, path)).isDirectory()) walk(path);
      else files[path] = readFileSync(join(dir, path), 'utf8').replaceAll('localhost:5000', registryHost);
    }
  };
  walk('');
  return files;
}

/**
 * Everything Flotilla needs, real and local: NATS, a git daemon with the sample config repo and an
 * empty audit repo, a docker-registry that notifies the registry-watcher, N Kubernetes clusters,
 * and the five services as separate processes (one applier per cluster) with logs in `logDir`.
 */
export async function startFlotillaStack(opts: StackOptions = {}): Promise<FlotillaStack> {
  const say = opts.onProgress ?? (() => {});
  const clusterNames = opts.clusters ?? ['dev', 'test', 'uat', 'prod'];
  const workDir = mkdtempSync(join(tmpdir(), 'flotilla-stack-'));
  // Logs live outside the work dir so they survive stop() for a post-mortem.
  const logDir = opts.logDir ?? mkdtempSync(join(tmpdir(), 'flotilla-logs-'));
  mkdirSync(logDir, { recursive: true });
  const cleanups: Array<() => Promise<void>> = [];
  const stop = async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    rmSync(workDir, { recursive: true, force: true });
  };

  try {
    let natsTls: StackNatsTls | undefined;
    let natsExtraConfig: string | undefined;
    if (opts.tls) {
      say('creating a test CA; NATS requires TLS with client certificates');
      const ca = await createTestCa('flotilla-stack');
      cleanups.push(async () => rmSync(ca.dir, { recursive: true, force: true }));
      const [server, client] = await Promise.all([
        ca.issue('nats', 'server'),
        ca.issue('flotilla-services', 'client'),
      ]);
      natsExtraConfig = natsTlsConfig({ cert: server, caFile: ca.caFile, verify: true });
      natsTls = { caFile: ca.caFile, certFile: client.certFile, keyFile: client.keyFile };
    }
    say('starting NATS (JetStream, sync_interval: always)');
    const nats = await startNats(natsExtraConfig ? { extraConfig: natsExtraConfig } : {});
    cleanups.push(() => nats.dispose());

    const ports = {
      planner: await freePort(),
      gitWatcher: await freePort(),
      registryWatcher: await freePort(),
      audit: await freePort(),
    };
    const registryToken = randomBytes(16).toString('hex');
    say('starting git daemon and docker-registry');
    const [git, registry] = await Promise.all([
      startGitServer(),
      startRegistry(
        opts.registryWebhooks === false
          ? {}
          : {
              notifications: {
                url: `http://127.0.0.1:${ports.registryWatcher}/hooks/distribution`,
                headers: { Authorization: `Bearer ${registryToken}` },
              },
            },
      ),
    ]);
    cleanups.push(
      () => git.stop(),
      () => registry.stop(),
    );
    const image = `${registry.host}/shop/web`;
    const configRepo = await git.createRepo('shop-config', {
      files: opts.configFiles
        ? Object.fromEntries(
            Object.entries(opts.configFiles).map(([path, text]) => [
              path,
              text.replaceAll('localhost:5000', registry.host),
            ]),
          )
        : copyFixture(SHOP_CONFIG_FIXTURE, registry.host),
    });
    const auditRepo = await git.createRepo('audit');

    say(`starting ${clusterNames.length} Kubernetes clusters (${clusterNames.join(', ')})`);
    // No clusters (benchmarks of the hub side): do not wait for the test cluster binary at all.
    const clusters =
      clusterNames.length > 0 ? await startTestClusters(clusterNames, { kwok: opts.kwok ?? true }) : [];
    cleanups.push(async () => {
      await Promise.all(clusters.map((c) => c.stop()));
    });

    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const keyFile = join(workDir, 'planner-signing.pem');
    const pubFile = join(workDir, 'planner-signing.pub.pem');
    writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    writeFileSync(pubFile, publicKey.export({ type: 'spki', format: 'pem' }));
    // Raw base64 X25519 public keys for the planner (bundles.recipients), PEM private keys per applier.
    const sealingKeys = new Map<string, string>();
    const recipients: string[] = [];
    for (const name of opts.sealBundles ? clusterNames : []) {
      const pair = generateKeyPairSync('x25519');
      const file = join(workDir, `sealing-${name}.pem`);
      writeFileSync(file, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
      sealingKeys.set(name, file);
      const der = pair.publicKey.export({ type: 'spki', format: 'der' });
      recipients.push(`${name}=${der.subarray(der.length - 32).toString('base64')}`);
    }
    const tokens = { approver: randomBytes(24).toString('hex'), viewer: randomBytes(24).toString('hex') };
    const apiTokens = [
      {
        token: tokens.approver,
        name: 'alice',
        groups: ['release-managers'],
        roles: ['read', 'operate', 'approve'],
      },
      { token: tokens.viewer, name: 'bob', groups: ['developers'], roles: ['read'] },
    ];
    const nats_ = { servers: [nats.url], ...(natsTls ? { tls: natsTls } : {}) };
    const dirs = { logDir, workDir, env: opts.env, overrides: opts.overrides };

    const services = new Map<ServiceName, ServiceProcess>();
    const add = (s: ServiceProcess) => {
      services.set(s.name, s);
      cleanups.push(() => s.stop());
      return s;
    };

    const audit = add(
      serviceProcess(
        'audit-writer',
        ports.audit,
        {
          instance: 'audit-1',
          nats: nats_,
          http: { port: ports.audit },
          audit: { url: auditRepo.url, dir: join(workDir, 'audit'), batchMaxDelayMs: 200 },
          configRepo: { url: configRepo.url, dir: join(workDir, 'audit-config'), debounceMs: 200 },
          // The same token file as the planner's, as in the install.
          api: { tokens: apiTokens },
          productionStages: ['prod'],
        },
        dirs,
      ),
    );
    const planner = add(
      serviceProcess(
        'planner',
        ports.planner,
        {
          instance: 'planner-1',
          nats: nats_,
          http: { port: ports.planner },
          git: { url: configRepo.url, repo: 'shop-config' },
          workDir: join(workDir, 'planner'),
          signing: { keyId: 'planner-demo', keyFile },
          ...(recipients.length > 0 ? { bundles: { recipients: recipients.join(',') } } : {}),
          api: { tokens: apiTokens },
          lease: { ttlMs: 3000 },
          evaluateIntervalMs: 500,
        },
        dirs,
      ),
    );
    const gitWatcher = add(
      serviceProcess(
        'git-watcher',
        ports.gitWatcher,
        {
          instance: 'git-watcher-1',
          nats: nats_,
          http: { port: ports.gitWatcher },
          cacheDir: join(workDir, 'git-watcher'),
          poll: { intervalMs: 1000, jitter: 0.1 },
          lease: { ttlMs: 3000 },
          repositories: [{ name: 'shop-config', url: configRepo.url, branch: 'main' }],
        },
        dirs,
      ),
    );
    const registryWatcher = add(
      serviceProcess(
        'registry-watcher',
        ports.registryWatcher,
        {
          instance: 'registry-watcher-1',
          nats: nats_,
          http: { port: ports.registryWatcher },
          images: [{ image, insecure: true, tagFilter: '^\\d+\\.\\d+\\.\\d+$' }],
          poll: { intervalMs: 5000 },
          lease: { ttlMs: 3000 },
          webhooks: { distributionToken: registryToken },
        },
        dirs,
      ),
    );
    const appliers = [];
    for (const c of clusters) {
      const port = await freePort();
      appliers.push(
        add(
          serviceProcess(
            `applier-${c.name}`,
            port,
            {
              instance: `applier-${c.name}-1`,
              cluster: c.name,
              nats: nats_,
              http: { port },
              kube: { kubeconfig: c.kubeconfigPath },
              trustedKeys: `planner-demo=${pubFile}`,
              health: { timeoutMs: 120_000, pollMs: 500 },
              drift: { intervalMs: 5000 },
              lease: { durationSeconds: 5 },
              ...(sealingKeys.has(c.name) ? { sealing: { keyFile: sealingKeys.get(c.name) } } : {}),
            },
            dirs,
          ),
        ),
      );
    }

    const consolePort = opts.console ? await freePort() : 0;
    const webConsole = opts.console
      ? add(
          serviceProcess(
            'console',
            consolePort,
            {
              instance: 'console-1',
              nats: nats_,
              http: { port: consolePort },
              planner: { url: planner.url },
              audit: { url: audit.url },
              session: { secret: randomBytes(32).toString('hex') },
            },
            dirs,
          ),
        )
      : undefined;

    // The audit-writer first, so it sees every event from the start; the rest in parallel.
    say(`starting services (logs: ${logDir})`);
    await audit.start();
    await Promise.all(
      [planner, gitWatcher, registryWatcher, ...appliers, ...(webConsole ? [webConsole] : [])].map((s) =>
        s.start(),
      ),
    );

    return {
      nats,
      ...(natsTls ? { natsTls } : {}),
      git,
      registry,
      clusters,
      services,
      image,
      configRepoUrl: configRepo.url,
      auditRepoUrl: auditRepo.url,
      plannerUrl: planner.url,
      auditUrl: audit.url,
      ...(webConsole ? { consoleUrl: webConsole.url } : {}),
      tokens,
      secrets: { registryWebhookToken: registryToken },
      logDir,
      workDir,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Clones the config repo into a temp dir, e.g. to read commits and trailers. */
export async function cloneConfigRepo(stack: FlotillaStack): Promise<GitWorkdir> {
  return await GitWorkdir.clone(stack.configRepoUrl);
}
