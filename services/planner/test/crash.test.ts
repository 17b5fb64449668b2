import { join, resolve } from 'node:path';
import { PromotionCommitted, PromotionProposed } from '@flotilla/events';
import { type Spawned, spawnTracked, stopProcess } from '@flotilla/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, digestOf, fixtureFiles, type Harness, trailers, WEB } from './harness.ts';

type D = Record<string, unknown>;
const ROOT = resolve(import.meta.dirname, '../../..');
const digest = digestOf('web-1.4.7');
let h: Harness;
let child: Spawned | undefined;

beforeAll(async () => {
  // dev already runs 1.4.7; test is due for it as soon as dev is healthy for the soak.
  const files = await fixtureFiles();
  const devImage = files['clusters/dev/web-image.yaml'] as string;
  files['clusters/dev/web-image.yaml'] = devImage.replace(
    /web:1\.4\.0@sha256:[0-9a-f]{64}/,
    `web:1.4.7@${digest}`,
  );
  h = await createHarness({ files });
  h.simulateAppliers((p) => (p.cluster === 'dev' ? 'Current' : null));
});
afterAll(async () => {
  if (child) await stopProcess(child, 1000);
  await h?.stop();
});

describe('planner killed mid-promotion', () => {
  it('leaves exactly one promotion commit after a restart, and finishes the promotion', async () => {
    const c = h.config();
    child = spawnTracked(
      process.execPath,
      ['--import', 'tsx', join(import.meta.dirname, 'crashing-planner.ts')],
      {
        cwd: ROOT,
        logFile: join(c.workDir, '..', 'crashing-planner.log'),
        env: {
          ...process.env,
          LOG_LEVEL: 'warn',
          FLOTILLA_INSTANCE: 'crashing',
          FLOTILLA_NATS_SERVERS: h.nats.url,
          FLOTILLA_HTTP_PORT: '0',
          FLOTILLA_GIT_URL: h.repoUrl,
          FLOTILLA_GIT_REPO: h.repoName,
          FLOTILLA_WORK_DIR: c.workDir,
          FLOTILLA_SIGNING_KEY_ID: 'planner-test',
          FLOTILLA_SIGNING_KEY_FILE: h.keyFile,
          FLOTILLA_API_TOKENS: JSON.stringify(c.api.tokens),
          FLOTILLA_LEADER_TTL_MS: '2000',
          FLOTILLA_EVALUATE_INTERVAL_MS: '500',
        },
      },
    );
    const proposed = await h.events.wait<D>(PromotionProposed, (d) => d.toStage === 'test', 90_000);
    const id = proposed.data.promotionId as string;
    await Promise.race([
      child.exited,
      new Promise((_, reject) => setTimeout(() => reject(new Error('planner did not crash')), 60_000)),
    ]);
    expect(child.child.exitCode === 0).toBe(false);
    const pushed = (await trailers(h, 'Flotilla-Promotion')).filter((t) => t.value === id);
    expect(pushed).toHaveLength(1);
    expect(h.events.of(PromotionCommitted)).toHaveLength(0);

    // A new instance takes over once the dead one's lease expires, and completes the promotion.
    await h.start();
    const committed = await h.events.wait<D>(PromotionCommitted, (d) => d.promotionId === id, 60_000);
    expect(committed.data.commit).toBe(pushed[0]?.sha);
    await h.drained();
    expect((await trailers(h, 'Flotilla-Promotion')).filter((t) => t.value === id)).toHaveLength(1);
    expect(await h.fileAtHead('clusters/test/web-image.yaml')).toContain(`${WEB}:1.4.7@${digest}`);
  });
});
