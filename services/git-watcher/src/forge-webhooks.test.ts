/**
 * Bitbucket Data Center, Bitbucket Cloud, Azure DevOps and Gogs deliveries, parsed and verified on
 * fixture files (provenance: src/fixtures/SOURCES.md). Each is signed here as its forge signs it.
 */
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Config } from './config.ts';
import { DELIVERY_HEADERS, receiverEnabled, verifyWebhook } from './webhook-auth.ts';
import {
  decodeBody,
  MalformedPayload,
  matchRepos,
  type PushNotice,
  parseWebhook,
} from './webhook-payload.ts';
import { trustedAfter } from './webhooks.ts';

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url));
const json = (name: string) => JSON.parse(fixture(name).toString('utf8')) as Record<string, unknown>;
const hex = (secret: string, body: Buffer | string) =>
  createHmac('sha256', secret).update(body).digest('hex');
const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

const secrets = {
  bodyLimit: 1 << 20,
  forwardTimeoutMs: 2000,
  rejectionEventsPerMinute: 20,
  bitbucketServerSecret: 'bbs-secret-0f3c',
  bitbucketCloudSecret: 'bbc-secret-9a1e',
  gogsSecret: 'gogs-secret-5d7b',
  azureDevOpsUsername: 'flotilla',
  azureDevOpsPassword: 'ado-password-2c8f',
} satisfies Config['webhooks'];

const ok = { ok: true };
const bad = { ok: false, reason: 'bad-signature' };
const missing = { ok: false, reason: 'missing-signature' };
const ZERO = '0'.repeat(40);

const repo = (name: string, url: string, branch = 'main', aliases: string[] = []) => ({
  name,
  url,
  branch,
  aliases,
});

/** The refs and heads of the push notices, in payload order. */
const refs = (notices: PushNotice[]) =>
  notices.map((n) => ({
    kind: n.kind,
    ref: n.ref,
    after: n.after ?? null,
    trusted: trustedAfter(n) ?? null,
  }));

describe('receivers are served only with their secret', () => {
  it('needs each forge its own secret (Azure DevOps: the password)', () => {
    for (const r of ['bitbucket-server', 'bitbucket-cloud', 'gogs', 'azure-devops'] as const) {
      expect(receiverEnabled(r, secrets), r).toBe(true);
      expect(
        receiverEnabled(r, { bodyLimit: 1024, forwardTimeoutMs: 100, rejectionEventsPerMinute: 0 }),
        r,
      ).toBe(false);
    }
    expect(receiverEnabled('azure-devops', { ...secrets, azureDevOpsPassword: undefined })).toBe(false);
    expect(DELIVERY_HEADERS['bitbucket-server']).toEqual(['x-request-id']);
    expect(DELIVERY_HEADERS['bitbucket-cloud']).toEqual(['x-request-uuid']);
    expect(DELIVERY_HEADERS.gogs).toEqual(['x-gogs-delivery']);
  });
});

