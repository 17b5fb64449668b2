/**
 * What real registries send, through the real HTTP routes of a running watcher, against real
 * registries. Where each payload comes from:
 *
 * - Distribution: not a fixture at all. A real CNCF Distribution 2.8 (Debian `docker-registry`)
 *   sends its own notifications (`application/vnd.docker.distribution.events.v1+json`) for a
 *   multi-arch push (each platform manifest PUT by digest, then the index PUT by tag) and for a
 *   manifest DELETE. The v2 content type of Distribution 3.x is posted by hand with the same
 *   envelope (distribution/distribution `docs/content/about/notifications.md`).
 * - Harbor: Default format as in goharbor.io "Configure Webhook Notifications" and
 *   goharbor/harbor `src/pkg/notifier/formats/default.go`; CloudEvents format
 *   (`Content-Type: application/cloudevents+json`) as built by
 *   `src/pkg/notifier/formats/cloudevents.go` and asserted in its `cloudevents_test.go`. An
 *   untagged push carries the digest in `resources[].tag` and `resource_url` ends in `@digest`
 *   (`src/controller/event/handler/webhook/artifact/artifact.go`: the reference falls back to the
 *   digest when the artifact has no tag). Harbor sends one PUSH_ARTIFACT per manifest, so a
 *   multi-arch push is two untagged platform pushes and one tagged index push. The policy's "Auth
 *   Header" arrives verbatim as `Authorization`.
 * - Docker Hub: the example payload in docs.docker.com/docker-hub/repos/manage/webhooks (no
 *   signature; the URL holds the secret), names changed.
 *
 * Only names, digests and hosts are changed to point at the test registries.
 */
import { randomUUID } from 'node:crypto';
import { Bus } from '@flotilla/bus';
import { ImageScanFailed, ImageTagDetected, ImageTagMoved } from '@flotilla/events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RegistryWatcher } from '../src/index.ts';
import { collect, metric, rand, startWatcher, until } from './helpers.ts';
import {
  freePort,
  type NatsServer,
  pushImage,
  type RegistryHandle,
  startNats,
  startRegistry,
} from './support.ts';

const HOOK_TOKEN = `hook-${rand()}`;
const HARBOR_AUTH = `Basic ${Buffer.from(`harbor:${rand()}`).toString('base64')}`;
const HUB_TOKEN = `hub-${rand()}${rand()}`;

let nats: NatsServer;
/** Notifies the watcher itself (Distribution). */
let notifying: RegistryHandle;
/** Sends nothing: Harbor's and Docker Hub's deliveries are posted by the test. */
let plain: RegistryHandle;
let bus: Bus;
let watcher: RegistryWatcher;
let events: Awaited<ReturnType<typeof collect>>;
const distRepo = `vendor/dist-${rand()}`;
/** The same repository path on the plain registry and on Docker Hub. */
const sharedRepo = `vendor/app-${rand()}`;
let distImage: string;
let harborImage: string;
const hubImage = `docker.io/${sharedRepo}`;

type Data = { image: string; tag: string; digest: string; platforms?: string[] };
const detected = (image: string) =>
  events
    .of(ImageTagDetected.type)
    .map((e) => e.data as Data)
    .filter((d) => d.image === image);

beforeAll(async () => {
  const port = await freePort();
  [nats, notifying, plain] = await Promise.all([
    startNats(),
    startRegistry({
      notifications: {
        url: `http://127.0.0.1:${port}/hooks/distribution`,
        headers: { Authorization: `Bearer ${HOOK_TOKEN}` },
      },
    }),
    startRegistry(),
  ]);
  distImage = `${notifying.host}/${distRepo}`;
  harborImage = `${plain.host}/${sharedRepo}`;
  bus = await Bus.connect({ servers: nats.url, service: 'cli', instance: 'test', ensureStream: true });
  events = await collect(bus, [distImage, harborImage, hubImage]);
  watcher = await startWatcher({
    natsUrl: nats.url,
    images: [{ image: distImage }, { image: harborImage }, { image: hubImage }],
    env: {
      FLOTILLA_HTTP_PORT: String(port),
      // An hour: anything reported after the first checks came from a webhook.
      FLOTILLA_POLL_INTERVAL_MS: '3600000',
      FLOTILLA_WEBHOOKS_DISTRIBUTION_TOKEN: HOOK_TOKEN,
      FLOTILLA_WEBHOOKS_DOCKERHUB_PATH_TOKEN: HUB_TOKEN,
      FLOTILLA_WEBHOOKS_HARBOR_AUTH: HARBOR_AUTH,
    },
  });
  // First checks: both test repositories are still empty, Docker Hub is unreachable from here.
  await until('first checks', () => events.of(ImageScanFailed.type).length >= 3);
});

