import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { NEXUS_COMPONENT_WEBHOOK, parseImageRef } from '@flotilla/oci';
import { createLogger, createServiceServer, type WebhookRejection } from '@flotilla/runtime';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { watcherMetrics } from './metrics.ts';
import type { TagHint } from './tag-diff.ts';
import type { WatchedImage } from './watched-image.ts';
import { matchImage, type Receiver, registerWebhookRoutes } from './webhook-routes.ts';

/**
 * The receivers' HTTP contract through the real routes (`app.inject`), on the vendor fixtures of
 * libs/oci (provenance: libs/oci/src/fixtures/SOURCES.md). What a check then finds in a real
 * registry is test/vendor-payloads.test.ts.
 */
const fixture = (name: string) =>
  readFileSync(new URL(`../../../libs/oci/src/fixtures/${name}`, import.meta.url), 'utf8');

const QUAY_TOKEN = 'quay-path-token-0123456789';
const ACR_AUTH = 'Basic YWNyOnMzY3JldC12YWx1ZQ==';
const NEXUS_SECRET = 'nexus-secret-key';
const GHCR_SECRET = 'ghcr-webhook-secret';
const ARTIFACTORY_SECRET = 'artifactory-secret-token';
// Above a GitHub package delivery (repository, owner and sender objects make it several KiB).
const BODY_LIMIT = 16 * 1024;

function image(ref: string, extra: Partial<WatchedImage> = {}): WatchedImage {
  const { registry, repository } = parseImageRef(ref);
  return {
    image: `${registry}/${repository}`,
    registry,
    repository,
    tagFilter: undefined,
    mutableTags: undefined,
    intervalMs: 60_000,
    maxTags: 1000,
    insecure: false,
    credentials: undefined,
    credentialsId: 'anonymous',
    ...extra,
  };
}

let images: WatchedImage[] = [];
const dispatched: Array<{ image: string; hints: TagHint[] }> = [];
const rejections: Array<WebhookRejection<Receiver>> = [];
const server = createServiceServer({
  logger: createLogger({ service: 'rw-routes-test', level: 'silent' }),
  bodyLimit: BODY_LIMIT,
});

beforeAll(async () => {
  await registerWebhookRoutes(server.app, {
    secrets: {
      quayPathToken: QUAY_TOKEN,
      acrAuth: ACR_AUTH,
      nexusSecret: NEXUS_SECRET,
      ghcrSecret: GHCR_SECRET,
      artifactorySecret: ARTIFACTORY_SECRET,
    },
    bodyLimit: BODY_LIMIT,
    rejectionEventsPerMinute: 1000,
    images: () => images,
    dispatch: async (img, hints) => {
      dispatched.push({ image: img, hints });
      return 'w-1';
    },
    publishRejection: async (r) => {
      rejections.push(r);
    },
    metrics: watcherMetrics(server.registry),
    logger: createLogger({ service: 'rw-routes-test', level: 'silent' }),
  });
  await server.app.ready();
});

afterAll(async () => {
  await server.app.close();
});

beforeEach(() => {
  dispatched.length = 0;
  rejections.length = 0;
  images = [
    image('quay.io/acme/api'),
    image('acmeprod.azurecr.io/team/api'),
    image('ghcr.io/acme/web'),
    image('nexus.example:8443/platform/gateway'),
    image('ghcr.io/acme-corp/platform/api'),
    image('acme.jfrog.io/docker-local/team/api'),
  ];
});

async function post(url: string, body: string, headers: Record<string, string> = {}) {
  const res = await server.app.inject({
    method: 'POST',
    url,
    headers: { 'content-type': 'application/json', ...headers },
    payload: body,
  });
  return { status: res.statusCode, body: res.json() as Record<string, unknown> };
}

const accepted = (images: string[], ignored = 0) => ({ status: 202, body: { accepted: images, ignored } });
const refused = (status: number, error: string) => ({ status, body: expect.objectContaining({ error }) });