describe('Bitbucket Data Center', () => {
  const body = fixture('bitbucket-server-refs-changed.json');
  const headers = (over: Record<string, string | undefined> = {}) => ({
    'content-type': 'application/json; charset=utf-8',
    'x-event-key': 'repo:refs_changed',
    'x-request-id': 'b3d1f0e2-6a4c-4e8f-9b7d-1c3e5a7f9b0d',
    'x-hub-signature': `sha256=${hex(secrets.bitbucketServerSecret, body)}`,
    ...over,
  });

  it('verifies X-Hub-Signature (sha256=<hex> of the body): good, forged, missing, over other bytes', () => {
    expect(verifyWebhook('bitbucket-server', secrets, headers(), body)).toEqual(ok);
    const forged = headers({ 'x-hub-signature': `sha256=${hex('not-the-secret', body)}` });
    expect(verifyWebhook('bitbucket-server', secrets, forged, body)).toEqual(bad);
    expect(
      verifyWebhook('bitbucket-server', secrets, headers({ 'x-hub-signature': undefined }), body),
    ).toEqual(missing);
    // GitHub's header name is not Bitbucket's.
    const githubName = headers({
      'x-hub-signature': undefined,
      'x-hub-signature-256': headers()['x-hub-signature'],
    });
    expect(verifyWebhook('bitbucket-server', secrets, githubName, body)).toEqual(missing);
    expect(
      verifyWebhook('bitbucket-server', secrets, headers(), Buffer.concat([body, Buffer.from(' ')])),
    ).toEqual(bad);
    // The body was not read (too large): the check cannot be made here.
    expect(verifyWebhook('bitbucket-server', secrets, headers(), undefined)).toBeUndefined();
  });

  it('reports every branch a repo:refs_changed moved, deleted ones without a head, tags as tags', () => {
    const notices = parseWebhook('bitbucket-server', headers(), decodeBody(body, 'application/json'));
    expect(refs(notices)).toEqual([
      {
        kind: 'push',
        ref: 'refs/heads/main',
        after: '9b8e4c21d7f05a3e6b2c1d0f9a8e7b6c5d4e3f21',
        trusted: '9b8e4c21d7f05a3e6b2c1d0f9a8e7b6c5d4e3f21',
      },
      {
        kind: 'push',
        ref: 'refs/heads/release/2026.03',
        after: '9b8e4c21d7f05a3e6b2c1d0f9a8e7b6c5d4e3f21',
        trusted: '9b8e4c21d7f05a3e6b2c1d0f9a8e7b6c5d4e3f21',
      },
      // DELETE: checked like a push (the watched branch may be gone), by asking the remote.
      { kind: 'push', ref: 'refs/heads/feature/old-overlay', after: null, trusted: null },
      {
        kind: 'push',
        ref: 'refs/tags/v2026.03.0',
        after: 'c41d7e9a0b3f5c2e8d6a4b1f9e7c5a3d1b0f8e6c',
        trusted: null,
      },
    ]);
    expect(notices[0]).toMatchObject({
      identifiers: [
        'ssh://git@bitbucket.acme.example:7999/ops/shop-config.git',
        'https://bitbucket.acme.example/scm/ops/shop-config.git',
        'https://bitbucket.acme.example/projects/OPS/repos/shop-config/browse',
        'OPS/shop-config',
      ],
      deliveryId: 'b3d1f0e2-6a4c-4e8f-9b7d-1c3e5a7f9b0d',
    });
  });

  it('matches the watched branch by either clone URL or project/slug, on its host only', () => {
    const notices = parseWebhook('bitbucket-server', headers(), json('bitbucket-server-refs-changed.json'));
    const repos = [
      repo('over-https', 'https://bitbucket.acme.example/scm/ops/shop-config.git'),
      repo('over-ssh', 'ssh://git@bitbucket.acme.example:7999/ops/shop-config.git', 'release/2026.03'),
      repo('gone', 'https://bitbucket.acme.example/scm/ops/shop-config.git', 'feature/old-overlay'),
      repo('by-key', 'git@bitbucket.acme.example:ops/shop-config.git', 'main'),
      repo('elsewhere', 'https://bitbucket.other.example/scm/ops/shop-config.git', 'main', [
        'OPS/shop-config',
      ]),
    ];
    const matched = notices.flatMap((n) => matchRepos(n, repos).map((r) => `${r.name}@${n.ref}`));
    expect(matched).toEqual([
      'over-https@refs/heads/main',
      'by-key@refs/heads/main',
      'over-ssh@refs/heads/release/2026.03',
      'gone@refs/heads/feature/old-overlay',
    ]);
  });

  it('answers diagnostics:ping as a ping, signed or not; a wrongly signed ping is refused', () => {
    const ping = fixture('bitbucket-server-ping.json');
    const pingHeaders = { 'x-event-key': 'diagnostics:ping', 'x-request-id': 'p-1' };
    expect(verifyWebhook('bitbucket-server', secrets, pingHeaders, ping)).toEqual(ok);
    const signed = {
      ...pingHeaders,
      'x-hub-signature': `sha256=${hex(secrets.bitbucketServerSecret, ping)}`,
    };
    expect(verifyWebhook('bitbucket-server', secrets, signed, ping)).toEqual(ok);
    const forged = { ...pingHeaders, 'x-hub-signature': `sha256=${hex('x', ping)}` };
    expect(verifyWebhook('bitbucket-server', secrets, forged, ping)).toEqual(bad);
    expect(parseWebhook('bitbucket-server', pingHeaders, decodeBody(ping, 'application/json'))).toEqual([
      { kind: 'ping', identifiers: [], deliveryId: 'p-1' },
    ]);
    // Only the ping: any other unsigned request is refused.
    expect(verifyWebhook('bitbucket-server', secrets, { 'x-event-key': 'repo:refs_changed' }, body)).toEqual(
      missing,
    );
  });

  it('acknowledges other events, and names what is wrong with a malformed one', () => {
    const payload = json('bitbucket-server-refs-changed.json');
    expect(parseWebhook('bitbucket-server', headers({ 'x-event-key': 'pr:opened' }), payload)).toEqual([
      { kind: 'other', identifiers: [], deliveryId: 'b3d1f0e2-6a4c-4e8f-9b7d-1c3e5a7f9b0d' },
    ]);
    // The event key is also in the body; without either there is nothing to go by.
    expect(parseWebhook('bitbucket-server', headers({ 'x-event-key': undefined }), payload)).toHaveLength(4);
    const { eventKey: _k, ...noKey } = payload;
    expect(() => parseWebhook('bitbucket-server', headers({ 'x-event-key': undefined }), noKey)).toThrow(
      /names no event \(no X-Event-Key\)/,
    );
    const { changes: _c, ...noChanges } = payload;
    expect(() => parseWebhook('bitbucket-server', headers(), noChanges)).toThrow(
      'bitbucket-server repo:refs_changed payload has no changes list',
    );
    expect(() =>
      parseWebhook('bitbucket-server', headers(), { ...payload, changes: [{ toHash: ZERO }] }),
    ).toThrow('bitbucket-server change names no ref (ref.id)');
    const { repository: _r, ...noRepo } = payload;
    expect(() => parseWebhook('bitbucket-server', headers(), noRepo)).toThrow(
      'bitbucket-server push payload names no repository',
    );
    expect(() => decodeBody(body.subarray(0, 100), 'application/json')).toThrow(MalformedPayload);
  });
});

