import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  isDistributionEventsContentType,
  NEXUS_COMPONENT_WEBHOOK,
  parseAcrEvent,
  parseArtifactoryEvent,
  parseDistributionNotification,
  parseDockerHubPush,
  parseGhcrEvent,
  parseHarborEvent,
  parseNexusEvent,
  parseQuayPush,
  parseRegistryWebhook,
  registryWebhookShapeError,
} from './webhooks.ts';

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');

// Fixture provenance: src/fixtures/SOURCES.md.
describe('parseDistributionNotification', () => {
  it('keeps manifest pushes and deletes, drops layers and pulls', () => {
    const events = parseDistributionNotification(fixture('distribution-events.json'));
    expect(events).toEqual([
      {
        repository: 'team/api',
        tag: 'v1.4.0',
        digest: 'sha256:2222222222222222222222222222222222222222222222222222222222222222',
        registry: 'registry.internal:5000',
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        id: '7e6d5c4b-3a29-4180-9f7e-6d5c4b3a2910',
        timestamp: '2026-11-20T10:15:03.5Z',
      },
      {
        repository: 'team/web',
        digest: 'sha256:3333333333333333333333333333333333333333333333333333333333333333',
        registry: 'registry.internal:5000',
        mediaType: 'application/vnd.docker.distribution.manifest.list.v2+json',
        id: '5a5a5a5a-0000-4000-8000-5a5a5a5a5a5a',
        timestamp: '2026-11-20T10:15:05Z',
      },
      {
        action: 'delete',
        repository: 'team/api',
        digest: 'sha256:2222222222222222222222222222222222222222222222222222222222222222',
        id: 'dddddddd-0000-4000-8000-dddddddddddd',
        timestamp: '2026-11-20T10:16:00Z',
      },
    ]);
  });

  it('accepts parsed objects and bytes, and tolerates junk', () => {
    const obj = JSON.parse(fixture('distribution-events.json'));
    expect(parseDistributionNotification(obj)).toHaveLength(3);
    expect(parseDistributionNotification(Buffer.from(fixture('distribution-events.json')))).toHaveLength(3);
    expect(parseDistributionNotification({})).toEqual([]);
    expect(parseDistributionNotification({ events: [null, 1, { action: 'push' }] })).toEqual([]);
    expect(() => parseDistributionNotification('{not json')).toThrow();
  });

  it('recognises both event content types', () => {
    expect(isDistributionEventsContentType('application/vnd.docker.distribution.events.v1+json')).toBe(true);
    expect(
      isDistributionEventsContentType('application/vnd.docker.distribution.events.v2+json; charset=utf-8'),
    ).toBe(true);
    expect(isDistributionEventsContentType('application/json')).toBe(false);
    expect(isDistributionEventsContentType(undefined)).toBe(false);
  });
});

describe('parseDockerHubPush', () => {
  it('maps push_data and repo_name', () => {
    expect(parseDockerHubPush(fixture('dockerhub-push.json'))).toEqual([
      { repository: 'acme/api', tag: '2.3.1', registry: 'docker.io', timestamp: '2025-11-20T10:15:02.000Z' },
    ]);
  });

  it('adds library/ for official single-name repositories and ignores other payloads', () => {
    const events = parseDockerHubPush({ push_data: { tag: 'x' }, repository: { repo_name: 'nginx' } });
    expect(events[0]?.repository).toBe('library/nginx');
    expect(parseDockerHubPush({ hello: 'world' })).toEqual([]);
  });
});

