import { createHmac } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Bus } from '@flotilla/bus';
import { ImageScanFailed, ImageTagDetected, ImageTagMoved, WebhookRejected } from '@flotilla/events';
import { scrapeMetric, trickleRequest } from '@flotilla/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RegistryWatcher } from '../src/index.ts';
import { captureLogger, checksDone, collect, rand, startWatcher, until } from './helpers.ts';
import {
  freePort,
  type NatsServer,
  pushImage,
  type RegistryHandle,
  startNats,
  startRegistry,
} from './support.ts';

const USER = 'ci';
const PASSWORD = `pw-${rand()}-${rand()}`;
const WRONG = `wrong-${rand()}-${rand()}`;
const HOOK_TOKEN = `hook-${rand()}`;
const GENERIC_SECRET = `gen-${rand()}`;
const HUB_TOKEN = `hub-${rand()}${rand()}`;
const QUAY_TOKEN = `quay-${rand()}${rand()}`;
const ACR_AUTH = `acr-${rand()}${rand()}`;
const NEXUS_SECRET = `nexus-${rand()}`;
const GHCR_SECRET = `ghcr-${rand()}`;
const ARTIFACTORY_SECRET = `jfrog-${rand()}${rand()}`;

let nats: NatsServer;
let registry: RegistryHandle;
let bus: Bus;
let watcher: RegistryWatcher;
let dir: string;
let logs: () => string;
const good = `good/${rand()}`;
const denied = `denied/${rand()}`;
let goodImage: string;
let deniedImage: string;
let events: Awaited<ReturnType<typeof collect>>;
let rejections: Awaited<ReturnType<typeof collect>>;

beforeAll(async () => {
  // The watcher's port is chosen first so the registry can be told where to send notifications.
  const port = await freePort();
  [nats, registry, dir] = await Promise.all([
    startNats(),
    startRegistry({
      htpasswd: { user: USER, password: PASSWORD },
      notifications: {
        url: `http://127.0.0.1:${port}/hooks/distribution`,
        headers: { Authorization: `Bearer ${HOOK_TOKEN}` },
      },
    }),
    mkdtemp(join(tmpdir(), 'rw-secrets-')),
  ]);
  goodImage = `${registry.host}/${good}`;
  deniedImage = `${registry.host}/${denied}`;
  await writeFile(join(dir, 'password'), `${PASSWORD}\n`, { mode: 0o600 });
  bus = await Bus.connect({ servers: nats.url, service: 'cli', instance: 'test', ensureStream: true });
  events = await collect(bus, [goodImage, deniedImage]);
  rejections = await collect(bus, ['*'], 'webhook');
  const captured = captureLogger('rw-hooks');
  logs = captured.text;
  watcher = await startWatcher({
    natsUrl: nats.url,
    logger: captured.logger,
    images: [
      // A poll interval of an hour: anything reported after the first check came from a webhook.
      { image: goodImage, credentials: { username: USER, passwordFile: join(dir, 'password') } },
      { image: deniedImage, credentials: { username: USER, password: WRONG } },
    ],
    env: {
      FLOTILLA_HTTP_PORT: String(port),
      FLOTILLA_POLL_INTERVAL_MS: '3600000',
      FLOTILLA_WEBHOOKS_BODY_LIMIT: '4096',
      FLOTILLA_HTTP_REQUEST_TIMEOUT_MS: '1000',
      FLOTILLA_WEBHOOKS_DISTRIBUTION_TOKEN: HOOK_TOKEN,
      FLOTILLA_WEBHOOKS_GENERIC_SECRET: GENERIC_SECRET,
      FLOTILLA_WEBHOOKS_DOCKERHUB_PATH_TOKEN: HUB_TOKEN,
      FLOTILLA_WEBHOOKS_HARBOR_AUTH: `Bearer ${HOOK_TOKEN}`,
      FLOTILLA_WEBHOOKS_QUAY_PATH_TOKEN: QUAY_TOKEN,
      FLOTILLA_WEBHOOKS_ACR_AUTH: ACR_AUTH,
      FLOTILLA_WEBHOOKS_NEXUS_SECRET: NEXUS_SECRET,
      FLOTILLA_WEBHOOKS_GHCR_SECRET: GHCR_SECRET,
      FLOTILLA_WEBHOOKS_ARTIFACTORY_SECRET: ARTIFACTORY_SECRET,
    },
  });
  // The first check of each image runs right after the lease is taken.
  await until('first checks', () => events.of(ImageScanFailed.type).length >= 2);
});

afterAll(async () => {
  await watcher?.stop();
  await events?.stop();
  await rejections?.stop();
  await bus?.close();
  await Promise.all([registry?.stop(), nats?.dispose(), dir && rm(dir, { recursive: true, force: true })]);
});

