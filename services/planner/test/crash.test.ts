import { PromotionCommitted, PromotionProposed } from '@flotilla/events';
import { type Spawned, stopProcess } from '@flotilla/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  crashed,
  createDevAheadHarness,
  digest147 as digest,
  spawnCrashingPlanner,
} from './crash-support.ts';
import { type Harness, trailers, WEB } from './harness.ts';

type D = Record<string, unknown>;
let h: Harness;
let child: Spawned | undefined;

beforeAll(async () => {
  h = await createDevAheadHarness();
});
afterAll(async () => {
  if (child) await stopProcess(child, 1000);
  await h?.stop();
});

describe('planner killed mid-promotion', () => {
  it('leaves exactly one promotion commit after a restart, and finishes the promotion', async () => {
    child = spawnCrashingPlanner(h, 'promotion-push');
    const proposed = await h.events.wait<D>(PromotionProposed, (d) => d.toStage === 'test', 90_000);
    const id = proposed.data.promotionId as string;
    await crashed(child, 60_000);
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
