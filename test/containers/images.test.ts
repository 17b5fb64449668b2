import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  buildImages,
  FLOTILLA_SERVICES,
  type FlotillaService,
  freePort,
  type GitServer,
  type NatsServer,
  podman,
  podmanUnavailable,
  type ServiceContainerConfig,
  serviceContainerConfig,
  serviceRunArgs,
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

const unavailable = podmanUnavailable();

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
    let runConfig: ServiceContainerConfig;

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'flotilla-images-'));
      chmodSync(dir, 0o755);
      [images, nats, git, cluster] = await Promise.all([
        buildImages(),
        startNats(),
        startGitServer(),
        startTestCluster('images', { kwok: false }),
      ]);
      runConfig = await serviceContainerConfig({ nats, git, cluster, dir });
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
        containers.push(name);
        await podman([...serviceRunArgs(runConfig, service, name, port), images[service]]);

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