const sign = (body: string) => createHmac('sha256', GENERIC_SECRET).update(body).digest('hex');
const signNexus = (body: string) => createHmac('sha1', NEXUS_SECRET).update(body).digest('hex');
const signGhcr = (body: string) => `sha256=${createHmac('sha256', GHCR_SECRET).update(body).digest('hex')}`;

async function post(path: string, body: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${watcher.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('registry-watcher webhooks and auth against a real htpasswd registry', () => {
  it('reports wrong registry credentials once with a clear code, never logging them', async () => {
    const failed = events
      .of(ImageScanFailed.type)
      .filter((e) => (e.data as { image: string }).image === deniedImage);
    expect(failed).toHaveLength(1);
    // Flotilla's code, and beside it what the registry itself answered.
    expect(failed[0]?.data).toMatchObject({
      image: deniedImage,
      code: 'oci.unauthorized',
      registryCode: 'UNAUTHORIZED',
    });
    // The repository with good credentials simply does not exist yet.
    const missing = events
      .of(ImageScanFailed.type)
      .filter((e) => (e.data as { image: string }).image === goodImage);
    expect(missing[0]?.data).toMatchObject({ code: 'oci.name-unknown', registryCode: 'NAME_UNKNOWN' });

    // A webhook-triggered re-check fails the same way: no second event for the same problem.
    const failedChecks = await scrapeMetric(watcher.url, 'registry_watcher_polls_total', { result: 'error' });
    await pushImage(registry, { repo: denied, tag: 'd1' });
    await checksDone(watcher, failedChecks, 1, { result: 'error' });
    await events.caughtUp();
    expect(
      await scrapeMetric(watcher.url, 'registry_watcher_failures_total', { code: 'oci.unauthorized' }),
    ).toBeGreaterThanOrEqual(2);
    expect(
      events.of(ImageScanFailed.type).filter((e) => (e.data as { image: string }).image === deniedImage),
    ).toHaveLength(1);
    const text = logs();
    expect(text).toContain('oci.unauthorized');
    expect(text).not.toContain(WRONG);
    expect(text).not.toContain(PASSWORD);
  });

  it('reports a push from the registry notification without waiting for the poll', async () => {
    // The poll interval is an hour, so trigger 'webhook' is the proof it did not wait for a poll.
    const pushed = await pushImage(registry, { repo: good, tag: 'v1' });
    await until('v1 via webhook', () => events.of(ImageTagDetected.type).length === 1);
    expect(events.of(ImageTagDetected.type)[0]?.data).toMatchObject({
      image: goodImage,
      tag: 'v1',
      digest: pushed.digest,
      trigger: 'webhook',
    });
    // A re-push of an immutable-looking tag is still caught: the notification names the tag.
    const again = await pushImage(registry, { repo: good, tag: 'v1' });
    await until('v1 moved via webhook', () => events.of(ImageTagMoved.type).length === 1, 10_000).catch(
      (e) => {
        console.log(logs());
        throw e;
      },
    );
    expect(events.of(ImageTagMoved.type)[0]?.data).toMatchObject({
      previousDigest: pushed.digest,
      digest: again.digest,
      trigger: 'webhook',
    });
  });

  it('accepts a signed generic hook and checks the image', async () => {
    const pushed = await pushImage(registry, { repo: good, tag: 'g1' });
    // Wait out the registry's own notification so the generic hook is what we observe.
    await until('g1 reported', () =>
      events.of(ImageTagDetected.type).some((e) => (e.data as { tag: string }).tag === 'g1'),
    );
    const body = JSON.stringify({ image: `${goodImage}:g1`, digest: pushed.digest });
    const checks = await scrapeMetric(watcher.url, 'registry_watcher_polls_total', { trigger: 'webhook' });
    const res = await post('/hooks/generic', body, { 'x-flotilla-signature': sign(body) });
    expect(res).toEqual({ status: 202, body: { accepted: [goodImage], ignored: 0 } });
    const unknown = JSON.stringify({ image: `${registry.host}/not/watched` });
    expect(
      await post('/hooks/generic', unknown, { 'x-flotilla-signature': `sha256=${sign(unknown)}` }),
    ).toEqual({
      status: 202,
      body: { accepted: [], ignored: 1 },
    });
    await checksDone(watcher, checks, 1, { trigger: 'webhook' });
    await events.caughtUp();
    expect(
      events.of(ImageTagDetected.type).filter((e) => (e.data as { tag: string }).tag === 'g1'),
    ).toHaveLength(1);
  });

  it('refuses bad or missing signatures (401), oversized (413) and malformed (400) bodies, with WebhookRejected', async () => {
    const body = JSON.stringify({ image: goodImage });
    const cases: Array<[string, string, Record<string, string>, number, string, string]> = [
      ['/hooks/generic', body, { 'x-flotilla-signature': sign(`${body} `) }, 401, 'generic', 'bad-signature'],
      ['/hooks/generic', body, {}, 401, 'generic', 'missing-signature'],
      [
        '/hooks/distribution',
        '{"events":[]}',
        { authorization: 'Bearer nope' },
        401,
        'distribution',
        'bad-signature',
      ],
      ['/hooks/harbor', '{}', {}, 401, 'harbor', 'missing-signature'],
      [`/hooks/dockerhub/${HUB_TOKEN}x`, '{}', {}, 401, 'dockerhub', 'bad-signature'],
      [`/hooks/quay/${QUAY_TOKEN}x`, '{}', {}, 401, 'quay', 'bad-signature'],
      ['/hooks/acr', '{"action":"ping"}', {}, 401, 'acr', 'missing-signature'],
      [
        '/hooks/nexus',
        '{}',
        { 'x-nexus-webhook-id': 'rm:repository:component', 'x-nexus-webhook-signature': signNexus('{} ') },
        401,
        'nexus',
        'bad-signature',
      ],
      // Signed, but no X-Nexus-Webhook-ID: not a Nexus delivery at all.
      ['/hooks/nexus', '{}', { 'x-nexus-webhook-signature': signNexus('{}') }, 400, 'nexus', 'malformed'],
      [
        '/hooks/ghcr',
        '{}',
        { 'x-github-event': 'package', 'x-hub-signature-256': signGhcr('{} ') },
        401,
        'ghcr',
        'bad-signature',
      ],
      ['/hooks/ghcr', '{}', { 'x-github-event': 'package' }, 401, 'ghcr', 'missing-signature'],
      // Signed, but no X-GitHub-Event: nothing says what the body is.
      ['/hooks/ghcr', '{}', { 'x-hub-signature-256': signGhcr('{}') }, 400, 'ghcr', 'malformed'],
      [
        '/hooks/artifactory',
        '{}',
        { 'x-jfrog-event-auth': 'not-the-token' },
        401,
        'artifactory',
        'bad-signature',
      ],
      ['/hooks/artifactory', '{}', {}, 401, 'artifactory', 'missing-signature'],
      [
        '/hooks/generic',
        'x'.repeat(10_000),
        { 'x-flotilla-signature': sign('x') },
        413,
        'generic',
        'too-large',
      ],
      [
        '/hooks/generic',
        '{not json',
        { 'x-flotilla-signature': sign('{not json') },
        400,
        'generic',
        'malformed',
      ],
      ['/hooks/generic', '[1]', { 'x-flotilla-signature': sign('[1]') }, 400, 'generic', 'malformed'],
      [
        '/hooks/distribution',
        '{"no":"events"}',
        { authorization: `Bearer ${HOOK_TOKEN}` },
        400,
        'distribution',
        'malformed',
      ],
    ];
    for (const [path, payload, headers, status, , reason] of cases) {
      const res = await post(path, payload, headers);
      expect({ path, status: res.status, error: res.body.error }).toEqual({ path, status, error: reason });
    }
    await until('rejections stored', () => rejections.of(WebhookRejected.type).length >= cases.length);
    const got = rejections
      .of(WebhookRejected.type)
      .map((e) => e.data as { receiver: string; reason: string; path: string });
    expect(got.map((d) => `${d.receiver}:${d.reason}`)).toEqual(cases.map((c) => `${c[4]}:${c[5]}`));
    // The Docker Hub and Quay path tokens are secrets: they never appear in the event.
    expect(got.find((d) => d.receiver === 'dockerhub')?.path).toBe('/hooks/dockerhub/<redacted>');
    expect(got.find((d) => d.receiver === 'quay')?.path).toBe('/hooks/quay/<redacted>');
    expect(JSON.stringify(got)).not.toContain(HUB_TOKEN);
    expect(JSON.stringify(got)).not.toContain(QUAY_TOKEN);
    for (const secret of [GHCR_SECRET, ARTIFACTORY_SECRET]) expect(logs()).not.toContain(secret);
    expect(await scrapeMetric(watcher.url, 'registry_watcher_webhook_rejections_total')).toBe(cases.length);
  });

  it('cuts off a webhook body trickled byte by byte (slowloris) with 408', async () => {
    // Another byte now and then keeps the socket busy, never the request complete.
    const { answer, tookMs } = await trickleRequest(
      watcher.url,
      'POST /hooks/distribution HTTP/1.1\r\nHost: w\r\nContent-Type: application/json\r\nContent-Length: 4000\r\n\r\n{"events":',
      { dripMs: 200 },
    );
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(tookMs).toBeLessThan(10_000);
  });

  it('serves health, readiness and metrics', async () => {
    expect((await fetch(`${watcher.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${watcher.url}/readyz`)).status).toBe(200);
    expect(await scrapeMetric(watcher.url, 'registry_watcher_owned_images')).toBe(2);
    expect(
      await scrapeMetric(watcher.url, 'registry_watcher_events_total', { type: 'ImageTagDetected' }),
    ).toBeGreaterThanOrEqual(2);
  });
});
