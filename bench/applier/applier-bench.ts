import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { Bus } from '@flotilla/bus';
import {
  freePort,
  type NatsServer,
  type Spawned,
  spawnTracked,
  startNats,
  startTestClusters,
  type TestCluster,
} from '@flotilla/test-support';
import { generateSigningKey } from '@flotilla/trust';
import { stringify } from 'yaml';
import { type PlanFeed, planFeed } from './plan-feed.ts';

const execFileP = promisify(execFile);
const root = resolve(import.meta.dirname, '../..');

/**
 * What the applier benches (bench/applier/mttp.ts for speed, bench/runtime/applier-peak.ts for
 * memory) start the same way, so both measure against the same set-up: a real nats-server, one
 * local apiserver (testcluster, KWOK off: nothing needs to run, only be applied), a scratch
 * directory, the planner stand-in (plan-feed.ts) and the public key an applier trusts it by.
 */
export interface ApplierBench {
  readonly nats: NatsServer;
  readonly cluster: TestCluster;
  /** Scratch directory for namespace files, logs and keys; removed by `close()`. */
  readonly tmp: string;
  readonly feed: PlanFeed;
  /** `kubectl --kubeconfig <the cluster's>`; resolves to its stdout. */
  kubectl(...args: string[]): Promise<string>;
  /** Creates `<prefix>-0` … `<prefix>-<count-1>` in one server-side apply. */
  createNamespaces(prefix: string, count: number): Promise<void>;
  /**
   * Starts an applier for cluster `name` (`node <nodeArgs>`, connected to this bus and cluster,
   * trusting the stand-in's key; `env` adds to or overrides that) and resolves once its /readyz
   * answers 200: NATS connected and the plan consumer bound. Throws if it exits before then.
   */
  startApplier(
    name: string,
    nodeArgs: string[],
    env: Record<string, string>,
  ): Promise<{ proc: Spawned; pid: number; logFile: string }>;
  /** Closes the planner's connection, stops NATS and the cluster, removes the scratch directory. */
  close(): Promise<void>;
}

export async function startApplierBench(
  clusterName: string,
  opts: { kubectlMaxBuffer: number; bucket: string },
): Promise<ApplierBench> {
  const [nats, [cluster]] = await Promise.all([
    startNats(),
    startTestClusters([clusterName], { kwok: false }),
  ]);
  if (!cluster) throw new Error('no cluster');
  const tmp = mkdtempSync(join(tmpdir(), `${clusterName}-`));
  const kubectl = async (...a: string[]) =>
    (
      await execFileP('kubectl', ['--kubeconfig', cluster.kubeconfigPath, ...a], {
        maxBuffer: opts.kubectlMaxBuffer,
      })
    ).stdout;
  const planner = await Bus.connect({
    servers: nats.url,
    service: 'planner',
    instance: 'bench',
    ensureStream: true,
  });
  const key = generateSigningKey('bench');
  const keyFile = join(tmp, 'planner.pem');
  writeFileSync(keyFile, key.publicPem);
  const feed = await planFeed(planner, key.signing, opts.bucket);

  return {
    nats,
    cluster,
    tmp,
    feed,
    kubectl,
    async createNamespaces(prefix, count) {
      const file = join(tmp, `${prefix}-ns.yaml`);
      writeFileSync(
        file,
        Array.from({ length: count }, (_, i) =>
          stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: `${prefix}-${i}` } }),
        ).join('---\n'),
      );
      await kubectl('apply', '--server-side', '-f', file);
    },
    async startApplier(name, nodeArgs, env) {
      const port = await freePort();
      const logFile = join(tmp, `applier-${name}.log`);
      const proc = spawnTracked(process.execPath, nodeArgs, {
        cwd: root,
        env: {
          ...process.env,
          FLOTILLA_CLUSTER: name,
          FLOTILLA_NATS_SERVERS: nats.url,
          FLOTILLA_HTTP_PORT: String(port),
          FLOTILLA_KUBE_KUBECONFIG: cluster.kubeconfigPath,
          FLOTILLA_TRUSTED_KEYS: `bench=${keyFile}`,
          // A long apply (thousands of objects) must not be redelivered while it runs.
          FLOTILLA_CONSUMER_ACK_WAIT_MS: '120000',
          LOG_LEVEL: 'warn',
          ...env,
        },
        logFile,
      });
      for (;;) {
        if (proc.child.exitCode !== null) throw new Error(`applier ${name} exited; see ${logFile}`);
        const ok = await fetch(`http://127.0.0.1:${port}/readyz`).then(
          (r) => r.ok,
          () => false,
        );
        if (ok) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      return { proc, pid: proc.child.pid as number, logFile };
    },
    async close() {
      await planner.close().catch(() => {});
      await Promise.allSettled([nats.dispose(), cluster.stop()]);
      rmSync(tmp, { recursive: true, force: true });
    },
  };
}