describe('parseHarborEvent', () => {
  it('reads the Default form', () => {
    expect(parseHarborEvent(fixture('harbor-default.json'))).toEqual([
      {
        repository: 'payments/ledger',
        tag: 'v2.0.0',
        digest: 'sha256:4444444444444444444444444444444444444444444444444444444444444444',
        registry: 'harbor.example.com',
        timestamp: '2025-11-20T10:15:02.000Z',
      },
    ]);
  });

  it('reads the structured CloudEvents form', () => {
    expect(parseHarborEvent(fixture('harbor-cloudevents.json'))).toEqual([
      {
        repository: 'payments/ledger',
        tag: 'latest',
        digest: 'sha256:5555555555555555555555555555555555555555555555555555555555555555',
        registry: 'harbor.example.com',
        id: '66a3e9e2-37d4-4d1a-9b3c-8f0e2a1b4c5d',
        timestamp: '2026-11-20T10:15:02Z',
      },
    ]);
  });

  it('reads binary-mode CloudEvents from ce- headers', () => {
    const ce = JSON.parse(fixture('harbor-cloudevents.json'));
    const events = parseHarborEvent(ce.data, { 'ce-type': 'harbor.artifact.pushed', 'ce-id': 'abc' });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ repository: 'payments/ledger', tag: 'latest', id: 'abc' });
  });

  it('keeps the digest but no tag for an untagged push (Harbor puts the digest in `tag`)', () => {
    const digest = 'sha256:dde8e930c7b6a490f728e66292bc9bce42efc9bbb5278bae40e4f30f6e00fe8c';
    expect(parseHarborEvent(fixture('harbor-untagged-cloudevents.json'))).toEqual([
      {
        repository: 'library/busybox',
        digest,
        registry: 'harbor.dev',
        id: '4b2f89a6-548d-4c12-9993-a1f5790b97d2',
        timestamp: '2023-03-06T06:08:43Z',
      },
    ]);
    const untagged = JSON.parse(fixture('harbor-default.json'));
    untagged.event_data.resources[0].tag = untagged.event_data.resources[0].digest;
    expect(parseHarborEvent(untagged)[0]).not.toHaveProperty('tag');
  });

  it('reports deletes without a tag, and ignores other event types', () => {
    const pulled = { ...JSON.parse(fixture('harbor-default.json')), type: 'PULL_ARTIFACT' };
    expect(parseHarborEvent(pulled)).toEqual([]);
    expect(parseHarborEvent({ ...pulled, type: 'constructor' })).toEqual([]);
    const deleted = { ...JSON.parse(fixture('harbor-cloudevents.json')), type: 'harbor.artifact.deleted' };
    expect(parseHarborEvent(deleted)).toEqual([
      expect.objectContaining({ action: 'delete', repository: 'payments/ledger' }),
    ]);
    expect(parseHarborEvent(deleted)[0]).not.toHaveProperty('tag');
    const deletedDefault = { ...JSON.parse(fixture('harbor-default.json')), type: 'DELETE_ARTIFACT' };
    expect(parseHarborEvent(deletedDefault)[0]).toMatchObject({ action: 'delete' });
  });
});

describe('parseQuayPush', () => {
  it('reads one push per updated tag, the host from docker_url', () => {
    expect(parseQuayPush(fixture('quay-push.json'))).toEqual([
      { repository: 'acme/api', tag: 'v2.4.0', registry: 'quay.io' },
      { repository: 'acme/api', tag: 'latest', registry: 'quay.io' },
    ]);
  });

  it('takes a self-hosted Quay host with its port, and the old object form of updated_tags', () => {
    const push = JSON.parse(fixture('quay-push.json'));
    const selfHosted = {
      ...push,
      docker_url: 'quay.corp.example:8443/acme/api',
      updated_tags: { '1.0': 'x' },
    };
    expect(parseQuayPush(selfHosted)).toEqual([
      { repository: 'acme/api', tag: '1.0', registry: 'quay.corp.example:8443' },
    ]);
  });

  it('checks without a hint when no updated tag is a tag, and ignores other notifications', () => {
    const push = JSON.parse(fixture('quay-push.json'));
    expect(parseQuayPush({ ...push, updated_tags: ['sha256:abc', ''] })).toEqual([
      { repository: 'acme/api', registry: 'quay.io' },
    ]);
    // A build notification to the same URL: repository but no updated_tags.
    const { updated_tags: _, ...build } = push;
    expect(parseQuayPush({ ...build, build_id: '296ec063', docker_tags: ['main'] })).toEqual([]);
    expect(registryWebhookShapeError('quay', build)).toBeUndefined();
  });

  it('calls a body without repository, or with updated_tags not a list, malformed', () => {
    const push = JSON.parse(fixture('quay-push.json'));
    expect(registryWebhookShapeError('quay', push)).toBeUndefined();
    expect(registryWebhookShapeError('quay', { ...push, repository: undefined })).toBe('no "repository"');
    expect(registryWebhookShapeError('quay', { ...push, updated_tags: 'v1' })).toBe(
      '"updated_tags" is not a list',
    );
  });
});