describe('Bitbucket Cloud', () => {
  const body = fixture('bitbucket-cloud-push.json');
  const headers = (over: Record<string, string | undefined> = {}) => ({
    'content-type': 'application/json',
    'x-event-key': 'repo:push',
    'x-hook-uuid': '{f1e2d3c4-b5a6-4978-8695-a4b3c2d1e0f9}',
    'x-request-uuid': '5c7e9a1b-3d5f-4a7c-9e1b-3d5f7a9c1e3b',
    'x-attempt-number': '1',
    'x-hub-signature': `sha256=${hex(secrets.bitbucketCloudSecret, body)}`,
    ...over,
  });

  it('verifies the webhook secret in X-Hub-Signature: good, forged, missing (a hook without a secret)', () => {
    expect(verifyWebhook('bitbucket-cloud', secrets, headers(), body)).toEqual(ok);
    expect(
      verifyWebhook(
        'bitbucket-cloud',
        secrets,
        headers({ 'x-hub-signature': `sha256=${hex('x', body)}` }),
        body,
      ),
    ).toEqual(bad);
    // Not the bare hex: the algorithm prefix is part of the value.
    expect(
      verifyWebhook(
        'bitbucket-cloud',
        secrets,
        headers({ 'x-hub-signature': hex(secrets.bitbucketCloudSecret, body) }),
        body,
      ),
    ).toEqual(bad);
    // The hook UUID is no secret (it is in every delivery): alone it is not enough.
    expect(
      verifyWebhook('bitbucket-cloud', secrets, headers({ 'x-hub-signature': undefined }), body),
    ).toEqual(missing);
  });

  it('reports every ref of push.changes: update, created branch, deleted branch (new: null), tag', () => {
    const notices = parseWebhook('bitbucket-cloud', headers(), decodeBody(body, 'application/json'));
    expect(refs(notices)).toEqual([
      {
        kind: 'push',
        ref: 'refs/heads/main',
        after: '8c6a4e2f0d8b6c4a2e0f8d6b4c2a0e8f6d4b2c0a',
        trusted: '8c6a4e2f0d8b6c4a2e0f8d6b4c2a0e8f6d4b2c0a',
      },
      {
        kind: 'push',
        ref: 'refs/heads/hotfix/cart',
        after: '3b5d7f9a1c3e5b7d9f1a3c5e7b9d1f3a5c7e9b1d',
        trusted: '3b5d7f9a1c3e5b7d9f1a3c5e7b9d1f3a5c7e9b1d',
      },
      { kind: 'push', ref: 'refs/heads/feature/old-overlay', after: null, trusted: null },
      {
        kind: 'push',
        ref: 'refs/tags/v2026.03.0',
        after: '8c6a4e2f0d8b6c4a2e0f8d6b4c2a0e8f6d4b2c0a',
        trusted: null,
      },
    ]);
    expect(notices[0]).toMatchObject({
      identifiers: ['acme/shop-config', 'https://bitbucket.org/acme/shop-config'],
      deliveryId: '5c7e9a1b-3d5f-4a7c-9e1b-3d5f7a9c1e3b',
    });
    const repos = [
      repo('https', 'https://bitbucket.org/acme/shop-config.git'),
      repo('ssh', 'git@bitbucket.org:acme/shop-config.git', 'feature/old-overlay'),
      repo('fork', 'https://bitbucket.org/someone/shop-config.git'),
    ];
    expect(notices.flatMap((n) => matchRepos(n, repos).map((r) => r.name))).toEqual(['https', 'ssh']);
  });

  it('acknowledges other events; refuses a payload without changes or refs, or a request without X-Event-Key', () => {
    const payload = json('bitbucket-cloud-push.json');
    expect(
      parseWebhook('bitbucket-cloud', headers({ 'x-event-key': 'pullrequest:created' }), payload),
    ).toEqual([{ kind: 'other', identifiers: [], deliveryId: '5c7e9a1b-3d5f-4a7c-9e1b-3d5f7a9c1e3b' }]);
    expect(() => parseWebhook('bitbucket-cloud', headers({ 'x-event-key': undefined }), payload)).toThrow(
      'bitbucket-cloud request names no event (no X-Event-Key)',
    );
    expect(() => parseWebhook('bitbucket-cloud', headers(), { ...payload, push: {} })).toThrow(
      'bitbucket-cloud repo:push payload has no push.changes list',
    );
    expect(() =>
      parseWebhook('bitbucket-cloud', headers(), {
        ...payload,
        push: { changes: [{ new: null, old: null }] },
      }),
    ).toThrow('bitbucket-cloud change has neither new nor old');
    expect(() =>
      parseWebhook('bitbucket-cloud', headers(), {
        ...payload,
        push: { changes: [{ new: { name: 'main' } }] },
      }),
    ).toThrow('bitbucket-cloud change names no ref (name and type)');
    // Nothing says which refs moved: every watched branch of the repository is checked.
    expect(parseWebhook('bitbucket-cloud', headers(), { ...payload, push: { changes: [] } })).toEqual([
      {
        kind: 'push',
        identifiers: ['acme/shop-config', 'https://bitbucket.org/acme/shop-config'],
        deliveryId: '5c7e9a1b-3d5f-4a7c-9e1b-3d5f7a9c1e3b',
      },
    ]);
  });
});

