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
 * - Quay: the "Push to Repository" event data quay/quay builds (`notifications/__init__.py`
 *   build_repository_event_data: repository, namespace, name, docker_url, homepage, plus
 *   `updated_tags`), POSTed as JSON with no signature; the URL holds the secret.
 * - ACR: learn.microsoft.com "Azure Container Registry webhook reference" (push event payload),
 *   the custom `Authorization` header set on the webhook; the ping is `{"action":"ping"}` as
 *   akuity/kargo's ACR receiver test has it.
 * - Nexus: the component webhook payload of sonatype/nexus-public
 *   (`RepositoryComponentWebhook`), serialized without whitespace by Jackson and signed with
 *   HMAC-SHA1 hex in `X-Nexus-Webhook-Signature` (`WebhookServiceImpl`); the image is pushed
 *   under the Nexus repository's name, as Nexus' path-based routing serves it.
 * - GHCR: GitHub's `package` event as delivered for a container version (a real 2025 delivery's
 *   fields: `package_type: CONTAINER`, `namespace` the lower-cased owner login, `package_url`
 *   `ghcr.io/<namespace>/<name>:<tag>`, `container_metadata.tag` `{name, digest}`), and
 *   `registry_package` deliveries with an empty tag name and a `package_url` ending in `:` for the
 *   platform manifests of a multi-arch push; signed `X-Hub-Signature-256: sha256=<hex HMAC-SHA256>`.
 *   The payload names ghcr.io: the test registry stands in for it as the only watched image with
 *   that path (libs/oci/src/fixtures/SOURCES.md has the sources).
 * - Artifactory: the `docker` domain `pushed` event of JFrog's "Domain: Docker" page in the
 *   webhook envelope, `X-JFrog-Event-Auth` carrying the hex HMAC-SHA256 of the body ("Use secret
 *   for payload signing"); the image is pushed under the repository key, as Artifactory's
 *   repository path method serves it.
 *
 * Only names, digests and hosts are changed to point at the test registries.
 */

import { createHmac, randomUUID } from 'node:crypto';
import { Bus } from '@flotilla/bus';
import { ImageScanFailed, ImageTagDetected, ImageTagMoved } from '@flotilla/events';
import { scrapeMetric } from '@flotilla/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RegistryWatcher } from '../src/index.ts';
import { checksDone, collect, rand, startWatcher, until } from './helpers.ts';
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
const QUAY_TOKEN = `quay-${rand()}${rand()}`;
/** What an ACR user sets: `az acr webhook create … --headers "Authorization=Bearer <token>"`. */
const ACR_AUTH = `Bearer acr-${rand()}${rand()}`;
const NEXUS_SECRET = `nexus-${rand()}`;
const GHCR_SECRET = `ghcr-${rand()}`;
const ARTIFACTORY_SECRET = `jfrog-${rand()}${rand()}`;

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
const quayRepo = `vendor/quay-${rand()}`;
const acrRepo = `vendor/acr-${rand()}`;
/** Nexus' component name; the registry path adds the Nexus repository (path-based routing). */
const nexusPath = `vendor/nx-${rand()}`;
const NEXUS_REPOSITORY = 'docker-hosted';
/** GHCR: an owner whose login has capitals (the path has none) and a package name with a slash. */
const GHCR_OWNER = 'Vendor-Org';
const ghcrName = `ghcr-${rand()}/app`;
const ghcrPath = `${GHCR_OWNER.toLowerCase()}/${ghcrName}`;
/** Artifactory: the image path in the repository, served under the repository key. */
const artifactoryPath = `vendor/jf-${rand()}`;
const ARTIFACTORY_REPO = 'docker-local';
let ghcrImage: string;
let artifactoryImage: string;
let quayImage: string;
let acrImage: string;
let nexusImage: string;

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
  quayImage = `${plain.host}/${quayRepo}`;
  acrImage = `${plain.host}/${acrRepo}`;
  nexusImage = `${plain.host}/${NEXUS_REPOSITORY}/${nexusPath}`;
  ghcrImage = `${plain.host}/${ghcrPath}`;
  artifactoryImage = `${plain.host}/${ARTIFACTORY_REPO}/${artifactoryPath}`;
  bus = await Bus.connect({ servers: nats.url, service: 'cli', instance: 'test', ensureStream: true });
  const all = [
    distImage,
    harborImage,
    hubImage,
    quayImage,
    acrImage,
    nexusImage,
    ghcrImage,
    artifactoryImage,
  ];
  events = await collect(bus, all);
  watcher = await startWatcher({
    natsUrl: nats.url,
    images: all.map((image) => ({ image })),
    env: {
      FLOTILLA_HTTP_PORT: String(port),
      // An hour: anything reported after the first checks came from a webhook.
      FLOTILLA_POLL_INTERVAL_MS: '3600000',
      FLOTILLA_WEBHOOKS_DISTRIBUTION_TOKEN: HOOK_TOKEN,
      FLOTILLA_WEBHOOKS_DOCKERHUB_PATH_TOKEN: HUB_TOKEN,
      FLOTILLA_WEBHOOKS_HARBOR_AUTH: HARBOR_AUTH,
      FLOTILLA_WEBHOOKS_QUAY_PATH_TOKEN: QUAY_TOKEN,
      FLOTILLA_WEBHOOKS_ACR_AUTH: ACR_AUTH,
      FLOTILLA_WEBHOOKS_NEXUS_SECRET: NEXUS_SECRET,
      FLOTILLA_WEBHOOKS_GHCR_SECRET: GHCR_SECRET,
      FLOTILLA_WEBHOOKS_ARTIFACTORY_SECRET: ARTIFACTORY_SECRET,
    },
  });
  // First checks: the test repositories are still empty, Docker Hub is unreachable from here.
  await until('first checks', () => events.of(ImageScanFailed.type).length >= all.length);
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
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function webhookChecks(): Promise<number> {
  return await scrapeMetric(watcher.url, 'registry_watcher_polls_total', { trigger: 'webhook' });
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
    expect(await scrapeMetric(watcher.url, 'registry_watcher_failures_total', { code: 'INTERNAL' })).toBe(0);
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

describe('Quay notifications', () => {
  const quayPush = (tags: string[]) => ({
    repository: quayRepo,
    namespace: quayRepo.split('/')[0],
    name: quayRepo.split('/')[1],
    docker_url: `${plain.host}/${quayRepo}`,
    homepage: `http://${plain.host}/repository/${quayRepo}`,
    updated_tags: tags,
  });
  const json = { 'content-type': 'application/json' };

  it('reports the updated tags of a push, and the test notification invents none', async () => {
    const q1 = await pushImage(plain, { repo: quayRepo, tag: 'q1', content: 'q1' });
    const q2 = await pushImage(plain, { repo: quayRepo, tag: 'q2', content: 'q2' });
    const res = await post(`/hooks/quay/${QUAY_TOKEN}`, quayPush(['q1', 'q2']), json);
    expect(res).toEqual({ status: 202, body: { accepted: [quayImage], ignored: 0 } });
    await until('q1 and q2 detected', () => detected(quayImage).length === 2, 15_000);
    expect(detected(quayImage)).toEqual([
      expect.objectContaining({ tag: 'q1', digest: q1.digest, trigger: 'webhook' }),
      expect.objectContaining({ tag: 'q2', digest: q2.digest, trigger: 'webhook' }),
    ]);

    // Quay's "Test Notification" names tags this repository does not have ("latest", "foo").
    const checks = await webhookChecks();
    const sample = await post(`/hooks/quay/${QUAY_TOKEN}`, quayPush(['latest', 'foo']), json);
    expect(sample).toEqual({ status: 202, body: { accepted: [quayImage], ignored: 0 } });
    await checksDone(watcher, checks, 1, { trigger: 'webhook' });
    await events.caughtUp();
    expect(detected(quayImage).map((d) => d.tag)).toEqual(['q1', 'q2']);

    const wrong = await post(`/hooks/quay/${QUAY_TOKEN}x`, quayPush(['q1']), json);
    expect(wrong).toMatchObject({ status: 401, body: { error: 'bad-signature' } });
  });
});

describe('Azure Container Registry webhooks', () => {
  const acrPush = (tag: string, digest: string) => ({
    id: randomUUID(),
    timestamp: new Date().toISOString(),
    action: 'push',
    target: {
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      size: 524,
      digest,
      length: 524,
      repository: acrRepo,
      tag,
    },
    request: { id: randomUUID(), host: plain.host, method: 'PUT', useragent: 'docker/27.3.1 go/go1.22.7' },
  });

  it('reports a push named by the webhook, acknowledges a ping, refuses a missing header', async () => {
    const a1 = await pushImage(plain, { repo: acrRepo, tag: 'a1', content: 'a1' });
    const headers = { 'content-type': 'application/json', authorization: ACR_AUTH };
    const res = await post('/hooks/acr', acrPush('a1', a1.digest), headers);
    expect(res).toEqual({ status: 202, body: { accepted: [acrImage], ignored: 0 } });
    await until('a1 detected', () => detected(acrImage).length === 1, 15_000);
    expect(detected(acrImage)[0]).toMatchObject({ tag: 'a1', digest: a1.digest, trigger: 'webhook' });

    expect(await post('/hooks/acr', { action: 'ping' }, headers)).toEqual({
      status: 202,
      body: { accepted: [], ignored: 0 },
    });
    const unauthenticated = await post('/hooks/acr', acrPush('a1', a1.digest), {
      'content-type': 'application/json',
    });
    expect(unauthenticated).toMatchObject({ status: 401, body: { error: 'missing-signature' } });
  });
});

describe('Nexus component webhooks', () => {
  // Jackson's java.util.Date form, as Nexus serializes it.
  const jacksonNow = () => new Date().toISOString().replace('Z', '+0000');
  const component = (action: string, version: string) =>
    JSON.stringify({
      timestamp: jacksonNow(),
      nodeId: '52905B51-085CCABB-CEBBEAAD-16795588-FC927D93',
      initiator: 'ci-bot/127.0.0.1',
      repositoryName: NEXUS_REPOSITORY,
      action,
      component: {
        id: '9a1c2f3b',
        componentId: Buffer.from(`${NEXUS_REPOSITORY}:9a1c2f3b`).toString('base64url'),
        format: 'docker',
        name: nexusPath,
        version,
      },
    });
  const signed = (body: string, secret = NEXUS_SECRET) => ({
    'content-type': 'application/json; charset=UTF-8',
    'user-agent': 'Nexus/3.76.0-03 (OSS; Linux; 6.8.0; amd64; 17.0.13)',
    'x-nexus-webhook-id': 'rm:repository:component',
    'x-nexus-webhook-delivery': randomUUID(),
    'x-nexus-webhook-signature': createHmac('sha1', secret).update(body).digest('hex'),
  });

  it('reports a created component, and a tag pushed again (UPDATED) as moved', async () => {
    const path = `${NEXUS_REPOSITORY}/${nexusPath}`;
    const n1 = await pushImage(plain, { repo: path, tag: 'n1', content: 'n1' });
    const created = component('CREATED', 'n1');
    const res = await post('/hooks/nexus', created, signed(created));
    expect(res).toEqual({ status: 202, body: { accepted: [nexusImage], ignored: 0 } });
    await until('n1 detected', () => detected(nexusImage).length === 1, 15_000);
    expect(detected(nexusImage)[0]).toMatchObject({ tag: 'n1', digest: n1.digest, trigger: 'webhook' });

    // `n1` is no mutable tag, so polling would not look at it again: the UPDATED hook does.
    const again = await pushImage(plain, { repo: path, tag: 'n1', content: 'n1-again' });
    const updated = component('UPDATED', 'n1');
    expect((await post('/hooks/nexus', updated, signed(updated))).status).toBe(202);
    const moved = () =>
      events.of(ImageTagMoved.type).filter((e) => (e.data as { image: string }).image === nexusImage);
    await until('n1 moved', () => moved().length === 1, 15_000);
    expect(moved()[0]?.data).toMatchObject({
      tag: 'n1',
      previousDigest: n1.digest,
      digest: again.digest,
      trigger: 'webhook',
    });

    const forged = await post('/hooks/nexus', updated, signed(updated, 'not-the-secret'));
    expect(forged).toMatchObject({ status: 401, body: { error: 'bad-signature' } });
  });
});

describe('GitHub package webhooks (GHCR)', () => {
  const sign = (body: string, secret = GHCR_SECRET) =>
    `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
  const headers = (event: string, body: string, secret?: string) => ({
    'content-type': 'application/json',
    'user-agent': 'GitHub-Hookshot/8e03811',
    'x-github-event': event,
    'x-github-delivery': randomUUID(),
    'x-github-hook-id': '498173622',
    'x-hub-signature-256': sign(body, secret),
  });
  const owner = { login: GHCR_OWNER, id: 90417734, type: 'Organization', site_admin: false };
  /** A container version as GitHub describes it; `tag` empty for a manifest pushed by digest. */
  const delivery = (event: 'package' | 'registry_package', tag: string, digest: string, mediaType: string) =>
    JSON.stringify({
      action: 'published',
      [event]: {
        id: 4417301,
        name: ghcrName,
        namespace: GHCR_OWNER.toLowerCase(),
        description: '',
        ecosystem: 'CONTAINER',
        package_type: 'CONTAINER',
        html_url: `https://github.com/${GHCR_OWNER}/packages/4417301`,
        created_at: '2026-01-12T08:41:17Z',
        updated_at: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        owner,
        package_version: {
          id: 501234567,
          version: digest,
          name: digest,
          description: '',
          summary: '',
          manifest: '',
          target_commitish: 'main',
          created_at: '0001-01-01T00:00:00Z',
          updated_at: '0001-01-01T00:00:00Z',
          metadata: [],
          container_metadata: {
            tag: { name: tag, digest },
            labels: {
              description: '',
              source: '',
              revision: '',
              image_url: '',
              licenses: '',
              all_labels: {},
            },
            manifest: { digest, media_type: mediaType, uri: `repositories/${ghcrPath}/manifests/${digest}` },
          },
          package_files: [],
          installation_command: `docker pull ghcr.io/${ghcrPath}:${tag}`,
          package_url: `ghcr.io/${ghcrPath}:${tag}`,
        },
        registry: {
          about_url: 'https://docs.github.com/packages/learn-github-packages/introduction-to-github-packages',
          name: 'GitHub CONTAINER registry',
          type: 'CONTAINER',
          url: `https://CONTAINER.pkg.github.com/${GHCR_OWNER.toLowerCase()}`,
          vendor: 'GitHub Inc',
        },
      },
      organization: { login: GHCR_OWNER, id: 90417734 },
      sender: { login: 'ci-bot', id: 71500322, type: 'User' },
    });

  it('reports a multi-arch push by its tag: untagged platform versions first, then the index', async () => {
    const pushed = await pushImage(plain, { repo: ghcrPath, tag: 'g1', index: true });
    const checks = await webhookChecks();
    for (const p of pushed.platforms!) {
      const body = delivery('registry_package', '', p.digest, 'application/vnd.oci.image.manifest.v1+json');
      const res = await post('/hooks/ghcr', body, headers('registry_package', body));
      expect(res).toEqual({ status: 202, body: { accepted: [ghcrImage], ignored: 0 } });
    }
    await until('untagged checks ran', async () => (await webhookChecks()) > checks);
    const body = delivery('package', 'g1', pushed.digest, 'application/vnd.oci.image.index.v1+json');
    const res = await post('/hooks/ghcr', body, headers('package', body));
    expect(res).toEqual({ status: 202, body: { accepted: [ghcrImage], ignored: 0 } });
    await until('g1 detected', () => detected(ghcrImage).length === 1, 15_000);
    await events.caughtUp();
    expect(detected(ghcrImage)).toEqual([
      expect.objectContaining({
        tag: 'g1',
        digest: pushed.digest,
        platforms: ['linux/amd64', 'linux/arm64'],
        trigger: 'webhook',
      }),
    ]);
  });

  it('answers the ping, and refuses a delivery signed with another secret', async () => {
    const ping = JSON.stringify({
      zen: 'Keep it logically awesome.',
      hook_id: 498173622,
      hook: { type: 'Organization', id: 498173622, name: 'web', active: true, events: ['package'] },
      organization: { login: GHCR_OWNER, id: 90417734 },
      sender: { login: 'ci-bot', id: 71500322, type: 'User' },
    });
    expect(await post('/hooks/ghcr', ping, headers('ping', ping))).toEqual({
      status: 200,
      body: { ignored: 'ping' },
    });
    const body = delivery(
      'package',
      'g1',
      `sha256:${'a'.repeat(64)}`,
      'application/vnd.oci.image.index.v1+json',
    );
    const forged = await post('/hooks/ghcr', body, headers('package', body, 'not-the-secret'));
    expect(forged).toMatchObject({ status: 401, body: { error: 'bad-signature' } });
  });
});

