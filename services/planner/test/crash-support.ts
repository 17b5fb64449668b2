// Shared by the crash tests: the scene they start from, and the crashing planner they kill.
import { join, resolve } from 'node:path';
import { type Spawned, spawnTracked } from '@flotilla/test-support';
import { expect } from 'vitest';
import { createHarness, digestOf, fixtureFiles, type Harness } from './harness.ts';

const ROOT = resolve(import.meta.dirname, '../../..');

/** The image dev already runs, and test is due for. */
export const digest147 = digestOf('web-1.4.7');

/** dev already runs 1.4.7 and is healthy, so test (auto) is due for it as soon as the soak is over. */
export async function createDevAheadHarness(): Promise<Harness> {
  const files = await fixtureFiles();
  const devImage = files['clusters/dev/web-image.yaml'] as string;
  files['clusters/dev/web-image.yaml'] = devImage.replace(
    /web:1\.4\.0@sha256:[0-9a-f]{64}/,
    `web:1.4.7@${digest147}`,
  );
  const h = await createHarness({ files });
  h.simulateAppliers((p) => (p.cluster === 'dev' ? 'Current' : null));
  return h;
}

/**
 * Starts test/crashing-planner.ts against the harness; `crashAt` is its CRASH_AT (see there). Its
 * API listens on `port` (0: any free one, for tests that never call it).
 */
export function spawnCrashingPlanner(h: Harness, crashAt: string, port = 0): Spawned {
  const c = h.config();
  return spawnTracked(
    process.execPath,
    ['--import', 'tsx', join(import.meta.dirname, 'crashing-planner.ts')],
    {
      cwd: ROOT,
      logFile: join(c.workDir, '..', 'crashing-planner.log'),
      env: {
        ...process.env,
        CRASH_AT: crashAt,
        LOG_LEVEL: 'warn',
        FLOTILLA_INSTANCE: 'crashing',
        FLOTILLA_NATS_SERVERS: h.nats.url,
        FLOTILLA_HTTP_PORT: String(port),
        FLOTILLA_GIT_URL: h.repoUrl,
        FLOTILLA_GIT_REPO: h.repoName,
        FLOTILLA_WORK_DIR: c.workDir,
        FLOTILLA_SIGNING_KEY_ID: 'planner-test',
        FLOTILLA_SIGNING_KEY_FILE: h.keyFile,
        FLOTILLA_API_TOKENS: JSON.stringify(c.api.tokens),
        FLOTILLA_LEASE_TTL_MS: '2000',
        FLOTILLA_EVALUATE_INTERVAL_MS: '500',
      },
    },
  );
}

/** Waits for the crashing planner to die, and checks it died of the fault (not a clean exit). */
export async function crashed(s: Spawned, timeoutMs = 90_000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    s.exited,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error('planner did not crash')), timeoutMs);
    }),
  ]).finally(() => clearTimeout(timer));
  expect(s.child.exitCode === 0).toBe(false);
}
