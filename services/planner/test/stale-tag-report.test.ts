import { ImageTagDetected, ImageUpdateCommitted } from '@flotilla/events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PlannerHandle } from '../src/service.ts';
import { createHarness, digestOf, type Harness, trailers, WEB } from './harness.ts';

// A tag the registry moved is reported twice: 1.4.7 → A, then 1.4.7 → B. The older report can
// reach a planner after the newer one (redelivered after a held push or a crash, or held by an
// instance paused meanwhile) and, never committed, it has no commit its idempotency key finds.
// The tag state refuses it by stream sequence; the config repo must refuse it too.

type D = Record<string, unknown>;
let h: Harness;
let planner: PlannerHandle;

beforeAll(async () => {
  h = await createHarness();
  planner = await h.start();
});
afterAll(async () => {
  await h?.stop();
});

describe('an older report of a moved tag, handled after the newer one', () => {
  it('does not move the tag back in the config repo', async () => {
    const a = digestOf('web-1.4.7-first-build');
    const b = digestOf('web-1.4.7-rebuilt');
    // The older report: in the stream before the newer one, not delivered here until after it.
    const older = h.registry.event(ImageTagDetected, {
      image: WEB,
      tag: '1.4.7',
      digest: a,
      trigger: 'poll',
    });
    const newer = await h.registry.publish(ImageTagDetected, {
      image: WEB,
      tag: '1.4.7',
      digest: b,
      trigger: 'poll',
    });
    const committed = await h.events.wait<D>(ImageUpdateCommitted, (d) => d.digest === b);
    await h.drained();
    expect(await h.fileAtHead('clusters/dev/web-image.yaml')).toContain(`${WEB}:1.4.7@${b}`);

    await planner.planner.handle(older, newer.seq - 1);

    expect(await h.fileAtHead('clusters/dev/web-image.yaml')).toContain(`${WEB}:1.4.7@${b}`);
    expect((await trailers(h, 'Flotilla-Event')).map((t) => t.value)).toEqual([newer.event.id]);
    expect(await h.gitRepo('rev-parse', 'main')).toBe(committed.data.commit);
    expect(h.events.of(ImageUpdateCommitted).filter((e) => (e.data as D).digest === a)).toEqual([]);
  });
});