describe('parseAcrEvent', () => {
  it('reads a push by tag', () => {
    expect(parseAcrEvent(fixture('acr-push.json'))).toEqual([
      {
        repository: 'team/api',
        tag: 'v3.1.0',
        digest: 'sha256:709a72e382b2f70391263706914c084683a96efe9fd2f24851c95784b15d5053',
        registry: 'acmeprod.azurecr.io',
        mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
        id: '9a3769a6-a901-4ed4-8bc4-91c1f56f84ca',
        timestamp: '2026-03-02T09:41:27.5183920Z',
      },
    ]);
  });

  it('reads a push by digest without a tag, and a delete', () => {
    const push = JSON.parse(fixture('acr-push.json'));
    const byDigest = { ...push, target: { ...push.target, tag: undefined } };
    expect(parseAcrEvent(byDigest)[0]).not.toHaveProperty('tag');
    expect(parseAcrEvent(fixture('acr-delete.json'))).toEqual([
      {
        action: 'delete',
        repository: 'team/api',
        digest: 'sha256:709a72e382b2f70391263706914c084683a96efe9fd2f24851c95784b15d5053',
        registry: 'acmeprod.azurecr.io',
        id: '3b264bdd-00ab-4488-bbd4-b1ae9c1d3117',
        timestamp: '2026-03-02T09:55:03.6577646Z',
      },
    ]);
  });

  it('ignores ping, quarantine and Helm chart events', () => {
    const push = JSON.parse(fixture('acr-push.json'));
    for (const action of ['ping', 'quarantine', 'chart_push', 'chart_delete']) {
      expect(parseAcrEvent({ ...push, action })).toEqual([]);
      expect(registryWebhookShapeError('acr', { ...push, action })).toBeUndefined();
    }
    // A ping carries no target at all.
    expect(registryWebhookShapeError('acr', { action: 'ping' })).toBeUndefined();
    expect(parseAcrEvent({ action: 'ping' })).toEqual([]);
  });

  it('calls a body without action, or a push without target.repository, malformed', () => {
    const push = JSON.parse(fixture('acr-push.json'));
    expect(registryWebhookShapeError('acr', push)).toBeUndefined();
    expect(registryWebhookShapeError('acr', { ...push, action: undefined })).toBe('no "action"');
    expect(registryWebhookShapeError('acr', { ...push, target: { tag: 'v1' } })).toBe(
      'push without target.repository',
    );
  });
});