describe('Azure DevOps', () => {
  const body = fixture('azure-devops-git-push.json');
  const auth = (over: Record<string, string | undefined> = {}) => ({
    'content-type': 'application/json; charset=utf-8',
    authorization: basic(secrets.azureDevOpsUsername, secrets.azureDevOpsPassword),
    ...over,
  });

  it('checks the Basic credentials of the subscription, both parts; no body needed', () => {
    expect(verifyWebhook('azure-devops', secrets, auth(), body)).toEqual(ok);
    expect(verifyWebhook('azure-devops', secrets, auth(), undefined)).toEqual(ok);
    const wrong = [
      basic(secrets.azureDevOpsUsername, 'ado-password-2c8e'),
      basic('someone', secrets.azureDevOpsPassword),
      basic(secrets.azureDevOpsUsername, `${secrets.azureDevOpsPassword}x`),
      basic('', secrets.azureDevOpsPassword),
      `Basic ${Buffer.from(secrets.azureDevOpsPassword).toString('base64')}`,
      'Basic not*base64',
    ];
    for (const authorization of wrong)
      expect(verifyWebhook('azure-devops', secrets, auth({ authorization }), body), authorization).toEqual(
        bad,
      );
    expect(verifyWebhook('azure-devops', secrets, auth({ authorization: undefined }), body)).toEqual(missing);
    expect(verifyWebhook('azure-devops', secrets, auth({ authorization: 'Bearer abc' }), body)).toEqual(
      missing,
    );
    // The scheme is case-insensitive (RFC 7617).
    const lower = auth().authorization.replace('Basic', 'basic');
    expect(verifyWebhook('azure-devops', secrets, auth({ authorization: lower }), body)).toEqual(ok);
    // No user name configured: the hook must send none.
    const noUser = { ...secrets, azureDevOpsUsername: undefined };
    expect(
      verifyWebhook(
        'azure-devops',
        noUser,
        auth({ authorization: basic('', secrets.azureDevOpsPassword) }),
        body,
      ),
    ).toEqual(ok);
    expect(verifyWebhook('azure-devops', noUser, auth(), body)).toEqual(bad);
  });

  it('reports each refUpdate of a git.push; a deleted branch has no head; the notification id names the delivery', () => {
    const notices = parseWebhook('azure-devops', auth(), decodeBody(body, 'application/json'));
    expect(refs(notices)).toEqual([
      {
        kind: 'push',
        ref: 'refs/heads/main',
        after: '4f1c8a2e6b9d3f7a0c5e8b2d6f9a3c7e1b5d8f2a',
        trusted: '4f1c8a2e6b9d3f7a0c5e8b2d6f9a3c7e1b5d8f2a',
      },
      { kind: 'push', ref: 'refs/heads/feature/old-overlay', after: null, trusted: null },
    ]);
    expect(notices[0]).toMatchObject({
      identifiers: [
        'https://dev.azure.com/acme/Operations/_git/shop-config',
        'git@ssh.dev.azure.com:v3/acme/Operations/shop-config',
        'Operations/shop-config',
      ],
      deliveryId: '2e7d9c4b-5a61-4f08-b3c2-9d8e7f6a5b41',
    });
  });

  it('matches the remote URL over https (with or without a user) and over ssh', () => {
    const notices = parseWebhook('azure-devops', auth(), json('azure-devops-git-push.json'));
    const repos = [
      repo('https', 'https://acme@dev.azure.com/acme/Operations/_git/shop-config'),
      repo('ssh', 'git@ssh.dev.azure.com:v3/acme/Operations/shop-config', 'feature/old-overlay'),
      repo('other-project', 'https://dev.azure.com/acme/Payments/_git/shop-config'),
    ];
    expect(notices.flatMap((n) => matchRepos(n, repos).map((r) => `${r.name}@${n.ref}`))).toEqual([
      'https@refs/heads/main',
      'ssh@refs/heads/feature/old-overlay',
    ]);
  });

  it('acknowledges other event types and names what is missing in a malformed git.push', () => {
    const payload = json('azure-devops-git-push.json');
    expect(
      parseWebhook('azure-devops', auth(), { ...payload, eventType: 'git.pullrequest.created' }),
    ).toEqual([{ kind: 'other', identifiers: [], deliveryId: '2e7d9c4b-5a61-4f08-b3c2-9d8e7f6a5b41' }]);
    const { eventType: _e, ...noType } = payload;
    expect(() => parseWebhook('azure-devops', auth(), noType)).toThrow(
      'azure-devops payload has no eventType',
    );
    const { resource: _r, ...noResource } = payload;
    expect(() => parseWebhook('azure-devops', auth(), noResource)).toThrow(
      'azure-devops git.push payload has no resource',
    );
    const resource = payload.resource as Record<string, unknown>;
    expect(() =>
      parseWebhook('azure-devops', auth(), { ...payload, resource: { ...resource, refUpdates: undefined } }),
    ).toThrow('azure-devops git.push payload has no resource.refUpdates list');
    expect(() =>
      parseWebhook('azure-devops', auth(), {
        ...payload,
        resource: { ...resource, refUpdates: [{ newObjectId: ZERO }] },
      }),
    ).toThrow('azure-devops ref update names no ref (name)');
    expect(() =>
      parseWebhook('azure-devops', auth(), { ...payload, resource: { ...resource, repository: {} } }),
    ).toThrow('azure-devops push payload names no repository');
  });
});

