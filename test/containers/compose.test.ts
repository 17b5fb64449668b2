import { execFile } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  buildImages,
  COMPOSE_INFRA_IMAGES,
  copyFixture,
  freePort,
  podman,
  podmanUnavailable,
  REPO_ROOT,
  SHOP_CONFIG_FIXTURE,
  startGitServer,
  startTestCluster,
  type TestCluster,
  waitFor,
} from '@flotilla/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// docker-compose.yml, unchanged, under podman-compose: init making the secrets, NATS over TLS
// with the install's nkey authorization, the bootstrap, git, registry, the five services and the
// console from the images scripts/images.sh builds, dev's bundles sealed to its applier. The
// applier reaches a real apiserver through the in-cluster path (ServiceAccount token + CA mounted
// at /var/run/secrets/kubernetes.io/serviceaccount, KUBERNETES_SERVICE_HOST/PORT). Every service
// must become ready (bound to NATS under its own identity), and an image pushed into compose's
// registry must end up, by digest, in the cluster's Deployment: registry-watcher → planner's
// commit and signed, sealed plan → the applier's apply.
// Optional: skipped, with the reason in its name, where podman or podman-compose is missing.

const run = promisify(execFile);
const unavailable = podmanUnavailable(['podman-compose']);

// The test apiserver listens on 127.0.0.1 with a certificate for 127.0.0.1 and 10.0.0.1 only. The
// project network is made with gateway 10.0.0.1 (the host's side of the bridge), and a relay on
// that address forwards to the apiserver: containers dial https://10.0.0.1:<port> and the name
// checks out, as kubernetes.default.svc would in a cluster.
const GATEWAY = '10.0.0.1';