describe('parseNexusEvent', () => {
  const headers = {
    'x-nexus-webhook-id': NEXUS_COMPONENT_WEBHOOK,
    'x-nexus-webhook-delivery': '7f4a6dde-5c68-4999-bcc0-a62f3fb8ae48',
  };

  it('reads a created docker component: image path, tag, Nexus repository, no host', () => {
    expect(parseNexusEvent(fixture('nexus-component-created.json'), headers)).toEqual([
      {
        repository: 'platform/gateway',
        tag: '1.8.2',
        managerRepository: 'docker-hosted',
        id: '7f4a6dde-5c68-4999-bcc0-a62f3fb8ae48',
        timestamp: '2026-03-02T10:12:44.118Z',
      },
    ]);
  });

  it('takes UPDATED as a push and DELETED as a delete without tag', () => {
    const created = JSON.parse(fixture('nexus-component-created.json'));
    expect(parseNexusEvent({ ...created, action: 'UPDATED' }, headers)[0]).toMatchObject({ tag: '1.8.2' });
    const deleted = parseNexusEvent({ ...created, action: 'DELETED' }, headers);
    expect(deleted).toEqual([expect.objectContaining({ action: 'delete', repository: 'platform/gateway' })]);
    expect(deleted[0]).not.toHaveProperty('tag');
  });

  it('ignores purges, other formats, asset and other hooks', () => {
    const created = JSON.parse(fixture('nexus-component-created.json'));
    const purged = { ...created, action: 'PURGED', component: undefined, components: ['9a1c2f3b'] };
    expect(parseNexusEvent(purged, headers)).toEqual([]);
    expect(registryWebhookShapeError('nexus', purged, headers)).toBeUndefined();
    const npm = { ...created, component: { ...created.component, format: 'npm' } };
    expect(parseNexusEvent(npm, headers)).toEqual([]);
    const asset = { ...headers, 'x-nexus-webhook-id': 'rm:repository:asset' };
    expect(parseNexusEvent(created, asset)).toEqual([]);
    expect(registryWebhookShapeError('nexus', created, asset)).toBeUndefined();
    expect(parseNexusEvent(created, {})).toEqual([]);
  });

  it('calls a body without the hook id header, action or component malformed', () => {
    const created = JSON.parse(fixture('nexus-component-created.json'));
    expect(registryWebhookShapeError('nexus', created, headers)).toBeUndefined();
    expect(registryWebhookShapeError('nexus', created, {})).toBe('no X-Nexus-Webhook-ID header');
    expect(registryWebhookShapeError('nexus', { ...created, action: undefined }, headers)).toBe(
      'no "action"/"repositoryName"',
    );
    expect(registryWebhookShapeError('nexus', { ...created, component: undefined }, headers)).toBe(
      'CREATED without "component"',
    );
    const nameless = { ...created, component: { ...created.component, name: undefined } };
    expect(registryWebhookShapeError('nexus', nameless, headers)).toBe('docker component without "name"');
  });
});