describe('Gogs', () => {
  const body = fixture('gogs-push.json');
  const headers = (
    event: string,
    signed: Buffer | string,
    over: Record<string, string | undefined> = {},
  ) => ({
    'content-type': 'application/json',
    'x-github-delivery': '7d9f1b3d-5f7a-4c1e-8a3c-5e7a9c1e3f5a',
    'x-github-event': event,
    'x-gogs-delivery': '7d9f1b3d-5f7a-4c1e-8a3c-5e7a9c1e3f5a',
    'x-gogs-event': event,
    'x-gogs-signature': hex(secrets.gogsSecret, signed),
    ...over,
  });

  it('verifies X-Gogs-Signature (bare hex of the JSON, also inside a form body)', () => {
    expect(verifyWebhook('gogs', secrets, headers('push', body), body)).toEqual(ok);
    expect(
      verifyWebhook('gogs', secrets, headers('push', body, { 'x-gogs-signature': hex('x', body) }), body),
    ).toEqual(bad);
    expect(
      verifyWebhook('gogs', secrets, headers('push', body, { 'x-gogs-signature': undefined }), body),
    ).toEqual(missing);
    const form = Buffer.from(new URLSearchParams({ payload: body.toString('utf8') }).toString());
    const formHeaders = headers('push', body, { 'content-type': 'application/x-www-form-urlencoded' });
    expect(verifyWebhook('gogs', secrets, formHeaders, form)).toEqual(ok);
    // Signed over the form bytes, not the JSON in it: not what Gogs sends.
    const overForm = headers('push', form, { 'content-type': 'application/x-www-form-urlencoded' });
    expect(verifyWebhook('gogs', secrets, overForm, form)).toEqual(bad);
    expect(
      parseWebhook('gogs', formHeaders, decodeBody(form, 'application/x-www-form-urlencoded'))[0],
    ).toMatchObject({ kind: 'push', ref: 'refs/heads/main' });
  });

  it('reads a push, a deleted branch (delete event, short name), and acknowledges other events', () => {
    expect(parseWebhook('gogs', headers('push', body), decodeBody(body, 'application/json'))).toEqual([
      {
        kind: 'push',
        identifiers: [
          'ops/shop-config',
          'https://gogs.acme.example/ops/shop-config.git',
          'git@gogs.acme.example:ops/shop-config.git',
          'https://gogs.acme.example/ops/shop-config',
        ],
        ref: 'refs/heads/main',
        after: '6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b',
        deliveryId: '7d9f1b3d-5f7a-4c1e-8a3c-5e7a9c1e3f5a',
      },
    ]);
    const deleted = fixture('gogs-delete.json');
    const [gone] = parseWebhook('gogs', headers('delete', deleted), decodeBody(deleted, 'application/json'));
    expect(gone).toMatchObject({ kind: 'push', ref: 'refs/heads/main' });
    expect(trustedAfter(gone!)).toBeUndefined();
    expect(
      matchRepos(gone!, [repo('cfg', 'git@gogs.acme.example:ops/shop-config.git')]).map((r) => r.name),
    ).toEqual(['cfg']);
    expect(parseWebhook('gogs', headers('create', body), json('gogs-push.json'))[0]!.kind).toBe('other');
    expect(
      parseWebhook('gogs', headers('delete', deleted), { ...json('gogs-delete.json'), ref_type: 'tag' })[0]!
        .kind,
    ).toBe('other');
  });

  it('names what is wrong with a malformed push', () => {
    const { ref: _ref, ...noRef } = json('gogs-push.json');
    expect(() => parseWebhook('gogs', headers('push', body), noRef)).toThrow('gogs push payload has no ref');
    const { repository: _r, ...noRepo } = json('gogs-push.json');
    expect(() => parseWebhook('gogs', headers('push', body), noRepo)).toThrow(
      'gogs push payload names no repository',
    );
    expect(() => parseWebhook('gogs', headers('push', body), [json('gogs-push.json')])).toThrow(
      'payload is not a JSON object',
    );
  });
});
