import { ImageUpdateCommitted, PlanCreated, RollbackCommitted, StageLockChanged } from '@flotilla/events';
import { rawNats, waitFor, waitUntil } from '@flotilla/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PlannerHandle } from '../src/service.ts';
import { createHarness, digestOf, type Harness, TOKENS, trailers, WEB } from './harness.ts';
import './status-matcher.ts';

type D = Record<string, unknown>;
let h: Harness;
let planner: PlannerHandle;
const bad = digestOf('web-1.4.8-broken');

beforeAll(async () => {
  h = await createHarness();
  // Only dev reports (keeps the machine quiet); 1.4.8 comes up Failed there.
  h.simulateAppliers((p) =>
    p.cluster !== 'dev' ? null : p.bundleDigest === badBundle.digest ? 'Failed' : 'Current',
  );
  planner = await h.start();
  await h.events.wait(PlanCreated, (d: D) => d.cluster === 'dev');
});
afterAll(async () => {
  await h?.stop();
});

const badBundle = { digest: '' };

/**
 * Waits until the planner's status shows `sha` rendered, or a later revision built on it: a
 * healthy dev is promoted to test after a 1 s soak, so the rendered revision moves past `sha`
 * by itself, and on a loaded machine the status poll (queued behind that very promotion) may
 * never see `sha` itself.
 */
async function renderedAtOrAfter(sha: string): Promise<void> {
  await waitFor(
    `the planner to render ${sha}`,
    async () => {
      const { revision } = (await h.api(planner, 'GET', '/api/v1/stages', TOKENS.bob)).body;
      if (typeof revision !== 'string') return undefined;
      return revision === sha || (await isAncestor(sha, revision)) ? true : undefined;
    },
    { timeoutMs: 90_000, intervalMs: 200 },
  );
}

async function isAncestor(older: string, newer: string): Promise<boolean> {
  return await h.gitRepo('merge-base', '--is-ancestor', older, newer).then(
    () => true,
    () => false,
  );
}

describe('image automation, lock and rollback', () => {
  it('semver ~1.4 ignores 2.0.0 and picks 1.4.7 over 1.4.10-rc1', async () => {
    await h.tag('2.0.0', digestOf('web-2.0.0'));
    await h.tag('1.4.7', digestOf('web-1.4.7'));
    await h.tag('1.4.10-rc1', digestOf('web-1.4.10-rc1'));
    const update = await h.events.wait<D>(ImageUpdateCommitted);
    expect(update.data.tag).toBe('1.4.7');
    // Let the other two events be handled too, then check nothing else was committed.
    await h.tag('1.4.7', digestOf('web-1.4.7')); // same tag again (a re-scan): no second commit
    await h.drained();
    await renderedAtOrAfter(update.data.commit as string);
    expect(h.events.of(ImageUpdateCommitted)).toHaveLength(1);
    // One image-update commit (only those name a policy); anything after it is dev's
    // promotion to test, which carries the same image.
    expect(await trailers(h, 'Flotilla-Policy')).toEqual([{ sha: update.data.commit, value: 'web' }]);
    const later = await h.gitRepo('rev-list', `${update.data.commit}..main`);
    for (const sha of later.split('\n').filter(Boolean)) {
      expect(await h.gitRepo('log', '-1', '--format=%(trailers:key=Flotilla-To-Stage,valueonly)', sha)).toBe(
        'test',
      );
    }
    expect(
      await h.gitRepo(
        'log',
        '-1',
        '--format=%(trailers:key=Flotilla-Image,valueonly)',
        update.data.commit as string,
      ),
    ).toBe(`${WEB}:1.4.7@${digestOf('web-1.4.7')}`);
    expect(await h.fileAtHead('clusters/dev/web-image.yaml')).toContain(
      `${WEB}:1.4.7@${digestOf('web-1.4.7')}`,
    );
  });

  it('rolls dev back to its last healthy revision and keeps automation paused until unlocked', async () => {
    const good = await h.fileAtHead('clusters/dev/web-image.yaml');
    await h.events.wait<D>(PlanCreated, (d) => d.cluster === 'dev' && (d.sequence as number) === 2);
    // Wait until 1.4.7 is healthy in dev, so it becomes the last healthy revision.
    await waitUntil(
      'dev healthy on 1.4.7',
      async () => {
        const s = await h.api(planner, 'GET', '/api/v1/stages', TOKENS.bob);
        const dev = (s.body.stages as Array<{ lastHealthy: { images: Array<{ tag: string }> } | null }>)[0];
        return dev?.lastHealthy?.images[0]?.tag === '1.4.7';
      },
      { intervalMs: 200 },
    );
    const listener = rawNats(h.applier).nc.subscribe('flotilla.v1.plan.created.dev', { max: 1 });
    await h.tag('1.4.8', bad);
    for await (const m of listener)
      badBundle.digest = JSON.parse(new TextDecoder().decode(m.data)).data.bundle.digest;
    await h.events.wait<D>(PlanCreated, (d) => d.cluster === 'dev' && (d.sequence as number) === 3);

    const res = await h.api(planner, 'POST', '/api/v1/stages/dev/rollback', TOKENS.carol, {
      reason: '1.4.8 fails',
    });
    expect(res).toHaveStatus(200);
    const rb = await h.events.wait<D>(RollbackCommitted);
    expect(rb.data).toMatchObject({ stage: 'dev', by: 'user:carol', reason: '1.4.8 fails' });
    expect(rb.actor).toBe('user:carol');
    expect(await h.fileAtHead('clusters/dev/web-image.yaml')).toBe(good);
    const msg = await h.gitRepo('log', '-1', '--format=%B', rb.data.commit as string);
    expect(msg).toContain('Flotilla-Rollback: dev');
    expect(msg).toContain('Flotilla-Actor: user:carol');
    expect((await h.events.wait<D>(StageLockChanged, (d) => d.stage === 'dev')).data.locked).toBe(true);

    // A newer image while rolled back: ignored, nothing committed.
    await h.tag('1.4.9', digestOf('web-1.4.9'));
    await h.drained();
    expect(h.events.of(ImageUpdateCommitted, (d: D) => d.tag === '1.4.9')).toHaveLength(0);
    expect((await h.gitRepo('rev-parse', 'main')).trim()).toBe(rb.data.commit);

    const unlocked = await h.api(planner, 'POST', '/api/v1/stages/dev/unlock', TOKENS.alice);
    expect(unlocked).toHaveStatus(200);
    await h.events.wait<D>(StageLockChanged, (d) => d.stage === 'dev' && d.locked === false);
    await h.tag('1.4.10', digestOf('web-1.4.10'));
    expect((await h.events.wait<D>(ImageUpdateCommitted, (d) => d.tag === '1.4.10')).data.stage).toBe('dev');
  });

  it('a manually locked stage ignores new images; the API requires a token', async () => {
    expect(await h.api(planner, 'POST', '/api/v1/stages/dev/lock')).toHaveStatus(401);
    expect(
      await h.api(planner, 'POST', '/api/v1/stages/dev/lock', TOKENS.bob, { reason: 'freeze' }),
    ).toHaveStatus(200);
    const head = (await h.gitRepo('rev-parse', 'main')).trim();
    await h.tag('1.4.11', digestOf('web-1.4.11'));
    await h.drained();
    expect(h.events.of(ImageUpdateCommitted, (d: D) => d.tag === '1.4.11')).toHaveLength(0);
    expect((await h.gitRepo('rev-parse', 'main')).trim()).toBe(head);
  });
});