describe('parseGhcrEvent', () => {
  const delivery = '5a0c8e60-f75b-11f0-8f1e-3c2a9b4d7e11';
  const headers = (event: string) => ({ 'x-github-event': event, 'x-github-delivery': delivery });
  const digest = 'sha256:8d1b33c9a36f4e9d4ff1c3a2d1c29a6a73ce0d85a3a2d9af6c2b9e58f0a1d7c4';

  it('reads a published container version: image from package_url, tag, digest, delivery', () => {
    expect(parseGhcrEvent(fixture('ghcr-package-published.json'), headers('package'))).toEqual([
      { registry: 'ghcr.io', repository: 'acme-corp/platform/api', tag: 'v2.4.0', digest, id: delivery },
    ]);
  });

  it('reads an untagged version (registry_package, package_url ending in a bare colon) without a tag', () => {
    expect(
      parseGhcrEvent(fixture('ghcr-registry-package-untagged.json'), headers('registry_package')),
    ).toEqual([
      {
        registry: 'ghcr.io',
        repository: 'acme-corp/platform/api',
        digest: 'sha256:1b5c2e8f7d9a4c3b6e0f1a2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6e5f4a3',
        id: delivery,
      },
    ]);
  });

  it('lower-cases the path, keeps the tag; without package_url the image is ghcr.io/<namespace>/<name>', () => {
    const body = JSON.parse(fixture('ghcr-package-published.json'));
    const version = body.package.package_version;
    const mixed = { ...version, package_url: 'ghcr.io/Acme-Corp/Platform/API:Release-1' };
    expect(
      parseGhcrEvent({ ...body, package: { ...body.package, package_version: mixed } }, headers('package')),
    ).toEqual([
      expect.objectContaining({ registry: 'ghcr.io', repository: 'acme-corp/platform/api', tag: 'v2.4.0' }),
    ]);
    const { package_url: _, ...noUrl } = version;
    const owner = { ...body.package, namespace: undefined, package_version: noUrl };
    expect(parseGhcrEvent({ ...body, package: owner }, headers('package'))).toEqual([
      expect.objectContaining({ registry: 'ghcr.io', repository: 'acme-corp/platform/api' }),
    ]);
    // GitHub Enterprise Server names its own container host in package_url.
    const ghes = { ...version, package_url: 'containers.github.acme.example/acme-corp/platform/api:v2.4.0' };
    expect(
      parseGhcrEvent({ ...body, package: { ...body.package, package_version: ghes } }, headers('package'))[0],
    ).toMatchObject({
      registry: 'containers.github.acme.example',
      repository: 'acme-corp/platform/api',
    });
  });

  it('takes updated and docker (migrated) packages; ignores other actions, types and events', () => {
    const body = JSON.parse(fixture('ghcr-package-published.json'));
    expect(parseGhcrEvent({ ...body, action: 'updated' }, headers('package'))).toHaveLength(1);
    const lower = { ...body, package: { ...body.package, package_type: 'container' } };
    expect(parseGhcrEvent(lower, headers('package'))).toHaveLength(1);
    const docker = { ...body, package: { ...body.package, package_type: 'docker' } };
    expect(parseGhcrEvent(docker, headers('package'))).toHaveLength(1);
    for (const type of ['npm', 'maven', 'rubygems', 'nuget']) {
      const other = { ...body, package: { ...body.package, package_type: type } };
      expect(parseGhcrEvent(other, headers('package'))).toEqual([]);
      expect(registryWebhookShapeError('ghcr', other, headers('package'))).toBeUndefined();
    }
    expect(parseGhcrEvent({ ...body, action: 'deleted' }, headers('package'))).toEqual([]);
    // The payload is under the event's name: a `package` body sent as registry_package names nothing.
    expect(parseGhcrEvent(body, headers('registry_package'))).toEqual([]);
    const ping = fixture('github-ping.json');
    expect(parseGhcrEvent(ping, headers('ping'))).toEqual([]);
    expect(registryWebhookShapeError('ghcr', JSON.parse(ping), headers('ping'))).toBeUndefined();
    expect(registryWebhookShapeError('ghcr', body, headers('push'))).toBeUndefined();
  });

  it('calls a body without the event header, package or version, or naming no image malformed', () => {
    const body = JSON.parse(fixture('ghcr-package-published.json'));
    expect(registryWebhookShapeError('ghcr', body, headers('package'))).toBeUndefined();
    expect(registryWebhookShapeError('ghcr', body, {})).toBe('no X-GitHub-Event header');
    expect(registryWebhookShapeError('ghcr', { action: 'published' }, headers('package'))).toBe(
      'no "action"/"package"',
    );
    const noVersion = { ...body, package: { ...body.package, package_version: null } };
    expect(registryWebhookShapeError('ghcr', noVersion, headers('package'))).toBe(
      'published package without "package_version"',
    );
    const { package_url: _, ...noUrl } = body.package.package_version;
    const nameless = { ...body, package: { ...body.package, name: '', package_version: noUrl } };
    expect(registryWebhookShapeError('ghcr', nameless, headers('package'))).toBe(
      'published package names no image (package_url, namespace/name)',
    );
  });
});

