import { execFile, execFileSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);
const repoRoot = resolve(import.meta.dirname, '../../..');

/**
 * The settings these machines need (runc, capped ulimits: notes/containers-without-docker.md);
 * every podman, buildah and podman-compose call made by tests uses them.
 */
export const CONTAINERS_CONF = join(repoRoot, 'deploy/containers/containers.conf');

export const containerEnv = (): NodeJS.ProcessEnv => ({
  ...process.env,
  CONTAINERS_CONF: process.env.CONTAINERS_CONF ?? CONTAINERS_CONF,
});

function onPath(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Why container tests cannot run here, or undefined when they can. Checked once per file at
 * collection time, so the skip reason is in the test name rather than a silently green run.
 */
export function podmanUnavailable(extra: string[] = []): string | undefined {
  const missing = ['podman', 'buildah', ...extra].filter((c) => !onPath(c));
  if (missing.length > 0)
    return `${missing.join(', ')} not installed (apt-get install podman buildah podman-compose; see notes/containers-without-docker.md)`;
  try {
    execFileSync('podman', ['info', '--format', '{{.Host.OCIRuntime.Name}}'], {
      env: containerEnv(),
      stdio: 'ignore',
      timeout: 30_000,
    });
  } catch (err) {
    return `podman cannot run here: ${(err as Error).message.split('\n')[0]}`;
  }
  return undefined;
}

/** Runs podman (or podman-compose with `bin`) with the machine's settings; resolves with stdout. */
export async function podman(
  args: string[],
  opts: { bin?: string; cwd?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<string> {
  try {
    const { stdout } = await execFileP(opts.bin ?? 'podman', args, {
      env: { ...containerEnv(), ...opts.env },
      cwd: opts.cwd ?? repoRoot,
      maxBuffer: 64 << 20,
      timeout: opts.timeoutMs ?? 120_000,
    });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string; message: string };
    throw new Error(`${opts.bin ?? 'podman'} ${args.join(' ')}: ${e.stderr || e.stdout || e.message}`);
  }
}

export const FLOTILLA_SERVICES = [
  'planner',
  'git-watcher',
  'registry-watcher',
  'audit-writer',
  'cluster-applier',
  'console',
] as const;
export type FlotillaService = (typeof FLOTILLA_SERVICES)[number];

/** The images `scripts/images.sh --compose-infra` makes for docker-compose.yml's infrastructure. */
export const COMPOSE_INFRA_IMAGES = {
  FLOTILLA_NATS_IMAGE: 'localhost/flotilla/nats:2.15.2',
  FLOTILLA_GIT_IMAGE: 'localhost/flotilla/git-daemon:latest',
  FLOTILLA_REGISTRY_IMAGE: 'localhost/flotilla/registry:2',
};

/**
 * Builds (or finds cached) every service image with scripts/images.sh, exactly as a release
 * does, and returns `localhost/flotilla/<service>:<version>` per service. Layers are cached, so
 * a second run after no change takes seconds.
 */
export async function buildImages(
  services: readonly FlotillaService[] = FLOTILLA_SERVICES,
  opts: { composeInfra?: boolean } = {},
): Promise<Record<FlotillaService, string>> {
  const infra = opts.composeInfra ? ['--compose-infra'] : [];
  await podman(['scripts/images.sh', '--only', services.join(','), ...infra], {
    bin: 'bash',
    timeoutMs: 30 * 60_000,
  });
  const version = (await import(join(repoRoot, 'package.json'), { with: { type: 'json' } })).default
    .version as string;
  const refs = {} as Record<FlotillaService, string>;
  for (const s of services) refs[s] = `localhost/flotilla/${s}:${version}`;
  return refs;
}

/** The repository root, for tests that mount files of the checkout (deploy/…). */
export const REPO_ROOT = repoRoot;
