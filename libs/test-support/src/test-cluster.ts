import { type ChildProcess, execFile, spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { CoreV1Api, KubeConfig, RbacAuthorizationV1Api, type V1PolicyRule } from '@kubernetes/client-node';

const execFileP = promisify(execFile);

/** Kubernetes version served by the test control plane (pinned in deploy/testcluster/build.sh). */
export const TEST_CLUSTER_KUBE_VERSION = 'v1.34.3';

/** A running single-process control plane (etcd + kube-apiserver + kube-controller-manager [+ KWOK]). */
export interface TestCluster {
  name: string;
  /** https://127.0.0.1:<port> */
  server: string;
  /** Admin kubeconfig (client cert in system:masters), written by the cluster itself. */
  kubeconfigPath: string;
  kubeConfig: KubeConfig;
  dataDir: string;
  pid: number;
  /** Milliseconds from spawn to ready, as seen by the caller. */
  startupMs: number;
  /** SIGTERM to the process group (SIGKILL after a grace period), then removes the data dir. */
  stop(): Promise<void>;
  /** SIGKILL to the process group (apiserver, etcd, controllers at once); keeps the data dir. */
  kill(): Promise<void>;
  /**
   * Starts the control plane again on the same data dir and port after kill(): etcd recovers
   * its data and the PKI is reused, so clients holding the old kubeconfig reconnect.
   */
  restart(): Promise<void>;
}

export interface StartTestClustersOptions {
  /** Run KWOK, the pod binder and fake Nodes so pods become Running/Ready (default true). */
  kwok?: boolean;
  /** Default 180 s: four clusters starting at once on two cores are slow. */
  readyTimeoutMs?: number;
}

const here = fileURLToPath(new URL('.', import.meta.url));
const buildScript = join(here, '../../../deploy/testcluster/build.sh');

function binDir(): string {
  return join(process.env.FLOTILLA_CACHE ?? join(homedir(), '.cache', 'flotilla'), 'bin');
}

let building: Promise<string> | undefined;

/**
 * Builds testcluster and kwok once (deploy/testcluster/build.sh caches by source hash and
 * serialises concurrent builders with a lock), resolving to the testcluster binary path.
 */
export function buildTestCluster(): Promise<string> {
  building ??= execFileP('bash', [buildScript], { maxBuffer: 16 * 1024 * 1024, timeout: 30 * 60_000 })
    // An unstripped build for profiling (bench/apiserver/ssa-profile.ts) may stand in.
    .then(() => process.env.FLOTILLA_TESTCLUSTER_BINARY ?? join(binDir(), 'testcluster'))
    .catch((err: unknown) => {
      building = undefined;
      const e = err as { stderr?: string; message?: string };
      throw new Error(`building the test cluster failed: ${e.stderr ?? e.message ?? String(err)}`);
    });
  return building;
}

// Children die with this process: a crashed or interrupted run must leave nothing that
// breaks the next one. (testcluster also exits by itself when its parent goes away.)
const live = new Map<ChildProcess, string>();
let exitHooked = false;
function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  process.once('exit', () => {
    for (const [child, dir] of live) {
      killGroup(child, 'SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {}
  }
}

const DIR_PREFIX = 'flotilla-kube-';

/** Removes data dirs left by runs that were killed before they could clean up. */
function sweepStaleDirs(): void {
  for (const entry of readdirSync(tmpdir())) {
    if (!entry.startsWith(DIR_PREFIX)) continue;
    const dir = join(tmpdir(), entry);
    try {
      const owner = Number(readFileSync(join(dir, 'owner.pid'), 'utf8'));
      process.kill(owner, 0); // throws when the owning test process is gone
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EPERM') continue;
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

function tail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

interface Spawned {
  child: ChildProcess;
  exited: Promise<void>;
  ready: { server: string; kubeconfig: string; pid: number };
}

/** Spawns testcluster on dataDir and waits for it to report ready; on failure nothing is left running. */
async function spawnReady(
  bin: string,
  name: string,
  dataDir: string,
  port: number,
  opts: StartTestClustersOptions,
): Promise<Spawned> {
  const logPath = join(dataDir, 'testcluster.log');
  const logFd = openSync(logPath, 'a');
  const readyTimeoutMs = opts.readyTimeoutMs ?? 180_000;
  hookExit();
  const child = spawn(
    bin,
    [
      `--name=${name}`,
      `--data-dir=${dataDir}`,
      `--port=${port}`,
      `--kwok=${opts.kwok ?? true}`,
      `--ready-timeout=${Math.ceil(readyTimeoutMs / 1000)}`,
    ],
    // Own process group, so stop() reaches the KWOK child too.
    { detached: true, stdio: ['ignore', 'pipe', logFd] },
  );
  closeSync(logFd);
  live.set(child, dataDir);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  let ready: { server: string; kubeconfig: string; pid: number };
  try {
    ready = await new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`not ready after ${readyTimeoutMs} ms`)),
        readyTimeoutMs,
      );
      const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
      lines.on('line', (line) => {
        try {
          const msg = JSON.parse(line) as {
            ready?: boolean;
            server: string;
            kubeconfig: string;
            pid: number;
          };
          if (msg.ready) {
            clearTimeout(timer);
            resolve(msg);
          }
        } catch {}
      });
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`exited (${code ?? signal}) before ready`));
      });
    });
  } catch (err) {
    const log = tail(logPath);
    killGroup(child, 'SIGKILL');
    await exited;
    live.delete(child);
    throw new Error(
      `test cluster ${name}: ${(err as Error).message}\n--- testcluster.log (tail) ---\n${log}`,
    );
  }
  child.stdout?.resume();
  return { child, exited, ready };
}