describe('Quay receiver (/hooks/quay/<token>)', () => {
  const url = `/hooks/quay/${QUAY_TOKEN}`;

  it('checks the pushed image with each updated tag as a hint', async () => {
    expect(await post(url, fixture('quay-push.json'))).toEqual(accepted(['quay.io/acme/api']));
    expect(dispatched).toEqual([
      { image: 'quay.io/acme/api', hints: [{ tag: 'v2.4.0' }, { tag: 'latest' }] },
    ]);
  });

  it('refuses a wrong path token (401), the token never in the event', async () => {
    expect(await post(`${url}x`, fixture('quay-push.json'))).toEqual(refused(401, 'bad-signature'));
    expect(rejections).toEqual([
      expect.objectContaining({ receiver: 'quay', reason: 'bad-signature', path: '/hooks/quay/<redacted>' }),
    ]);
    expect(JSON.stringify(rejections)).not.toContain(QUAY_TOKEN);
    // Without a token there is no such route at all.
    expect((await server.app.inject({ method: 'POST', url: '/hooks/quay', payload: '{}' })).statusCode).toBe(
      404,
    );
    expect(dispatched).toEqual([]);
  });

  it('refuses a body that is not a Quay notification (400), naming what is missing', async () => {
    expect(await post(url, '{"updated_tags":["v1"]}')).toEqual({
      status: 400,
      body: { error: 'malformed', message: 'no "repository"' },
    });
    expect(await post(url, '{not json')).toEqual(refused(400, 'malformed'));
    expect(await post(url, '["acme/api"]')).toEqual(refused(400, 'malformed'));
    expect(rejections.map((r) => r.reason)).toEqual(['malformed', 'malformed', 'malformed']);
    expect(dispatched).toEqual([]);
  });

  it('acknowledges other notifications and unwatched repositories without a check', async () => {
    // A build notification sent to the same URL: a repository, no updated_tags.
    const { updated_tags: _, ...rest } = JSON.parse(fixture('quay-push.json'));
    const build = JSON.stringify({ ...rest, build_id: '296ec063', docker_tags: ['main'] });
    expect(await post(url, build)).toEqual(accepted([]));
    const other = fixture('quay-push.json').replaceAll('acme/api', 'acme/unwatched');
    expect(await post(url, other)).toEqual(accepted([], 2));
    expect(dispatched).toEqual([]);
  });

  it('refuses an oversized body (413) once the token is right, 401 before', async () => {
    const big = JSON.stringify({ repository: 'acme/api', pad: 'x'.repeat(BODY_LIMIT) });
    expect(await post(url, big)).toEqual(refused(413, 'too-large'));
    expect(await post(`${url}x`, big)).toEqual(refused(401, 'bad-signature'));
  });
});