describe('Artifactory docker webhooks', () => {
  const pushedEvent = (tag: string, digest: string) =>
    JSON.stringify({
      domain: 'docker',
      event_type: 'pushed',
      data: {
        repo_key: ARTIFACTORY_REPO,
        event_type: 'pushed',
        path: `${artifactoryPath}/${tag}/manifest.json`,
        name: 'manifest.json',
        sha256: digest.slice('sha256:'.length),
        size: 524,
        image_name: artifactoryPath,
        tag,
        platforms: [{ architecture: 'amd64', os: 'linux' }],
      },
      subscription_key: 'flotilla-registry-watcher',
      jpd_origin: `http://${plain.host}`,
      source: 'jfrog/ci-bot',
    });

  it('reports a pushed tag of the image under its repository key, signed with the secret', async () => {
    const j1 = await pushImage(plain, {
      repo: `${ARTIFACTORY_REPO}/${artifactoryPath}`,
      tag: 'j1',
      content: 'j1',
    });
    const body = pushedEvent('j1', j1.digest);
    const auth = createHmac('sha256', ARTIFACTORY_SECRET).update(body).digest('hex');
    const res = await post('/hooks/artifactory', body, {
      'content-type': 'application/json',
      'x-jfrog-event-auth': auth,
    });
    expect(res).toEqual({ status: 202, body: { accepted: [artifactoryImage], ignored: 0 } });
    await until('j1 detected', () => detected(artifactoryImage).length === 1, 15_000);
    expect(detected(artifactoryImage)[0]).toMatchObject({ tag: 'j1', digest: j1.digest, trigger: 'webhook' });

    const wrong = await post('/hooks/artifactory', body, {
      'content-type': 'application/json',
      'x-jfrog-event-auth': 'not-the-token',
    });
    expect(wrong).toMatchObject({ status: 401, body: { error: 'bad-signature' } });
  });
});
