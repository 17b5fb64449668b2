import { Bus } from '@flotilla/bus';
import { ImageScanFailed, ImageTagDetected, ImageTagMoved } from '@flotilla/events';
import { scrapeMetric } from '@flotilla/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RegistryWatcher } from '../src/index.ts';
import { checksDone, collect, type RegistryProxy, rand, startProxy, startWatcher, until } from './helpers.ts';
import {
  type NatsServer,
  pushImage,
  pushManyTags,
  type RegistryHandle,
  startNats,
  startRegistry,
} from './support.ts';

let nats: NatsServer;
let registry: RegistryHandle;
let bus: Bus;
const cleanups: Array<() => Promise<unknown>> = [];
const manyRepo = `many/${rand()}`;
// Pushing 1,001 tags takes ~10 s on this machine: started at once, it overlaps the other tests.
let manyPushed: Promise<{ digest: string; tags: string[] }>;

beforeAll(async () => {
  [nats, registry] = await Promise.all([startNats(), startRegistry()]);
  bus = await Bus.connect({ servers: nats.url, service: 'cli', instance: 'test', ensureStream: true });
  manyPushed = pushManyTags(registry, { repo: manyRepo, tags: 1001, concurrency: 4 });
  manyPushed.catch(() => {});
});

afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
  await bus?.close();
  await Promise.all([registry?.stop(), nats?.dispose()]);
});

async function watcher(opts: Omit<Parameters<typeof startWatcher>[0], 'natsUrl'>): Promise<RegistryWatcher> {
  const w = await startWatcher({ natsUrl: nats.url, ...opts });
  cleanups.push(() => w.stop());
  return w;
}

