import { chmod, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DeadLettered, GitPushRejected, ImageUpdateCommitted, PlanCreated } from '@flotilla/events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, digestOf, type Harness, trailers } from './harness.ts';

type D = Record<string, unknown>;
let h: Harness;

beforeAll(async () => {
  h = await createHarness();
  // Few, fast redeliveries: a refusal must outlast maxDeliver here without the test waiting minutes.
  await h.start({ consumer: { maxDeliver: 2, backoffMs: [100, 300] } });
  await h.events.wait(PlanCreated, (d: D) => d.cluster === 'dev');
  await h.drained();
});
afterAll(async () => {
  await h?.stop();
});

describe('a config repo that refuses pushes', () => {
  it('holds the image update with GitPushRejected events past maxDeliver, and lands it once pushes are accepted', async () => {
    // A pre-receive hook on the real bare repo, like branch protection: refuses while the flag exists.
    const repo = h.git.path(h.repoName);
    const flag = join(repo, 'protected');
    await writeFile(flag, '');
    const hook = join(repo, 'hooks', 'pre-receive');
    await writeFile(
      hook,
      `#!/bin/sh\nif [ -e '${flag}' ]; then echo "main is protected: changes need a review" >&2; exit 1; fi\nexit 0\n`,
    );
    await chmod(hook, 0o755);

    const digest = digestOf('web-1.4.9');
    const tag = await h.tag('1.4.9', digest);
    // Attempts 1, 2, 4 raise events: the 4th is beyond maxDeliver (2), so the event was held, not dropped.
    const fourth = await h.events.wait<D>(GitPushRejected, (d) => d.attempts === 4);
    expect(fourth.data).toMatchObject({
      repo: h.repoName,
      branch: 'main',
      code: 'git.push-rejected',
      change: `Flotilla-Event: ${tag.id}`,
    });
    expect(fourth.data.message).toContain('pre-receive hook declined');
    expect(h.events.of<D>(GitPushRejected).map((e) => e.data.attempts)).toEqual([1, 2, 4]);
    expect(h.events.of(DeadLettered)).toEqual([]);
    expect(h.events.of(ImageUpdateCommitted)).toEqual([]);

    await rm(flag);
    const update = await h.events.wait<D>(ImageUpdateCommitted, (d) => d.tag === '1.4.9');
    expect(update.data).toMatchObject({ stage: 'dev', digest });
    expect((await trailers(h, 'Flotilla-Event')).filter((t) => t.value === tag.id)).toHaveLength(1);
    expect(await h.fileAtHead('clusters/dev/web-image.yaml')).toContain(digest);
    expect(h.events.of(DeadLettered)).toEqual([]);
  });
});