afterAll(async () => {
  await watcher?.stop();
  await events?.stop();
  await bus?.close();
  await Promise.all([notifying?.stop(), plain?.stop(), nats?.dispose()]);
});

async function post(path: string, body: unknown, headers: Record<string, string>) {
  const res = await fetch(`${watcher.url}${path}`, {
    method: 'POST',
    headers,
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function webhookChecks(): Promise<number> {
  return await metric(watcher.url, 'registry_watcher_polls_total', { trigger: 'webhook' });
}

function harborDefault(type: string, tagOrDigest: string, digest: string) {
  const sep = tagOrDigest.startsWith('sha256:') ? '@' : ':';
  return {
    type,
    occur_at: Math.floor(Date.now() / 1000),
    operator: 'robot$ci',
    event_data: {
      resources: [
        { digest, tag: tagOrDigest, resource_url: `${plain.host}/${sharedRepo}${sep}${tagOrDigest}` },
      ],
      repository: {
        date_created: 1677053165,
        name: sharedRepo.split('/')[1],
        namespace: 'vendor',
        repo_full_name: sharedRepo,
        repo_type: 'private',
      },
    },
  };
}

function harborCloudEvent(type: string, tagOrDigest: string, digest: string) {
  const d = harborDefault('PUSH_ARTIFACT', tagOrDigest, digest);
  return {
    specversion: '1.0',
    requestid: randomUUID(),
    id: randomUUID(),
    source: '/projects/3/webhook/policies/7',
    type,
    datacontenttype: 'application/json',
    time: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    data: d.event_data,
    operator: 'robot$ci',
  };
}

describe('Distribution notifications from a real registry', () => {
  it('reports a multi-arch push once, by its tag, never a platform digest as a tag', async () => {
    const pushed = await pushImage(notifying, { repo: distRepo, tag: 'v1', index: true });
    await until('v1 detected', () => detected(distImage).length === 1, 15_000);
    expect(detected(distImage)[0]).toMatchObject({
      tag: 'v1',
      digest: pushed.digest,
      platforms: ['linux/amd64', 'linux/arm64'],
    });
    // The platform manifests were pushed by digest: each triggered a check that reported nothing.
    expect(detected(distImage).every((d) => !d.tag.startsWith('sha256'))).toBe(true);
    expect(await metric(watcher.url, 'registry_watcher_failures_total', { code: 'INTERNAL' })).toBe(0);
  });

  it('checks again on a delete, so the deleted tag is forgotten', async () => {
    const v1 = detected(distImage)[0]!;
    const before = await webhookChecks();
    const res = await fetch(`${notifying.url}/v2/${distRepo}/manifests/${v1.digest}`, { method: 'DELETE' });
    expect(res.status).toBe(202);
    await until('delete-triggered check', async () => (await webhookChecks()) > before);
    // Pushed again with other content: a new tag to the watcher, not a move of the deleted one.
    const again = await pushImage(notifying, { repo: distRepo, tag: 'v1', content: 'second' });
    await until('v1 detected again', () => detected(distImage).length === 2, 15_000);
    expect(detected(distImage)[1]).toMatchObject({ tag: 'v1', digest: again.digest });
    expect(events.of(ImageTagMoved.type)).toHaveLength(0);
  });

  it('accepts the v2 content type of newer Distribution releases', async () => {
    const res = await post(
      '/hooks/distribution',
      {
        events: [
          {
            id: randomUUID(),
            timestamp: new Date().toISOString(),
            action: 'delete',
            target: { digest: `sha256:${'a'.repeat(64)}`, repository: distRepo },
            request: { id: randomUUID(), host: notifying.host, method: 'DELETE' },
          },
        ],
      },
      {
        'content-type': 'application/vnd.docker.distribution.events.v2+json',
        authorization: `Bearer ${HOOK_TOKEN}`,
      },
    );
    expect(res).toEqual({ status: 202, body: { accepted: [distImage], ignored: 0 } });
  });
});

describe('Harbor deliveries', () => {
  it('handles a multi-arch push (two untagged platform pushes, then the tagged index) in both formats', async () => {
    const pushed = await pushImage(plain, { repo: sharedRepo, tag: 'h1', index: true });
    const [amd64, arm64] = pushed.platforms!;
    const checks = await webhookChecks();
    // Default format for the platform manifests, as Harbor sends them: the tag field holds the digest.
    for (const p of [amd64!, arm64!]) {
      const res = await post('/hooks/harbor', harborDefault('PUSH_ARTIFACT', p.digest, p.digest), {
        'content-type': 'application/json',
        authorization: HARBOR_AUTH,
      });
      expect(res).toEqual({ status: 202, body: { accepted: [harborImage], ignored: 0 } });
    }
    await until('untagged checks ran', async () => (await webhookChecks()) > checks);
    // The index by tag in the CloudEvents format: 415 before, now read like the Default one.
    const res = await post('/hooks/harbor', harborCloudEvent('harbor.artifact.pushed', 'h1', pushed.digest), {
      'content-type': 'application/cloudevents+json',
      authorization: HARBOR_AUTH,
    });
    expect(res).toEqual({ status: 202, body: { accepted: [harborImage], ignored: 0 } });
    // The untagged pushes did not poison this check: h1 is reported, and only h1.
    await until('h1 detected', () => detected(harborImage).length === 1, 15_000);
    expect(detected(harborImage)).toEqual([
      expect.objectContaining({ tag: 'h1', digest: pushed.digest, trigger: 'webhook' }),
    ]);
    const failures = events
      .of(ImageScanFailed.type)
      .filter((e) => (e.data as { image: string }).image === harborImage);
    expect(failures.map((e) => (e.data as { code: string }).code)).toEqual(['oci.name-unknown']);
  });

  it('handles a push by tag (Default) and a delete (CloudEvents), and refuses a wrong auth header', async () => {
    const pushed = await pushImage(plain, { repo: sharedRepo, tag: 'h2', content: 'h2' });
    const res = await post('/hooks/harbor', harborDefault('PUSH_ARTIFACT', 'h2', pushed.digest), {
      'content-type': 'application/json',
      authorization: HARBOR_AUTH,
    });
    expect(res.status).toBe(202);
    await until('h2 detected', () => detected(harborImage).some((d) => d.tag === 'h2'), 15_000);

    const checks = await webhookChecks();
    const deleted = await post(
      '/hooks/harbor',
      harborCloudEvent('harbor.artifact.deleted', 'h2', pushed.digest),
      { 'content-type': 'application/cloudevents+json', authorization: HARBOR_AUTH },
    );
    expect(deleted).toEqual({ status: 202, body: { accepted: [harborImage], ignored: 0 } });
    await until('delete-triggered check', async () => (await webhookChecks()) > checks);

    const wrong = await post('/hooks/harbor', harborDefault('PUSH_ARTIFACT', 'h2', pushed.digest), {
      'content-type': 'application/json',
      authorization: `${HARBOR_AUTH}x`,
    });
    expect(wrong).toMatchObject({ status: 401, body: { error: 'bad-signature' } });
  });
});

describe('Docker Hub deliveries', () => {
  const hubPayload = (repoName: string) => ({
    callback_url: `https://registry.hub.docker.com/u/${repoName}/hook/2141b5bi5i5b02bec211i4eeih0242eg11000a/`,
    push_data: { pushed_at: Math.floor(Date.now() / 1000), pusher: 'trustedbuilder', tag: 'latest' },
    repository: {
      comment_count: 0,
      date_created: 1417494799,
      description: '',
      is_official: false,
      is_private: true,
      is_trusted: false,
      name: repoName.split('/')[1],
      namespace: repoName.split('/')[0],
      owner: repoName.split('/')[0],
      repo_name: repoName,
      repo_url: `https://registry.hub.docker.com/u/${repoName}/`,
      star_count: 0,
      status: 'Active',
    },
  });

  it('checks the Docker Hub image only, not the same repository path on another registry', async () => {
    const res = await post(`/hooks/dockerhub/${HUB_TOKEN}`, hubPayload(sharedRepo), {
      'content-type': 'application/json',
    });
    expect(res).toEqual({ status: 202, body: { accepted: [hubImage], ignored: 0 } });
    const other = await post(`/hooks/dockerhub/${HUB_TOKEN}`, hubPayload(`vendor/unwatched-${rand()}`), {
      'content-type': 'application/json',
    });
    expect(other).toEqual({ status: 202, body: { accepted: [], ignored: 1 } });
    // The only watched image with this path lives on another registry: not Docker Hub's to trigger.
    const elsewhere = await post(`/hooks/dockerhub/${HUB_TOKEN}`, hubPayload(distRepo), {
      'content-type': 'application/json',
    });
    expect(elsewhere).toEqual({ status: 202, body: { accepted: [], ignored: 1 } });
  });
});
