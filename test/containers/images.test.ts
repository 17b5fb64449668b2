import { execFile } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  buildImages,
  FLOTILLA_SERVICES,
  type FlotillaService,
  freePort,
  type GitServer,
  type NatsServer,
  podman,
  podmanUnavailable,
  REPO_ROOT,
  startGitServer,
  startNats,
  startTestCluster,
  type TestCluster,
  waitFor,
} from '@flotilla/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// Every service image starts as users run it: `podman run` of the image scripts/images.sh built,
// read-only root filesystem, its own non-root user, tini as PID 1, configured only through the
// environment and mounted files, against real NATS, git and (for the applier) a real apiserver
// reached through the in-cluster path: a ServiceAccount token and CA mounted where Kubernetes
// mounts them, KUBERNETES_SERVICE_HOST/PORT set. Each must answer /healthz, then stop cleanly on
// SIGTERM. Optional: skipped, with the reason in its name, where podman is not installed.

const run = promisify(execFile);
const unavailable = podmanUnavailable();
const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

describe.skipIf(unavailable)(
  `service images start and answer /healthz${unavailable ? ` (SKIPPED: ${unavailable})` : ''}`,
  () => {
    let images: Record<FlotillaService, string>;
    let nats: NatsServer;
    let git: GitServer;
    let cluster: TestCluster;
    let dir: string;
    const containers: string[] = [];
    const runId = randomBytes(4).toString('hex');
    const env: Record<FlotillaService, Record<string, string>> = {} as never;
    const mounts: Partial<Record<FlotillaService, string[]>> = {};

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'flotilla-images-'));
      chmodSync(dir, 0o755);
      [images, nats, git, cluster] = await Promise.all([
        buildImages(),
        startNats(),
        startGitServer(),
        startTestCluster('images', { kwok: false }),
      ]);
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

      // The applier's ServiceAccount with the RBAC the install ships (overlay cluster-dev minus
      // its Deployment), and a token for it, mounted as the kubelet would.
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
      env.planner = {
        ...natsEnv,
        FLOTILLA_GIT_URL: git.url('config'),
        FLOTILLA_WORK_DIR: '/tmp/planner',
        FLOTILLA_SIGNING_KEY_ID: 'planner-1',
        FLOTILLA_SIGNING_KEY_FILE: '/run/secrets/planner-1.pem',
        FLOTILLA_API_TOKENS: JSON.stringify([{ token: randomBytes(16).toString('hex'), name: 'alice' }]),
      };
      mounts.planner = [`${key}:/run/secrets/planner-1.pem:ro`];
      env['git-watcher'] = {
        ...natsEnv,
        FLOTILLA_REPOSITORIES: JSON.stringify([{ name: 'config', url: git.url('config'), branch: 'main' }]),
        FLOTILLA_CACHE_DIR: '/tmp/git-watcher',
      };
      env['registry-watcher'] = {
        ...natsEnv,
        FLOTILLA_IMAGES: JSON.stringify([{ image: '127.0.0.1:5999/shop/web', insecure: true }]),
      };
      env['audit-writer'] = {
        ...natsEnv,
        FLOTILLA_AUDIT_URL: git.url('audit'),
        FLOTILLA_AUDIT_DIR: '/tmp/audit',
        FLOTILLA_CONFIG_REPO_URL: git.url('config'),
        FLOTILLA_CONFIG_REPO_DIR: '/tmp/audit-config',
      };
      env['cluster-applier'] = {
        ...natsEnv,
        FLOTILLA_CLUSTER: 'dev',
        FLOTILLA_KUBE_IN_CLUSTER: 'true',
        KUBERNETES_SERVICE_HOST: apiserver.hostname,
        KUBERNETES_SERVICE_PORT: apiserver.port,
        FLOTILLA_TRUSTED_KEYS: 'planner-1=/etc/flotilla/trusted-keys/planner-1.pem',
      };
      mounts['cluster-applier'] = [
        `${sa}:${SA_DIR}:ro`,
        `${pub}:/etc/flotilla/trusted-keys/planner-1.pem:ro`,
      ];
      env.console = {
        ...natsEnv,
        FLOTILLA_PLANNER_URL: 'http://127.0.0.1:1',
        FLOTILLA_AUDIT_URL: 'http://127.0.0.1:1',
        FLOTILLA_SESSION_SECRET: randomBytes(32).toString('hex'),
      };
    }, 40 * 60_000);

    afterAll(async () => {
      for (const c of containers) await podman(['rm', '-f', '-t', '2', c]).catch(() => undefined);
      await Promise.all([nats?.dispose(), git?.stop(), cluster?.stop()]);
      if (dir) rmSync(dir, { recursive: true, force: true });
    }, 120_000);

    it.each(FLOTILLA_SERVICES)(
      '%s: runs as uid 10001 under tini with a read-only root, answers /healthz, exits 0 on SIGTERM',
      async (service) => {
        const name = `flotilla-image-${service}-${runId}`;
        const port = await freePort();
        const args = ['run', '-d', '--name', name, '--read-only', '--network', 'host'];
        for (const [k, v] of Object.entries({ ...env[service], FLOTILLA_HTTP_PORT: String(port) }))
          args.push('-e', `${k}=${v}`);
        for (const m of mounts[service] ?? []) args.push('-v', m);
        containers.push(name);
        await podman([...args, images[service]]);

        const state = async () =>
          JSON.parse(await podman(['inspect', '--format', '{{json .State}}', name])) as {
            Running: boolean;
            ExitCode: number;
          };
        const health = await waitFor(
          `${service} /healthz`,
          async () => {
            const s = await state();
            if (!s.Running) throw new Error(`exited ${s.ExitCode}: ${await podman(['logs', name])}`);
            const res = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined);
            return res?.status === 200 ? await res.json() : undefined;
          },
          { timeoutMs: 60_000, intervalMs: 200 },
        ).catch(async (err: Error) => {
          throw new Error(`${err.message}\n--- logs ---\n${await podman(['logs', name]).catch(String)}`);
        });
        expect(health).toBeTruthy();

        const config = JSON.parse(
          await podman(['inspect', '--format', '{{json .Config}}', images[service]]),
        ) as { User: string; Entrypoint: string[] };
        expect(config.User).toBe('10001:10001');
        expect(config.Entrypoint.slice(0, 2)).toEqual(['/usr/bin/tini', '--']);
        const top = await podman(['top', name, 'user', 'args']);
        // PID 1 is tini, as the image's user (flotilla, uid 10001), with node under it.
        expect(top).toMatch(/^flotilla\s+\/usr\/bin\/tini -- node /m);
        expect(top).toMatch(/^flotilla\s+node /m);

        await podman(['stop', '-t', '15', name]);
        expect((await state()).ExitCode, await podman(['logs', name])).toBe(0);
      },
      120_000,
    );
  },
);
