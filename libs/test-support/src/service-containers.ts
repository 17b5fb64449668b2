import { execFile } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { GitServer } from './git-server.ts';
import type { NatsServer } from './nats-server.ts';
import { type FlotillaService, REPO_ROOT } from './podman.ts';
import type { TestCluster } from './test-cluster.ts';

const run = promisify(execFile);
const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** What `podman run` of each service image needs: its environment and its mounted files. */
export interface ServiceContainerConfig {
  env: Record<FlotillaService, Record<string, string>>;
  mounts: Partial<Record<FlotillaService, string[]>>;
}

/**
 * The configuration each service image runs with against real NATS, git and (for the applier) a
 * real apiserver reached through the in-cluster path: the install's RBAC applied to `cluster`
 * (overlay cluster-dev), a ServiceAccount token and the cluster CA written under `dir` to be
 * mounted where Kubernetes mounts them, KUBERNETES_SERVICE_HOST/PORT set. Used by the image test
 * and the image benchmark, so both run the images the same way. Containers use the host network.
 * Creates the repositories `config` and `audit` on `git`.
 */
export async function serviceContainerConfig(opts: {
  nats: NatsServer;
  git: GitServer;
  cluster: TestCluster;
  dir: string;
}): Promise<ServiceContainerConfig> {
  const { nats, git, cluster, dir } = opts;
  await git.createRepo('config', { files: { 'README.md': 'config\n' } });
  await git.createRepo('audit', { files: { 'README.md': 'audit\n' } });

  // Files the services read run as uid 10001 in the container: world-readable here.
  const file = (name: string, content: string) => {
    const p = join(dir, name);
    writeFileSync(p, content, { mode: 0o644 });
    return p;
  };
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const key = file('planner-1.pem', privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
  const pub = file('planner-1.pub.pem', publicKey.export({ type: 'spki', format: 'pem' }) as string);

  // The applier's ServiceAccount with the RBAC the install ships (overlay cluster-dev), and a
  // token for it, mounted as the kubelet would.
  const kubectl = (args: string[]) =>
    run('kubectl', ['--kubeconfig', cluster.kubeconfigPath, ...args], { maxBuffer: 16 << 20 });
  for (const ns of ['shop', 'shop-jobs', 'payments']) await kubectl(['create', 'namespace', ns]);
  const { stdout: rendered } = await run(
    'kubectl',
    ['kustomize', join(REPO_ROOT, 'deploy/kustomize/overlays/cluster-dev')],
    { maxBuffer: 16 << 20 },
  );
  const manifests = file('applier-rbac.yaml', rendered);
  await kubectl(['apply', '--server-side', '--field-manager=flotilla-install', '-f', manifests]);
  const { stdout: token } = await kubectl([
    'create',
    'token',
    'flotilla-applier',
    '-n',
    'flotilla-system',
    '--duration=1h',
  ]);
  const sa = join(dir, 'serviceaccount');
  mkdirSync(sa, { mode: 0o755 });
  const ca = Buffer.from(cluster.kubeConfig.getCurrentCluster()?.caData ?? '', 'base64');
  for (const [name, content] of [
    ['token', token.trim()],
    ['ca.crt', ca.toString('utf8')],
    ['namespace', 'flotilla-system'],
  ] as const)
    writeFileSync(join(sa, name), content, { mode: 0o644 });
  const apiserver = new URL(cluster.server);

  const natsEnv = { FLOTILLA_NATS_SERVERS: nats.url };
  return {
    env: {
      planner: {
        ...natsEnv,
        FLOTILLA_GIT_URL: git.url('config'),
        FLOTILLA_WORK_DIR: '/tmp/planner',
        FLOTILLA_SIGNING_KEY_ID: 'planner-1',
        FLOTILLA_SIGNING_KEY_FILE: '/run/secrets/planner-1.pem',
        FLOTILLA_API_TOKENS: JSON.stringify([{ token: randomBytes(16).toString('hex'), name: 'alice' }]),
      },
      'git-watcher': {
        ...natsEnv,
        FLOTILLA_REPOSITORIES: JSON.stringify([{ name: 'config', url: git.url('config'), branch: 'main' }]),
        FLOTILLA_CACHE_DIR: '/tmp/git-watcher',
      },
      'registry-watcher': {
        ...natsEnv,
        FLOTILLA_IMAGES: JSON.stringify([{ image: '127.0.0.1:5999/shop/web', insecure: true }]),
      },
      'audit-writer': {
        ...natsEnv,
        FLOTILLA_AUDIT_URL: git.url('audit'),
        FLOTILLA_AUDIT_DIR: '/tmp/audit',
        FLOTILLA_CONFIG_REPO_URL: git.url('config'),
        FLOTILLA_CONFIG_REPO_DIR: '/tmp/audit-config',
      },
      'cluster-applier': {
        ...natsEnv,
        FLOTILLA_CLUSTER: 'dev',
        FLOTILLA_KUBE_IN_CLUSTER: 'true',
        KUBERNETES_SERVICE_HOST: apiserver.hostname,
        KUBERNETES_SERVICE_PORT: apiserver.port,
        FLOTILLA_TRUSTED_KEYS: 'planner-1=/etc/flotilla/trusted-keys/planner-1.pem',
      },
      console: {
        ...natsEnv,
        FLOTILLA_PLANNER_URL: 'http://127.0.0.1:1',
        FLOTILLA_AUDIT_URL: 'http://127.0.0.1:1',
        FLOTILLA_SESSION_SECRET: randomBytes(32).toString('hex'),
      },
    },
    mounts: {
      planner: [`${key}:/run/secrets/planner-1.pem:ro`],
      'cluster-applier': [`${sa}:${SA_DIR}:ro`, `${pub}:/etc/flotilla/trusted-keys/planner-1.pem:ro`],
    },
  };
}

/** `podman run -d` arguments for a service image as users run it: read-only root, host network. */
export function serviceRunArgs(
  config: ServiceContainerConfig,
  service: FlotillaService,
  name: string,
  port: number,
): string[] {
  const args = ['run', '-d', '--name', name, '--read-only', '--network', 'host'];
  for (const [k, v] of Object.entries({ ...config.env[service], FLOTILLA_HTTP_PORT: String(port) }))
    args.push('-e', `${k}=${v}`);
  for (const m of config.mounts[service] ?? []) args.push('-v', m);
  return args;
}
