import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  isDistributionEventsContentType,
  parseDistributionNotification,
  parseDockerHubPush,
  parseHarborEvent,
  parseRegistryWebhook,
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

describe('parseRegistryWebhook', () => {
  it('dispatches by source', () => {
    expect(parseRegistryWebhook('distribution', fixture('distribution-events.json'))).toHaveLength(3);
    expect(parseRegistryWebhook('dockerhub', fixture('dockerhub-push.json'))).toHaveLength(1);
    expect(parseRegistryWebhook('harbor', fixture('harbor-default.json'))).toHaveLength(1);
  });
});