describe('parseArtifactoryEvent', () => {
  const pushed = () => JSON.parse(fixture('artifactory-docker-pushed.json'));

  it('reads a pushed tag: image path, tag, digest from sha256, the repository key, no host', () => {
    expect(parseArtifactoryEvent(fixture('artifactory-docker-pushed.json'))).toEqual([
      {
        repository: 'team/api',
        tag: 'v3.2.0',
        digest: 'sha256:4e1f7a3c9b2d8e6f0a5c1b7d3e9f2a6c8b4d0e7f1a3c5b9d2e8f6a0c4b7d1e3f',
        managerRepository: 'docker-local',
      },
    ]);
  });

  it('takes the image path from data.path when image_name is absent', () => {
    const body = pushed();
    const { image_name: _, ...noName } = body.data;
    expect(parseArtifactoryEvent({ ...body, data: noName })[0]).toMatchObject({ repository: 'team/api' });
    const single = { ...noName, path: 'org/team/api/v3.2.0/manifest.json' };
    expect(parseArtifactoryEvent({ ...body, data: single })[0]).toMatchObject({ repository: 'org/team/api' });
  });

  it('checks again without a tag on deleted and promoted', () => {
    const body = pushed();
    const deleted = parseArtifactoryEvent({ ...body, event_type: 'deleted' });
    expect(deleted).toEqual([
      { action: 'delete', repository: 'team/api', managerRepository: 'docker-local' },
    ]);
    // A promotion names the repository the tag left (or was copied from), never where it went.
    expect(parseArtifactoryEvent({ ...body, event_type: 'promoted' })).toEqual([
      { repository: 'team/api', managerRepository: 'docker-local' },
    ]);
  });

  it('ignores other domains and event types', () => {
    const body = pushed();
    const artifact = {
      domain: 'artifact',
      event_type: 'deployed',
      data: { repo_key: 'libs-release', path: 'a/b.jar', name: 'b.jar', sha256: 'x', size: 0 },
    };
    expect(parseArtifactoryEvent(artifact)).toEqual([]);
    expect(registryWebhookShapeError('artifactory', artifact)).toBeUndefined();
    expect(parseArtifactoryEvent({ ...body, event_type: 'constructor' })).toEqual([]);
    expect(registryWebhookShapeError('artifactory', { ...body, event_type: 'constructor' })).toBeUndefined();
  });

  it('calls a body without domain/event_type, or a docker event without repo_key or image malformed', () => {
    const body = pushed();
    expect(registryWebhookShapeError('artifactory', body)).toBeUndefined();
    expect(registryWebhookShapeError('artifactory', { data: body.data })).toBe('no "domain"/"event_type"');
    const noKey = { ...body, data: { ...body.data, repo_key: undefined } };
    expect(registryWebhookShapeError('artifactory', noKey)).toBe('docker pushed without data.repo_key');
    const noImage = { ...body, data: { ...body.data, image_name: undefined, path: 'x' } };
    expect(registryWebhookShapeError('artifactory', noImage)).toBe(
      'docker pushed without data.image_name/path',
    );
  });
});

describe('parseRegistryWebhook', () => {
  it('dispatches by source', () => {
    expect(parseRegistryWebhook('distribution', fixture('distribution-events.json'))).toHaveLength(3);
    expect(parseRegistryWebhook('dockerhub', fixture('dockerhub-push.json'))).toHaveLength(1);
    expect(parseRegistryWebhook('harbor', fixture('harbor-default.json'))).toHaveLength(1);
    expect(parseRegistryWebhook('quay', fixture('quay-push.json'))).toHaveLength(2);
    expect(parseRegistryWebhook('acr', fixture('acr-push.json'))).toHaveLength(1);
    expect(
      parseRegistryWebhook('nexus', fixture('nexus-component-created.json'), {
        'x-nexus-webhook-id': NEXUS_COMPONENT_WEBHOOK,
      }),
    ).toHaveLength(1);
    expect(
      parseRegistryWebhook('ghcr', fixture('ghcr-package-published.json'), { 'x-github-event': 'package' }),
    ).toHaveLength(1);
    expect(parseRegistryWebhook('artifactory', fixture('artifactory-docker-pushed.json'))).toHaveLength(1);
  });

  it("says why a body is not the sender's shape", () => {
    expect(registryWebhookShapeError('distribution', { no: 'events' })).toBe('no "events" array');
    expect(registryWebhookShapeError('dockerhub', {})).toBe('no push_data/repository');
    expect(registryWebhookShapeError('harbor', {})).toBeUndefined();
  });
});