async function startOne(bin: string, name: string, opts: StartTestClustersOptions): Promise<TestCluster> {
  const dataDir = mkdtempSync(join(tmpdir(), `${DIR_PREFIX}${name}-`));
  writeFileSync(join(dataDir, 'owner.pid'), String(process.pid));
  const started = Date.now();
  let current: Spawned;
  try {
    current = await spawnReady(bin, name, dataDir, 0, opts);
  } catch (err) {
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  const { ready } = current;
  const port = Number(new URL(ready.server).port);

  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(ready.kubeconfig);
  let stopping: Promise<void> | undefined;
  const handle: TestCluster = {
    name,
    server: ready.server,
    kubeconfigPath: ready.kubeconfig,
    kubeConfig,
    dataDir,
    pid: ready.pid,
    startupMs: Date.now() - started,
    async kill() {
      const { child, exited } = current;
      killGroup(child, 'SIGKILL');
      await exited;
      live.delete(child);
    },
    async restart() {
      if (stopping) throw new Error(`test cluster ${name} is stopped`);
      current = await spawnReady(bin, name, dataDir, port, opts);
      handle.pid = current.ready.pid;
    },
    stop() {
      stopping ??= (async () => {
        const { child, exited } = current;
        killGroup(child, 'SIGTERM');
        const timer = setTimeout(() => killGroup(child, 'SIGKILL'), 8_000);
        await exited;
        clearTimeout(timer);
        // KWOK sits in the same group; make sure nothing of it survives.
        killGroup(child, 'SIGKILL');
        try {
          if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
        } catch {}
        live.delete(child);
        rmSync(dataDir, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
  return handle;
}

/**
 * Starts one real control plane per name, in parallel, each on a free port with its own
 * temp dir, and resolves once every one answers /readyz and has its `default` namespace.
 * If any fails to start, the others are stopped and the error is thrown.
 */
export async function startTestClusters(
  names: string[],
  opts: StartTestClustersOptions = {},
): Promise<TestCluster[]> {
  const bin = await buildTestCluster();
  sweepStaleDirs();
  const results = await Promise.allSettled(names.map((name) => startOne(bin, name, opts)));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await Promise.all(results.map((r) => (r.status === 'fulfilled' ? r.value.stop() : undefined)));
    throw failed.reason;
  }
  return results.map((r) => (r as PromiseFulfilledResult<TestCluster>).value);
}

/** One cluster; see startTestClusters. */
export async function startTestCluster(
  name: string,
  opts: StartTestClustersOptions = {},
): Promise<TestCluster> {
  const [cluster] = await startTestClusters([name], opts);
  if (!cluster) throw new Error('unreachable: no cluster started');
  return cluster;
}

export interface ServiceAccountKubeconfigOptions {
  namespace: string;
  name: string;
  /** Rules of a Role in `namespace`, bound to the ServiceAccount. */
  roles?: V1PolicyRule[];
  /** Rules of a ClusterRole, bound cluster-wide to the ServiceAccount. */
  clusterRoles?: V1PolicyRule[];
  /** Existing ClusterRoles (e.g. 'view') to bind: in `namespace` if given, else cluster-wide. */
  bindClusterRoles?: { name: string; namespace?: string }[];
  /** TokenRequest expiry; the apiserver's minimum is 600 s. Default 3600 s. */
  expirationSeconds?: number;
}

export interface ServiceAccountKubeconfig {
  kubeConfig: KubeConfig;
  /** A kubeconfig file (in the cluster's data dir) using the token. */
  kubeconfigPath: string;
  token: string;
  /** system:serviceaccount:<namespace>:<name> */
  username: string;
}

function isStatus(err: unknown, code: number): boolean {
  return (err as { code?: number }).code === code;
}

async function createIgnoringExists(create: () => Promise<unknown>): Promise<void> {
  try {
    await create();
  } catch (err) {
    if (!isStatus(err, 409)) throw err;
  }
}

/**
 * Creates a ServiceAccount (and its namespace if missing) with the given Role / ClusterRole
 * rules, obtains a token through the TokenRequest API, and returns a kubeconfig that
 * authenticates with that token: for least-privilege tests.
 */
export async function createServiceAccountKubeconfig(
  cluster: Pick<TestCluster, 'name' | 'server' | 'kubeConfig' | 'dataDir'>,
  opts: ServiceAccountKubeconfigOptions,
): Promise<ServiceAccountKubeconfig> {
  const { namespace, name } = opts;
  const core = cluster.kubeConfig.makeApiClient(CoreV1Api);
  const rbac = cluster.kubeConfig.makeApiClient(RbacAuthorizationV1Api);
  const subject = [{ kind: 'ServiceAccount', name, namespace }];
  const bindingName = `${name}-binding`;

  await createIgnoringExists(() => core.createNamespace({ body: { metadata: { name: namespace } } }));
  await createIgnoringExists(() =>
    core.createNamespacedServiceAccount({ namespace, body: { metadata: { name } } }),
  );
  if (opts.roles?.length) {
    await rbac.createNamespacedRole({ namespace, body: { metadata: { name }, rules: opts.roles } });
    await rbac.createNamespacedRoleBinding({
      namespace,
      body: {
        metadata: { name: bindingName },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
        subjects: subject,
      },
    });
  }
  if (opts.clusterRoles?.length) {
    const crName = `${namespace}-${name}`;
    await rbac.createClusterRole({ body: { metadata: { name: crName }, rules: opts.clusterRoles } });
    await rbac.createClusterRoleBinding({
      body: {
        metadata: { name: crName },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: crName },
        subjects: subject,
      },
    });
  }
  for (const ref of opts.bindClusterRoles ?? []) {
    const roleRef = { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: ref.name };
    const metadata = { name: `${namespace}-${name}-${ref.name}`.replace(/[^a-z0-9.-]/g, '-') };
    if (ref.namespace) {
      await rbac.createNamespacedRoleBinding({
        namespace: ref.namespace,
        body: { metadata, roleRef, subjects: subject },
      });
    } else {
      await rbac.createClusterRoleBinding({ body: { metadata, roleRef, subjects: subject } });
    }
  }

  const tr = await core.createNamespacedServiceAccountToken({
    name,
    namespace,
    body: { spec: { audiences: [], expirationSeconds: Math.max(600, opts.expirationSeconds ?? 3600) } },
  });
  const token = tr.status?.token;
  if (!token) throw new Error(`TokenRequest for ${namespace}/${name} returned no token`);

  const adminCluster = cluster.kubeConfig.getCurrentCluster();
  const user = `${namespace}-${name}`;
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [
      { name: cluster.name, server: cluster.server, caData: adminCluster?.caData, skipTLSVerify: false },
    ],
    users: [{ name: user, token }],
    contexts: [{ name: `${cluster.name}-${user}`, cluster: cluster.name, user, namespace }],
    currentContext: `${cluster.name}-${user}`,
  });
  const kubeconfigPath = join(cluster.dataDir, `kubeconfig-sa-${user}`);
  writeFileSync(kubeconfigPath, kubeConfig.exportConfig(), { mode: 0o600 });
  return { kubeConfig, kubeconfigPath, token, username: `system:serviceaccount:${namespace}:${name}` };
}

/** True when the testcluster binary has been built (for tooling that wants to skip a build). */
export function testClusterBinary(): string | undefined {
  const p = join(binDir(), 'testcluster');
  return existsSync(p) ? p : undefined;
}
