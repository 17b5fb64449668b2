import { waitUntil } from '@flotilla/test-support/wait';
import { describe, expect, it } from 'vitest';
import type { CheckResult } from './image-checker.ts';
import { imageLoop } from './image-loop.ts';
import type { TagHint } from './tag-diff.ts';
import type { WatchedImage } from './watched-image.ts';

const image: WatchedImage = {
  image: 'registry.test/team/app',
  registry: 'registry.test',
  repository: 'team/app',
  tagFilter: undefined,
  mutableTags: undefined,
  intervalMs: 5,
  maxTags: 100,
  insecure: false,
  credentials: undefined,
  credentialsId: 'none',
};

const ok: CheckResult = {
  detected: 0,
  moved: 0,
  removed: 0,
  deferred: 0,
  tagsNotModified: false,
  truncated: false,
  listed: 0,
  unsettled: [],
};

const until = (what: string, cond: () => boolean) => waitUntil(what, cond, { intervalMs: 5 });

describe('ImageLoop', () => {
  it('does not let a hint that fails its check poison every later check', async () => {
    const calls: TagHint[][] = [];
    const loop = imageLoop({
      image,
      jitter: 0,
      maxBackoffMs: 10,
      initialDelayMs: 0,
      random: () => 0.5,
      // A check fails whenever it is handed the bad hint (as a schema-invalid tag once did).
      run: async (_trigger, hints) => {
        calls.push(hints);
        if (hints.some((h) => h.tag === 'bad')) throw Object.assign(new Error('boom'), { code: 'X' });
        return ok;
      },
      onSuccess: () => {},
      onFailure: () => {},
      report: async () => {},
    });
    void loop.trigger([{ tag: 'bad' }]);
    await until('a check without the bad hint succeeds', () =>
      calls.some((h) => !h.some((x) => x.tag === 'bad')),
    );
    // Later webhook checks run without it.
    const before = calls.length;
    void loop.trigger([{ tag: 'good' }]);
    await until(
      'the next webhook check',
      () => calls.length > before && calls.some((h) => h[0]?.tag === 'good'),
    );
    await loop.stop();
    const withBad = calls.filter((h) => h.some((x) => x.tag === 'bad'));
    expect(withBad.length).toBeGreaterThanOrEqual(2);
    expect(withBad.length).toBeLessThanOrEqual(5);
    expect(calls.find((h) => h[0]?.tag === 'good')).toEqual([{ tag: 'good' }]);
  });
});