describe('registry-watcher polling a real registry', () => {
  it('reports a pushed tag once with its digest and platforms; a re-pushed mutable tag as moved', async () => {
    const repo = `app/${rand()}`;
    const image = `${registry.host}/${repo}`;
    const events = await collect(bus, [image]);
    cleanups.push(events.stop);
    const v1 = await pushImage(registry, { repo, tag: 'v1', index: true });
    const w = await watcher({ images: [{ image }] });

    await until('v1 detected', () => events.of(ImageTagDetected.type).length === 1);
    expect(events.events[0]?.data).toEqual({
      image,
      tag: 'v1',
      digest: v1.digest,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      platforms: ['linux/amd64', 'linux/arm64'],
      trigger: 'poll',
    });

    const first = await pushImage(registry, { repo, tag: 'latest' });
    await until('latest detected', () => events.of(ImageTagDetected.type).length === 2);
    const second = await pushImage(registry, { repo, tag: 'latest' });
    await until('latest moved', () => events.of(ImageTagMoved.type).length === 1);
    expect(events.of(ImageTagMoved.type)[0]?.data).toEqual({
      image,
      tag: 'latest',
      previousDigest: first.digest,
      digest: second.digest,
      trigger: 'poll',
    });
    // A few more quiet cycles: nothing else is reported, and quiet cycles cost the tag list plus
    // one conditional HEAD for the one mutable tag.
    const before = await scrapeMetric(w.url, 'registry_watcher_registry_requests_total');
    const polls = await scrapeMetric(w.url, 'registry_watcher_polls_total');
    await checksDone(w, polls, 3);
    await events.caughtUp();
    const cycles = (await scrapeMetric(w.url, 'registry_watcher_polls_total')) - polls;
    const spent = (await scrapeMetric(w.url, 'registry_watcher_registry_requests_total')) - before;
    expect(spent).toBeLessThanOrEqual(2 * (cycles + 1));
    expect(events.events).toHaveLength(3);
    expect(new Set(events.events.map((e) => e.id)).size).toBe(3);
  });

  it('misses nothing and repeats nothing across a restart', async () => {
    const repo = `restart/${rand()}`;
    const image = `${registry.host}/${repo}`;
    const events = await collect(bus, [image]);
    cleanups.push(events.stop);
    await pushImage(registry, { repo, tag: 'a1' });
    const first = await watcher({ images: [{ image }], instance: 'restart-1' });
    await until('a1 detected', () => events.events.length === 1);
    await first.stop();

    const a2 = await pushImage(registry, { repo, tag: 'a2' });
    const second = await watcher({ images: [{ image }], instance: 'restart-2' });
    await until('a2 detected', () => events.events.length >= 2);
    await checksDone(second, await scrapeMetric(second.url, 'registry_watcher_polls_total'), 2);
    await events.caughtUp();
    expect(events.events.map((e) => (e.data as { tag: string }).tag)).toEqual(['a1', 'a2']);
    expect((events.events[1]!.data as { digest: string }).digest).toBe(a2.digest);
    expect(events.events[1]?.source).toBe('flotilla://registry-watcher/restart-2');
  });

  describe('behind a proxy answering 429', () => {
    let proxy: RegistryProxy;
    let throttled = 0;
    const repo = `limited/${rand()}`;
    const blocked = `blocked/${rand()}`;

    beforeAll(async () => {
      proxy = await startProxy(registry.url, (req, res) => {
        // The first three tag-list calls of `repo` are told to come back in a second; `blocked` always in 30 s.
        if (req.url?.startsWith(`/v2/${repo}/tags/list`) && throttled < 3) {
          throttled++;
          res.writeHead(429, { 'retry-after': '1', 'content-type': 'application/json' });
          res.end(JSON.stringify({ errors: [{ code: 'TOOMANYREQUESTS', message: 'slow down' }] }));
          return true;
        }
        if (req.url?.startsWith(`/v2/${blocked}/`)) {
          res.writeHead(429, { 'retry-after': '30' }).end();
          return true;
        }
        return false;
      });
      cleanups.push(() => proxy.close());
    });

    it('waits as told, then reports; a long Retry-After becomes one ImageScanFailed, no error storm', async () => {
      const image = `${proxy.host}/${repo}`;
      const blockedImage = `${proxy.host}/${blocked}`;
      const pushed = await pushImage(registry, { repo, tag: 'r1' });
      await pushImage(registry, { repo: blocked, tag: 'b1' });
      const events = await collect(bus, [image, blockedImage]);
      cleanups.push(events.stop);
      const started = Date.now();
      const w = await watcher({
        images: [{ image }, { image: blockedImage }],
        env: { FLOTILLA_POLL_MAX_RETRY_AFTER_MS: '5000' },
      });
      await until('r1 detected', () => events.of(ImageTagDetected.type).length === 1);
      expect(Date.now() - started).toBeGreaterThanOrEqual(3000);
      // 3 refusals, then the one list that succeeded: no extra attempts while told to wait.
      const listsUntilDetected = proxy.seen.filter((s) => s.includes(`/v2/${repo}/tags/list`)).length;
      expect(listsUntilDetected).toBeLessThanOrEqual(5);
      expect((events.of(ImageTagDetected.type)[0]!.data as { digest: string }).digest).toBe(pushed.digest);
      await until('blocked reported', () => events.of(ImageScanFailed.type).length === 1);
      // Two more checks of the readable image (the blocked one waits its 30 s): no second report.
      await checksDone(w, await scrapeMetric(w.url, 'registry_watcher_polls_total'), 2);
      await events.caughtUp();
      const failed = events.of(ImageScanFailed.type);
      expect(failed).toHaveLength(1);
      expect(failed[0]?.data).toMatchObject({
        image: blockedImage,
        code: 'oci.too-many-requests',
        retryAfterSeconds: 30,
      });
      // That 429 had no body: no registry code is made up.
      expect(failed[0]?.data).not.toHaveProperty('registryCode');
      // The blocked one was asked exactly once and then left alone for the 30 s it asked for.
      expect(proxy.seen.filter((s) => s.includes(`/v2/${blocked}/`))).toHaveLength(1);
      expect(
        events.of(ImageScanFailed.type).filter((e) => (e.data as { image: string }).image === image),
      ).toEqual([]);
    });
  });

  it('retries a webhook check that failed within seconds, not at the next poll an hour later', async () => {
    const repo = `flaky/${rand()}`;
    let failed = 0;
    const proxy = await startProxy(registry.url, (req, res) => {
      // The registry errs once on the pushed tag's manifest: the check the webhook asked for fails.
      if (req.method === 'HEAD' && req.url === `/v2/${repo}/manifests/w1` && failed === 0) {
        failed++;
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ errors: [{ code: 'UNKNOWN', message: 'storage hiccup' }] }));
        return true;
      }
      return false;
    });
    cleanups.push(() => proxy.close());
    const image = `${proxy.host}/${repo}`;
    await pushImage(registry, { repo, tag: 'w0' });
    const events = await collect(bus, [image]);
    cleanups.push(events.stop);
    const w = await watcher({ images: [{ image }], env: { FLOTILLA_POLL_INTERVAL_MS: '3600000' } });
    await until('w0 detected by the first check', () => events.of(ImageTagDetected.type).length === 1);

    const pushed = await pushImage(registry, { repo, tag: 'w1' });
    await w.requestCheck(image, [{ tag: 'w1' }]);
    await until('w1 detected by the retry', () => events.of(ImageTagDetected.type).length === 2, 15_000);
    expect(failed).toBe(1);
    expect(events.of(ImageTagDetected.type)[1]?.data).toMatchObject({
      tag: 'w1',
      digest: pushed.digest,
      trigger: 'webhook',
    });
    expect(await scrapeMetric(w.url, 'registry_watcher_polls_total', { result: 'error' })).toBe(1);
  });

  it('shares 50 images between 2 instances: each tag reported exactly once, also across a handover', async () => {
    const prefix = `fleet${rand()}`;
    const repos = Array.from({ length: 50 }, (_, i) => `${prefix}/img${i}`);
    const images = repos.map((r) => `${registry.host}/${r}`);
    for (let i = 0; i < repos.length; i += 10) {
      await Promise.all(repos.slice(i, i + 10).map((repo) => pushImage(registry, { repo, tag: 'v1' })));
    }
    const events = await collect(bus, images);
    cleanups.push(events.stop);
    const config = { images: images.map((image) => ({ image })), env: { FLOTILLA_POLL_INTERVAL_MS: '700' } };
    const [a, b] = await Promise.all([
      watcher({ ...config, instance: 'fleet-a' }),
      watcher({ ...config, instance: 'fleet-b' }),
    ]);
    await until('50 detected', () => events.events.length >= 50, 30_000);
    // A lease taken over from a slow instance is given up by it on its next lease cycle, so
    // the split is checked once both have settled, not at one instant.
    await until('the 50 images split between the two instances', () => {
      const [ownA, ownB] = [a.owned(), b.owned()];
      return ownA.length + ownB.length === 50 && ownA.every((i) => !ownB.includes(i));
    });
    const ownedA = a.owned();
    const ownedB = b.owned();

    // Handover: the instance holding more stops; the other takes its images within the lease TTL.
    const [leaving, staying] = ownedA.length >= ownedB.length ? [a, b] : [b, a];
    const moved = leaving.owned().slice(0, 5);
    await leaving.stop();
    await Promise.all(
      moved.map((image) => pushImage(registry, { repo: image.slice(registry.host.length + 1), tag: 'v2' })),
    );
    await until('v2 detected after handover', () => events.events.length >= 55, 20_000);
    await until('all 50 owned by the staying instance', () => staying.owned().length === 50);
    // Two more rounds of checks over all 50 images: a repeat would be in the stream by then.
    await checksDone(staying, await scrapeMetric(staying.url, 'registry_watcher_polls_total'), 100);
    await events.caughtUp();
    const keys = events.events.map((e) => {
      const d = e.data as { image: string; tag: string };
      return `${d.image}:${d.tag}`;
    });
    expect(keys).toHaveLength(55);
    expect(new Set(keys).size).toBe(55);
  });

  it('reads a repository with more than 1,000 tags completely with a bounded number of requests', async () => {
    const image = `${registry.host}/${manyRepo}`;
    const pushed = await manyPushed;
    const events = await collect(bus, [image]);
    cleanups.push(events.stop);
    // The filter keeps the first, a middle and the lexically last tag: seeing the last proves the
    // list was read to the end.
    const w = await watcher({ images: [{ image, tagFilter: '^t0(0000|0500|1000)$' }] });
    await until('three tags', () => events.events.length === 3);
    expect(events.events.map((e) => (e.data as { tag: string }).tag).sort()).toEqual([
      't00000',
      't00500',
      't01000',
    ]);
    expect(events.events.every((e) => (e.data as { digest: string }).digest === pushed.digest)).toBe(true);
    await checksDone(w, await scrapeMetric(w.url, 'registry_watcher_polls_total'), 2);
    await events.caughtUp();
    const polls = await scrapeMetric(w.url, 'registry_watcher_polls_total');
    expect(
      await scrapeMetric(w.url, 'registry_watcher_registry_requests_total', { kind: 'manifestHead' }),
    ).toBe(3);
    // One tag-list request per cycle (Distribution answers all 1,001 tags in one page).
    expect(
      await scrapeMetric(w.url, 'registry_watcher_registry_requests_total', { kind: 'tags' }),
    ).toBeLessThanOrEqual(polls + 1);
    expect(events.events).toHaveLength(3);
  });
});