describe('Azure Container Registry receiver (/hooks/acr)', () => {
  const url = '/hooks/acr';
  const digest = 'sha256:709a72e382b2f70391263706914c084683a96efe9fd2f24851c95784b15d5053';

  it('checks the pushed image with the tag and digest as a hint; the header may carry Bearer', async () => {
    expect(await post(url, fixture('acr-push.json'), { authorization: ACR_AUTH })).toEqual(
      accepted(['acmeprod.azurecr.io/team/api']),
    );
    expect(await post(url, fixture('acr-push.json'), { authorization: `Bearer ${ACR_AUTH}` })).toEqual(
      accepted(['acmeprod.azurecr.io/team/api']),
    );
    expect(dispatched[0]).toEqual({
      image: 'acmeprod.azurecr.io/team/api',
      hints: [{ tag: 'v3.1.0', digest }],
    });
  });

  it('refuses a wrong (401 bad-signature) or absent (401 missing-signature) Authorization header', async () => {
    expect(await post(url, fixture('acr-push.json'), { authorization: `${ACR_AUTH}x` })).toEqual(
      refused(401, 'bad-signature'),
    );
    expect(await post(url, fixture('acr-push.json'))).toEqual(refused(401, 'missing-signature'));
    expect(rejections.map((r) => `${r.receiver}:${r.reason}`)).toEqual([
      'acr:bad-signature',
      'acr:missing-signature',
    ]);
    expect(JSON.stringify(rejections)).not.toContain(ACR_AUTH);
    expect(dispatched).toEqual([]);
  });

  it('refuses a body that is not an ACR event (400)', async () => {
    const push = JSON.parse(fixture('acr-push.json'));
    const headers = { authorization: ACR_AUTH };
    expect(await post(url, JSON.stringify({ ...push, action: undefined }), headers)).toEqual({
      status: 400,
      body: { error: 'malformed', message: 'no "action"' },
    });
    expect(await post(url, JSON.stringify({ ...push, target: {} }), headers)).toEqual({
      status: 400,
      body: { error: 'malformed', message: 'push without target.repository' },
    });
    expect(await post(url, '', headers)).toEqual(refused(400, 'malformed'));
    expect(dispatched).toEqual([]);
  });

  it('acknowledges ping, quarantine and chart events without a check', async () => {
    const push = JSON.parse(fixture('acr-push.json'));
    const headers = { authorization: ACR_AUTH };
    expect(await post(url, '{"action":"ping"}', headers)).toEqual(accepted([]));
    for (const action of ['quarantine', 'chart_push', 'chart_delete']) {
      expect(await post(url, JSON.stringify({ ...push, action }), headers)).toEqual(accepted([]));
    }
    expect(dispatched).toEqual([]);
  });

  it('checks the image again on a delete, with no tag to look for', async () => {
    expect(await post(url, fixture('acr-delete.json'), { authorization: ACR_AUTH })).toEqual(
      accepted(['acmeprod.azurecr.io/team/api']),
    );
    expect(dispatched).toEqual([{ image: 'acmeprod.azurecr.io/team/api', hints: [] }]);
  });
});

