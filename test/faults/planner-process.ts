import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import {
  programArgs,
  SHOP_CONFIG_FIXTURE,
  type Spawned,
  spawnTracked,
  stopProcess,
} from '@flotilla/test-support';
import { generateSigningKey } from '@flotilla/trust';
import { stringify as toYaml } from 'yaml';

/** The sample config repo's files (what a config repo holds at the start of a run). */
export function shopConfigFiles(): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const full = join(dir, name);
      if (statSync(full).isDirectory()) walk(full);
      else out[relative(SHOP_CONFIG_FIXTURE, full)] = readFileSync(full, 'utf8');
    }
  };
  walk(SHOP_CONFIG_FIXTURE);
  return out;
}

export interface PlannerProcess {
  readonly instance: string;
  readonly pid: number;
  readonly logFile: string;
  /** SIGSTOP / SIGCONT the whole process group (kubectl children too): a pause, not a crash. */
  pause(): void;
  resume(): void;
  /** SIGKILL the process group: a crash, nothing released. */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

export interface PlannerSetup {
  natsUrl: string;
  repoUrl: string;
  repoName: string;
  dir: string;
  ttlMs: number;
  consumer?: { maxDeliver: number; backoffMs: number[] };
  /** A fixed API port (default: any free port, which the test cannot learn). */
  httpPort?: number;
  apiTokens?: { token: string; name: string; roles: string[] }[];
  /**
   * Run the process under libfaketime (Debian `faketime`) with this offset (`+30s`, `-30s`): its
   * wall clock is that far off, as on a machine whose NTP broke.
   */
  faketime?: string;
  /** `sharded`: every instance serves its share of the pipelines (default: one leader). */
  mode?: 'single' | 'sharded';
}

/** Debian's libfaketime (the multi-threaded variant: node runs threads). */
export const LIBFAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1';

/** A signing key shared by the planners of one run. */
export function signingKeyFile(dir: string): string {
  const file = join(dir, 'signing.pem');
  writeFileSync(file, generateSigningKey('faults').privatePem, { mode: 0o600 });
  return file;
}

/** Starts the built planner bundle as its own process with a config file, as in an install. */
export function startPlannerProcess(s: PlannerSetup, keyFile: string, instance: string): PlannerProcess {
  const work = join(s.dir, instance);
  mkdirSync(work, { recursive: true });
  const configFile = join(s.dir, `${instance}.yaml`);
  writeFileSync(
    configFile,
    toYaml({
      instance,
      nats: { servers: [s.natsUrl] },
      http: { port: s.httpPort ?? 0, host: '127.0.0.1' },
      git: {
        url: s.repoUrl,
        branch: 'main',
        repo: s.repoName,
        authorName: 'Flotilla',
        authorEmail: 'flotilla@flotilla.invalid',
        signature: { policy: 'off' },
      },
      workDir: join(work, `w-${randomBytes(3).toString('hex')}`),
      pipelineFile: 'flotilla.yaml',
      signing: { keyId: 'faults', keyFile },
      api: { tokens: s.apiTokens ?? [] },
      lease: { ttlMs: s.ttlMs, mode: s.mode ?? 'single' },
      bundles: { bucket: 'flotilla-bundles' },
      stateBucket: 'planner-state',
      evaluateIntervalMs: 1000,
      kubectl: 'kubectl',
      kustomize: 'auto',
      renderConcurrency: 2,
      ...(s.consumer ? { consumer: s.consumer } : {}),
    }),
  );
  const logFile = join(s.dir, `${instance}.log`);
  if (s.faketime && !existsSync(LIBFAKETIME))
    throw new Error(`${LIBFAKETIME} is missing: apt-get install -y faketime (scripts/setup.sh installs it)`);
  const skew = s.faketime ? { LD_PRELOAD: LIBFAKETIME, FAKETIME: s.faketime } : {};
  const spawned: Spawned = spawnTracked(process.execPath, programArgs('planner'), {
    env: { ...process.env, ...skew, FLOTILLA_CONFIG: configFile, LOG_LEVEL: 'info' },
    logFile,
  });
  const pid = spawned.child.pid ?? 0;
  let paused = false;
  return {
    instance,
    pid,
    logFile,
    pause() {
      process.kill(-pid, 'SIGSTOP');
      paused = true;
    },
    resume() {
      process.kill(-pid, 'SIGCONT');
      paused = false;
    },
    async kill() {
      process.kill(-pid, 'SIGKILL');
      await spawned.exited;
    },
    async stop() {
      if (paused) process.kill(-pid, 'SIGCONT');
      await stopProcess(spawned);
    },
  };
}