/** Forwards connections to `host:port` on to `target` (resolves once listening). */
function relay(host: string, port: number, target: { host: string; port: number }): Promise<Server> {
  const server = createServer((client) => {
    const upstream = createConnection(target);
    client.pipe(upstream).pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}

const SERVICES = {
  planner: 'FLOTILLA_PLANNER_PORT',
  'git-watcher': 'FLOTILLA_GIT_WATCHER_PORT',
  'registry-watcher': 'FLOTILLA_REGISTRY_WATCHER_PORT',
  'audit-writer': 'FLOTILLA_AUDIT_WRITER_PORT',
  'cluster-applier': 'FLOTILLA_CLUSTER_APPLIER_PORT',
  console: 'FLOTILLA_CONSOLE_PORT',
} as const;

describe.skipIf(unavailable)(
  `docker-compose.yml under podman-compose${unavailable ? ` (SKIPPED: ${unavailable})` : ''}`,
  () => {
    const project = `flotilla-compose-${randomBytes(3).toString('hex')}`;
    const network = `${project}_default`;
    let dir: string;
    let cluster: TestCluster;
    let kubeRelay: Server | undefined;
    const env: Record<string, string> = {};
    const compose = (args: string[], timeoutMs = 300_000) =>
      podman(['-p', project, ...args], { bin: 'podman-compose', env, timeoutMs });

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'flotilla-compose-'));
      chmodSync(dir, 0o755);
      [, cluster] = await Promise.all([
        buildImages(undefined, { composeInfra: true }),
        // KWOK: Deployments roll out. The applier waits for a plan's health before it applies
        // the pipeline's next plan, so the pushed image's plan needs the first one healthy.
        startTestCluster('compose', { kwok: true }),
      ]);

      // The config and audit repositories the git service serves. The config repo is the sample
      // one with dev as its only stage (no appliers run for the others here), watching compose's
      // registry, and without the Namespace: the applier's RBAC (the install's) does not let it
      // create namespaces, so `shop` is made up front below, as a platform team would.
      const git = await startGitServer({ dir: join(dir, 'git') });
      const files = copyFixture(SHOP_CONFIG_FIXTURE, 'registry:5000');
      for (const path of Object.keys(files))
        if (/^clusters\/(test|uat|prod)\/|^apps\/web\/namespace\.yaml$/.test(path)) delete files[path];
      files['apps/web/kustomization.yaml'] = (files['apps/web/kustomization.yaml'] ?? '').replace(
        '  - namespace.yaml\n',
        '',
      );
      const pipeline = files['flotilla.yaml'] ?? '';
      files['flotilla.yaml'] =
        pipeline.slice(0, pipeline.indexOf('    - name: test')) +
        pipeline.slice(pipeline.indexOf('  images:'));
      await git.createRepo('shop-config', { files });
      await git.createRepo('audit', { files: { 'README.md': 'audit\n' } });
      await git.stop();
      await run('chmod', ['-R', 'a+rwX', join(dir, 'git')]);

      const { privateKey, publicKey } = generateKeyPairSync('ed25519');
      writeFileSync(join(dir, 'planner-1.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }), {
        mode: 0o644,
      });
      writeFileSync(join(dir, 'planner-1.pub.pem'), publicKey.export({ type: 'spki', format: 'pem' }), {
        mode: 0o644,
      });

      // The applier's ServiceAccount with the RBAC the install ships, its token mounted as the
      // kubelet mounts it.
      const kubectl = (args: string[]) =>
        run('kubectl', ['--kubeconfig', cluster.kubeconfigPath, ...args], { maxBuffer: 16 << 20 });
      for (const ns of ['shop', 'shop-jobs', 'payments']) await kubectl(['create', 'namespace', ns]);
      const { stdout: rendered } = await run(
        'kubectl',
        ['kustomize', join(REPO_ROOT, 'deploy/kustomize/overlays/cluster-dev')],
        { maxBuffer: 16 << 20 },
      );
      writeFileSync(join(dir, 'applier.yaml'), rendered);
      await kubectl([
        'apply',
        '--server-side',
        '--field-manager=flotilla-install',
        '-f',
        join(dir, 'applier.yaml'),
      ]);
      const { stdout: token } = await kubectl([
        'create',
        'token',
        'flotilla-applier',
        '-n',
        'flotilla-system',
      ]);
      const sa = join(dir, 'serviceaccount');
      mkdirSync(sa, { mode: 0o755 });
      writeFileSync(join(sa, 'token'), token.trim(), { mode: 0o644 });
      writeFileSync(
        join(sa, 'ca.crt'),
        Buffer.from(cluster.kubeConfig.getCurrentCluster()?.caData ?? '', 'base64'),
        { mode: 0o644 },
      );
      writeFileSync(join(sa, 'namespace'), 'flotilla-system', { mode: 0o644 });

      await podman(['network', 'create', '--subnet', '10.0.0.0/24', '--gateway', GATEWAY, network]);
      // The bridge comes up with the first container; the relay binds once the address exists.
      const apiserver = new URL(cluster.server);
      Object.assign(env, COMPOSE_INFRA_IMAGES, {
        FLOTILLA_DATA: dir,
        FLOTILLA_NATS_PORT: String(await freePort()),
        FLOTILLA_GIT_PORT: String(await freePort()),
        FLOTILLA_REGISTRY_PORT: String(await freePort()),
        KUBERNETES_SERVICE_HOST: GATEWAY,
      });
      for (const v of Object.values(SERVICES)) env[v] = String(await freePort());
      // The relay's port must be known before `up`; reserve one on loopback, reuse its number.
      const kubePort = await freePort();
      env.KUBERNETES_SERVICE_PORT = String(kubePort);
      await compose(['up', '-d', '--no-build', 'nats']);
      await waitFor(
        `bridge address ${GATEWAY}`,
        async () => {
          kubeRelay = await relay(GATEWAY, kubePort, {
            host: '127.0.0.1',
            port: Number(apiserver.port),
          }).catch(() => undefined);
          return kubeRelay ? true : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 250 },
      );
      await compose(['up', '-d', '--no-build']);
    }, 40 * 60_000);

    afterAll(async () => {
      await compose(['down', '-v', '-t', '2']).catch(() => undefined);
      await podman(['network', 'rm', '-f', network]).catch(() => undefined);
      kubeRelay?.close();
      await cluster?.stop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    }, 180_000);

    it('nats-bootstrap provisions NATS with the admin identity and exits 0', async () => {
      const name = `${project}_nats-bootstrap_1`;
      const code = await waitFor(
        'nats-bootstrap to finish',
        async () => {
          const s = JSON.parse(await podman(['inspect', '--format', '{{json .State}}', name])) as {
            Running: boolean;
            ExitCode: number;
          };
          return s.Running || s.ExitCode !== 0 ? undefined : s.ExitCode;
        },
        { timeoutMs: 180_000, intervalMs: 500 },
      ).catch(async (err: Error) => {
        throw new Error(`${err.message}\n${await podman(['logs', name]).catch(String)}`);
      });
      expect(code).toBe(0);
      expect(await podman(['logs', name])).toMatch(/stream\s+FLOTILLA_EVENTS/);
    }, 200_000);

    it.each(Object.keys(SERVICES) as (keyof typeof SERVICES)[])(
      '%s: ready (NATS bound under its own identity) from its image',
      async (service) => {
        const port = env[SERVICES[service]];
        const ready = await waitFor(
          `${service} /readyz`,
          async () => {
            const res = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined);
            return res?.status === 200 ? ((await res.json()) as unknown) : undefined;
          },
          { timeoutMs: 180_000, intervalMs: 500 },
        ).catch(async (err: Error) => {
          const logs = await podman(['logs', '--tail', '40', `${project}_${service}_1`]).catch(String);
          throw new Error(`${err.message}\n--- ${service} logs ---\n${logs}`);
        });
        expect(ready).toBeTruthy();
        const health = await fetch(`http://127.0.0.1:${port}/healthz`);
        expect(health.status).toBe(200);
      },
      200_000,
    );

    it("an image pushed into compose's registry is applied to the cluster by digest", async () => {
      // A one-file image (distinct per run) pushed from the host, as CI would push a release.
      const tag = `1.4.${(Date.now() % 100_000) + 1}`;
      const local = `localhost/${project}-web:${tag}`;
      const ctr = (await podman(['from', '--quiet', 'scratch'], { bin: 'buildah' })).trim();
      const content = join(dir, 'version.txt');
      writeFileSync(content, `${project} ${tag}\n`);
      await podman(['copy', '--quiet', ctr, content, '/version.txt'], { bin: 'buildah' });
      await podman(['commit', '--quiet', '--rm', ctr, local], { bin: 'buildah' });
      const digestFile = join(dir, 'web.digest');
      await podman([
        'push',
        '--quiet',
        '--tls-verify=false',
        '--digestfile',
        digestFile,
        local,
        `docker://127.0.0.1:${env.FLOTILLA_REGISTRY_PORT}/shop/web:${tag}`,
      ]);
      await podman(['rmi', local]);
      const digest = readFileSync(digestFile, 'utf8').trim();
      expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);

      const image = await waitFor(
        `shop/web Deployment at ${digest}`,
        async () => {
          const { stdout } = await run(
            'kubectl',
            [
              '--kubeconfig',
              cluster.kubeconfigPath,
              'get',
              'deployment',
              'web',
              '-n',
              'shop',
              '-o',
              'jsonpath={.spec.template.spec.containers[0].image}',
            ],
            { maxBuffer: 1 << 20 },
          ).catch(() => ({ stdout: '' }));
          return stdout.endsWith(`@${digest}`) ? stdout : undefined;
        },
        { timeoutMs: 240_000, intervalMs: 1000 },
      ).catch(async (err: Error) => {
        const logs = await Promise.all(
          ['registry-watcher', 'planner', 'cluster-applier'].map(
            async (s) =>
              `--- ${s} ---\n${await podman(['logs', '--tail', '30', `${project}_${s}_1`]).catch(String)}`,
          ),
        );
        throw new Error(`${err.message}\n${logs.join('\n')}`);
      });
      expect(image).toBe(`registry:5000/shop/web:${tag}@${digest}`);
      // Applied by the applier (its field manager), not by anyone else.
      const { stdout: managers } = await run('kubectl', [
        '--kubeconfig',
        cluster.kubeconfigPath,
        'get',
        'deployment',
        'web',
        '-n',
        'shop',
        '--show-managed-fields',
        '-o',
        'jsonpath={.metadata.managedFields[*].manager}',
      ]);
      expect(managers.split(' ')).toContain('flotilla');
    }, 300_000);

    it('the applier runs on the in-cluster path and holds its lease in the cluster', async () => {
      const { stdout } = await run('kubectl', [
        '--kubeconfig',
        cluster.kubeconfigPath,
        'get',
        'lease',
        '-n',
        'flotilla-system',
        '-o',
        'jsonpath={.items[*].spec.holderIdentity}',
      ]);
      expect(stdout.trim()).not.toBe('');
    });
  },
);