describe('Nexus receiver (/hooks/nexus)', () => {
  const url = '/hooks/nexus';
  const delivery = '7f4a6dde-5c68-4999-bcc0-a62f3fb8ae48';
  const sign = (body: string, secret = NEXUS_SECRET) => createHmac('sha1', secret).update(body).digest('hex');
  const headersFor = (body: string, extra: Record<string, string> = {}) => ({
    'content-type': 'application/json; charset=UTF-8',
    'x-nexus-webhook-id': NEXUS_COMPONENT_WEBHOOK,
    'x-nexus-webhook-delivery': delivery,
    'x-nexus-webhook-signature': sign(body),
    ...extra,
  });
  // Nexus sends the JSON without whitespace (Jackson); the fixture is pretty-printed.
  const compact = JSON.stringify(JSON.parse(fixture('nexus-component-created.json')));

  it('checks the image a docker component was created in, with its version as the tag hint', async () => {
    expect(await post(url, compact, headersFor(compact))).toEqual(
      accepted(['nexus.example:8443/platform/gateway']),
    );
    const pretty = fixture('nexus-component-created.json');
    expect(await post(url, pretty, headersFor(pretty))).toEqual(
      accepted(['nexus.example:8443/platform/gateway']),
    );
    expect(dispatched[0]).toEqual({
      image: 'nexus.example:8443/platform/gateway',
      hints: [{ tag: '1.8.2' }],
    });
  });

  it('refuses a bad (401) or missing (401) signature, naming the delivery', async () => {
    const wrong = headersFor(compact, { 'x-nexus-webhook-signature': sign(compact, 'other-secret') });
    expect(await post(url, compact, wrong)).toEqual(refused(401, 'bad-signature'));
    const { 'x-nexus-webhook-signature': _, ...unsigned } = headersFor(compact);
    expect(await post(url, compact, unsigned)).toEqual(refused(401, 'missing-signature'));
    expect(rejections).toEqual([
      expect.objectContaining({ receiver: 'nexus', reason: 'bad-signature', deliveryId: delivery }),
      expect.objectContaining({ receiver: 'nexus', reason: 'missing-signature', deliveryId: delivery }),
    ]);
    expect(dispatched).toEqual([]);
  });

  it('refuses a signed body without the hook id header or that is not a component event (400)', async () => {
    const { 'x-nexus-webhook-id': _, ...noId } = headersFor(compact);
    expect(await post(url, compact, noId)).toEqual({
      status: 400,
      body: { error: 'malformed', message: 'no X-Nexus-Webhook-ID header' },
    });
    const noComponent = JSON.stringify({ ...JSON.parse(compact), component: undefined });
    expect(await post(url, noComponent, headersFor(noComponent))).toEqual({
      status: 400,
      body: { error: 'malformed', message: 'CREATED without "component"' },
    });
    expect(await post(url, '{not json', headersFor('{not json'))).toEqual(refused(400, 'malformed'));
    expect(dispatched).toEqual([]);
  });

  it('acknowledges asset hooks, other formats and purges without a check', async () => {
    const asset = headersFor(compact, { 'x-nexus-webhook-id': 'rm:repository:asset' });
    expect(await post(url, compact, asset)).toEqual(accepted([]));
    const created = JSON.parse(compact);
    const npm = JSON.stringify({ ...created, component: { ...created.component, format: 'npm' } });
    expect(await post(url, npm, headersFor(npm))).toEqual(accepted([]));
    const purged = JSON.stringify({
      ...created,
      action: 'PURGED',
      component: undefined,
      components: ['9a1c'],
    });
    expect(await post(url, purged, headersFor(purged))).toEqual(accepted([]));
    expect(dispatched).toEqual([]);
  });

  it('checks again on DELETED without a tag; an oversized body is 413 when signed, 401 unsigned', async () => {
    const deleted = JSON.stringify({ ...JSON.parse(compact), action: 'DELETED' });
    expect(await post(url, deleted, headersFor(deleted))).toEqual(
      accepted(['nexus.example:8443/platform/gateway']),
    );
    expect(dispatched).toEqual([{ image: 'nexus.example:8443/platform/gateway', hints: [] }]);
    const big = JSON.stringify({ ...JSON.parse(compact), pad: 'x'.repeat(BODY_LIMIT) });
    expect(await post(url, big, headersFor(big))).toEqual(refused(413, 'too-large'));
    const { 'x-nexus-webhook-signature': _, ...unsigned } = headersFor(big);
    expect(await post(url, big, unsigned)).toEqual(refused(401, 'missing-signature'));
  });
});

describe('GitHub Container Registry receiver (/hooks/ghcr)', () => {
  const url = '/hooks/ghcr';
  const delivery = '5a0c8e60-f75b-11f0-8f1e-3c2a9b4d7e11';
  const sign = (body: string, secret = GHCR_SECRET) =>
    `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
  const headersFor = (body: string, event = 'package', extra: Record<string, string> = {}) => ({
    'user-agent': 'GitHub-Hookshot/8e03811',
    'x-github-event': event,
    'x-github-delivery': delivery,
    'x-github-hook-id': '498173622',
    'x-hub-signature-256': sign(body),
    ...extra,
  });
  const published = fixture('ghcr-package-published.json');
  const api = 'ghcr.io/acme-corp/platform/api';
  const digest = 'sha256:8d1b33c9a36f4e9d4ff1c3a2d1c29a6a73ce0d85a3a2d9af6c2b9e58f0a1d7c4';
  const withPackage = (change: Record<string, unknown>) => {
    const body = JSON.parse(published);
    return JSON.stringify({ ...body, package: { ...body.package, ...change } });
  };

  it('checks the published image with its tag and digest as the hint', async () => {
    expect(await post(url, published, headersFor(published))).toEqual(accepted([api]));
    expect(dispatched).toEqual([{ image: api, hints: [{ tag: 'v2.4.0', digest }] }]);
  });

  it('checks an untagged push (registry_package) without a hint', async () => {
    const untagged = fixture('ghcr-registry-package-untagged.json');
    expect(await post(url, untagged, headersFor(untagged, 'registry_package'))).toEqual(accepted([api]));
    expect(dispatched).toEqual([{ image: api, hints: [] }]);
  });

  it('reads a form-encoded delivery (payload=<JSON>), signed over the form bytes', async () => {
    const form = new URLSearchParams({ payload: published }).toString();
    const headers = { ...headersFor(form), 'content-type': 'application/x-www-form-urlencoded' };
    expect(await post(url, form, headers)).toEqual(accepted([api]));
    const signedJson = { ...headersFor(published), 'content-type': 'application/x-www-form-urlencoded' };
    expect(await post(url, form, signedJson)).toEqual(refused(401, 'bad-signature'));
    const empty = 'other=1';
    expect(
      await post(url, empty, { ...headersFor(empty), 'content-type': 'application/x-www-form-urlencoded' }),
    ).toEqual({
      status: 400,
      body: { error: 'malformed', message: 'form body without a "payload" field' },
    });
    expect(dispatched).toEqual([{ image: api, hints: [{ tag: 'v2.4.0', digest }] }]);
  });

  it('answers the ping as a ping, signed; an unsigned ping is refused', async () => {
    const ping = fixture('github-ping.json');
    expect(await post(url, ping, headersFor(ping, 'ping'))).toEqual({
      status: 200,
      body: { ignored: 'ping' },
    });
    const { 'x-hub-signature-256': _, ...unsigned } = headersFor(ping, 'ping');
    expect(await post(url, ping, unsigned)).toEqual(refused(401, 'missing-signature'));
    expect(dispatched).toEqual([]);
  });

  it('refuses a bad or missing signature (401), naming the delivery; SHA-1 alone is no signature', async () => {
    const wrong = headersFor(published, 'package', { 'x-hub-signature-256': sign(published, 'other') });
    expect(await post(url, published, wrong)).toEqual(refused(401, 'bad-signature'));
    const { 'x-hub-signature-256': _, ...unsigned } = headersFor(published);
    expect(await post(url, published, unsigned)).toEqual(refused(401, 'missing-signature'));
    const sha1 = `sha1=${createHmac('sha1', GHCR_SECRET).update(published).digest('hex')}`;
    expect(await post(url, published, { ...unsigned, 'x-hub-signature': sha1 })).toEqual(
      refused(401, 'missing-signature'),
    );
    expect(rejections).toEqual([
      expect.objectContaining({ receiver: 'ghcr', reason: 'bad-signature', deliveryId: delivery }),
      expect.objectContaining({ receiver: 'ghcr', reason: 'missing-signature', deliveryId: delivery }),
      expect.objectContaining({ receiver: 'ghcr', reason: 'missing-signature', deliveryId: delivery }),
    ]);
    expect(dispatched).toEqual([]);
  });

  it('refuses a signed body without X-GitHub-Event, not JSON, or a container version naming nothing (400)', async () => {
    const { 'x-github-event': _, ...noEvent } = headersFor(published);
    expect(await post(url, published, noEvent)).toEqual({
      status: 400,
      body: { error: 'malformed', message: 'no X-GitHub-Event header' },
    });
    const noVersion = withPackage({ package_version: null });
    expect(await post(url, noVersion, headersFor(noVersion))).toEqual({
      status: 400,
      body: { error: 'malformed', message: 'published package without "package_version"' },
    });
    expect(await post(url, '{not json', headersFor('{not json'))).toEqual(refused(400, 'malformed'));
    expect(dispatched).toEqual([]);
  });

  it('acknowledges other package types, actions and events, and unwatched images, without a check', async () => {
    const npm = withPackage({ package_type: 'npm' });
    expect(await post(url, npm, headersFor(npm))).toEqual(accepted([]));
    const deleted = JSON.stringify({ ...JSON.parse(published), action: 'deleted' });
    expect(await post(url, deleted, headersFor(deleted))).toEqual(accepted([]));
    expect(await post(url, published, headersFor(published, 'push'))).toEqual(accepted([]));
    const other = published.replaceAll('acme-corp/platform/api', 'acme-corp/platform/worker');
    expect(await post(url, other, headersFor(other))).toEqual(accepted([], 1));
    expect(dispatched).toEqual([]);
  });

  it('refuses an oversized body (413) when signed, 401 without a signature', async () => {
    const big = JSON.stringify({ ...JSON.parse(published), pad: 'x'.repeat(BODY_LIMIT) });
    expect(await post(url, big, headersFor(big))).toEqual(refused(413, 'too-large'));
    const { 'x-hub-signature-256': _, ...unsigned } = headersFor(big);
    expect(await post(url, big, unsigned)).toEqual(refused(401, 'missing-signature'));
  });
});

describe('JFrog Artifactory receiver (/hooks/artifactory)', () => {
  const url = '/hooks/artifactory';
  const pushed = fixture('artifactory-docker-pushed.json');
  const api = 'acme.jfrog.io/docker-local/team/api';
  const digest = 'sha256:4e1f7a3c9b2d8e6f0a5c1b7d3e9f2a6c8b4d0e7f1a3c5b9d2e8f6a0c4b7d1e3f';
  const hmac = (body: string, secret = ARTIFACTORY_SECRET) =>
    createHmac('sha256', secret).update(body).digest('hex');
  const as = (eventType: string) => JSON.stringify({ ...JSON.parse(pushed), event_type: eventType });

  it('checks the pushed image with its tag and digest, authenticated by the token or the signature', async () => {
    expect(await post(url, pushed, { 'x-jfrog-event-auth': ARTIFACTORY_SECRET })).toEqual(accepted([api]));
    expect(await post(url, pushed, { 'x-jfrog-event-auth': hmac(pushed) })).toEqual(accepted([api]));
    expect(dispatched).toEqual([
      { image: api, hints: [{ tag: 'v3.2.0', digest }] },
      { image: api, hints: [{ tag: 'v3.2.0', digest }] },
    ]);
  });

  it('refuses a wrong token, a signature of other bytes or none (401), the secret never in the event', async () => {
    expect(await post(url, pushed, { 'x-jfrog-event-auth': `${ARTIFACTORY_SECRET}x` })).toEqual(
      refused(401, 'bad-signature'),
    );
    expect(await post(url, pushed, { 'x-jfrog-event-auth': hmac(`${pushed} `) })).toEqual(
      refused(401, 'bad-signature'),
    );
    expect(await post(url, pushed, { 'x-jfrog-event-auth': hmac(pushed, 'other') })).toEqual(
      refused(401, 'bad-signature'),
    );
    expect(await post(url, pushed)).toEqual(refused(401, 'missing-signature'));
    expect(rejections.map((r) => `${r.receiver}:${r.reason}`)).toEqual([
      'artifactory:bad-signature',
      'artifactory:bad-signature',
      'artifactory:bad-signature',
      'artifactory:missing-signature',
    ]);
    expect(JSON.stringify(rejections)).not.toContain(ARTIFACTORY_SECRET);
    expect(dispatched).toEqual([]);
  });

  it('refuses a body that is not an Artifactory event, or a docker event naming no repository (400)', async () => {
    const auth = { 'x-jfrog-event-auth': ARTIFACTORY_SECRET };
    const body = JSON.parse(pushed);
    expect(await post(url, JSON.stringify({ data: body.data }), auth)).toEqual({
      status: 400,
      body: { error: 'malformed', message: 'no "domain"/"event_type"' },
    });
    const noKey = JSON.stringify({ ...body, data: { ...body.data, repo_key: '' } });
    expect(await post(url, noKey, auth)).toEqual({
      status: 400,
      body: { error: 'malformed', message: 'docker pushed without data.repo_key' },
    });
    expect(await post(url, '{not json', auth)).toEqual(refused(400, 'malformed'));
    expect(dispatched).toEqual([]);
  });

  it('checks again without a tag on deleted and promoted; acknowledges other domains', async () => {
    const auth = { 'x-jfrog-event-auth': ARTIFACTORY_SECRET };
    expect(await post(url, as('deleted'), auth)).toEqual(accepted([api]));
    expect(await post(url, as('promoted'), auth)).toEqual(accepted([api]));
    expect(dispatched).toEqual([
      { image: api, hints: [] },
      { image: api, hints: [] },
    ]);
    const artifact = JSON.stringify({
      domain: 'artifact',
      event_type: 'deployed',
      data: { repo_key: 'libs-release-local', path: 'org/acme/lib/1.0/lib-1.0.jar', name: 'lib-1.0.jar' },
      subscription_key: 'flotilla-registry-watcher',
      jpd_origin: 'https://acme.jfrog.io',
      source: 'jfrog/ci-bot',
    });
    expect(await post(url, artifact, auth)).toEqual(accepted([]));
    const unwatched = pushed.replaceAll('team/api', 'team/worker');
    expect(await post(url, unwatched, auth)).toEqual(accepted([], 1));
    expect(dispatched).toHaveLength(2);
  });

  it('refuses an oversized body (413) when authenticated, 401 without the header', async () => {
    const big = JSON.stringify({ ...JSON.parse(pushed), pad: 'x'.repeat(BODY_LIMIT) });
    expect(await post(url, big, { 'x-jfrog-event-auth': ARTIFACTORY_SECRET })).toEqual(
      refused(413, 'too-large'),
    );
    expect(await post(url, big)).toEqual(refused(401, 'missing-signature'));
  });
});

describe('matchImage for repository managers (no host in the payload)', () => {
  const push = { repository: 'team/api', tag: '1.8.2', managerRepository: 'docker-hosted' };
  const connector = image('nexus.example:8443/team/api');
  const routed = image('nexus.example/docker-hosted/team/api');
  const elsewhere = image('ghcr.io/team/api');

  it('prefers path-based routing, then the sole image with the path', () => {
    expect(matchImage(push, [connector, routed])?.image).toBe(routed.image);
    expect(matchImage(push, [connector])?.image).toBe(connector.image);
    expect(matchImage({ ...push, managerRepository: 'docker-other' }, [routed])).toBeUndefined();
  });

  it('takes nothing when several images share the path, unless one declares the repository', () => {
    expect(matchImage(push, [connector, elsewhere])).toBeUndefined();
    const declared = { ...connector, managerRepository: 'docker-hosted' };
    expect(matchImage(push, [declared, elsewhere])?.image).toBe(connector.image);
    // An image declaring another Nexus repository is not this push's.
    expect(matchImage(push, [{ ...connector, managerRepository: 'docker-dev' }])).toBeUndefined();
  });

  it('takes the image pulled through a virtual repository when it declares the local one', () => {
    // Artifactory: pushed to docker-local, pulled as acme.jfrog.io/docker/team/api (a virtual repository).
    const virtual = image('acme.jfrog.io/docker/team/api');
    const local = { ...push, managerRepository: 'docker-local' };
    expect(matchImage(local, [virtual])).toBeUndefined();
    const declared = { ...virtual, managerRepository: 'docker-local' };
    expect(matchImage(local, [declared, elsewhere])?.image).toBe(virtual.image);
    // One segment in front, no more: acme.jfrog.io/x/docker/team/api is another image.
    const deeper = { ...image('acme.jfrog.io/x/docker/team/api'), managerRepository: 'docker-local' };
    expect(matchImage(local, [deeper])).toBeUndefined();
  });
});
