import { describe, expect, it } from 'vitest';
import {
  decodeBody,
  MalformedPayload,
  matchRepos,
  normaliseRemote,
  parseWebhook,
  remoteHost,
  signedBytes,
} from './webhook-payload.ts';

/** The one notice a single-ref forge's payload gives. */
function one(...args: Parameters<typeof parseWebhook>) {
  const notices = parseWebhook(...args);
  expect(notices).toHaveLength(1);
  return notices[0]!;
}

const repo = (name: string, url: string, branch = 'main', aliases: string[] = []) => ({
  name,
  url,
  branch,
  aliases,
});

describe('normaliseRemote', () => {
  it('makes https, ssh and scp-like forms of one repo equal', () => {
    const forms = [
      'https://GitHub.com/acme/config.git',
      'https://token@github.com/acme/config/',
      'ssh://git@github.com/acme/config.git',
      'git@github.com:acme/config.git',
      'git://github.com/acme/config',
    ];
    expect(new Set(forms.map(normaliseRemote))).toEqual(new Set(['github.com/acme/config']));
    expect(normaliseRemote('git://127.0.0.1:9418/x.git')).toBe('127.0.0.1:9418/x');
    expect(normaliseRemote('file:///srv/git/x.git')).toBe('/srv/git/x');
  });
});

describe('parseWebhook', () => {
  it('reads GitHub pushes, pings and other events', () => {
    const body = {
      ref: 'refs/heads/main',
      after: 'a'.repeat(40),
      repository: { full_name: 'acme/config', clone_url: 'https://github.com/acme/config.git' },
    };
    expect(one('github', { 'x-github-event': 'push', 'x-github-delivery': 'd1' }, body)).toEqual({
      kind: 'push',
      identifiers: ['acme/config', 'https://github.com/acme/config.git'],
      ref: 'refs/heads/main',
      after: 'a'.repeat(40),
      deliveryId: 'd1',
    });
    expect(one('github', { 'x-github-event': 'ping' }, { zen: 'x' }).kind).toBe('ping');
    expect(one('github', { 'x-github-event': 'issues' }, { action: 'opened' }).kind).toBe('other');
    expect(() => one('github', { 'x-github-event': 'push' }, { ref: 'refs/heads/main' })).toThrow(
      MalformedPayload,
    );
  });

  it('reads GitLab push hooks by object_kind and Gitea/Forgejo pushes', () => {
    const gl = one(
      'gitlab',
      {},
      {
        object_kind: 'push',
        ref: 'refs/heads/main',
        project: { path_with_namespace: 'g/p', git_ssh_url: 'git@gitlab.com:g/p.git' },
      },
    );
    expect(gl.identifiers).toEqual(['g/p', 'git@gitlab.com:g/p.git']);
    expect(one('gitlab', {}, { object_kind: 'tag_push', ref: 'refs/tags/v1' }).kind).toBe('other');
    // System hooks name the event only in event_name.
    const sys = one(
      'gitlab',
      { 'x-gitlab-event': 'System Hook' },
      { event_name: 'push', ref: 'refs/heads/main', project: { path_with_namespace: 'g/p' } },
    );
    expect(sys).toMatchObject({ kind: 'push', identifiers: ['g/p'], ref: 'refs/heads/main' });
    expect(one('gitlab', {}, { event_name: 'project_create' }).kind).toBe('other');
    // A deleted branch is checked like a push to it.
    expect(
      one(
        'github',
        { 'x-github-event': 'delete' },
        { ref: 'main', ref_type: 'branch', repository: { full_name: 'o/r' } },
      ),
    ).toEqual({ kind: 'push', identifiers: ['o/r'], ref: 'refs/heads/main' });
    expect(
      one('gitea', { 'x-gitea-event': 'delete' }, { ref: 'v1', ref_type: 'tag', repository: {} }).kind,
    ).toBe('other');
    const fj = one(
      'gitea',
      { 'x-forgejo-event': 'push' },
      { ref: 'refs/heads/main', repository: { full_name: 'o/r' } },
    );
    expect(fj).toMatchObject({ kind: 'push', identifiers: ['o/r'] });
  });

  it('reads the generic form and refuses what is not an object', () => {
    expect(one('generic', {}, { repository: 'config' }).identifiers).toEqual(['config']);
    expect(one('generic', {}, { repository: { url: 'https://h/r.git' } }).identifiers).toEqual([
      'https://h/r.git',
    ]);
    expect(() => one('generic', {}, [1])).toThrow(MalformedPayload);
    expect(() => one('generic', {}, {})).toThrow(MalformedPayload);
  });
});

describe('decodeBody', () => {
  it('parses JSON and GitHub form-encoded payloads, and refuses the rest', () => {
    expect(decodeBody(Buffer.from('{"a":1}'), 'application/json')).toEqual({ a: 1 });
    const form = `payload=${encodeURIComponent('{"b":2}')}`;
    expect(decodeBody(Buffer.from(form), 'application/x-www-form-urlencoded')).toEqual({ b: 2 });
    expect(() => decodeBody(Buffer.from('{'), 'application/json')).toThrow(MalformedPayload);
    expect(() => decodeBody(Buffer.from(''), undefined)).toThrow(MalformedPayload);
  });
});

describe('matchRepos', () => {
  const repos = [
    repo('config', 'https://github.com/acme/config.git'),
    repo('config-prod', 'https://github.com/acme/config.git', 'prod'),
    repo('other', 'git@gitlab.example:team/other.git', 'main', ['team-other']),
  ];
  const push = (identifiers: string[], ref?: string) => ({
    kind: 'push' as const,
    identifiers,
    ...(ref ? { ref } : {}),
  });

  it('matches by URL in any form, by owner/name, by name and by alias, on the pushed branch only', () => {
    expect(
      matchRepos(push(['git@github.com:acme/config.git'], 'refs/heads/main'), repos).map((r) => r.name),
    ).toEqual(['config']);
    expect(matchRepos(push(['acme/config'], 'refs/heads/prod'), repos).map((r) => r.name)).toEqual([
      'config-prod',
    ]);
    expect(matchRepos(push(['acme/config']), repos).map((r) => r.name)).toEqual(['config', 'config-prod']);
    expect(matchRepos(push(['team-other'], 'refs/heads/main'), repos).map((r) => r.name)).toEqual(['other']);
    expect(matchRepos(push(['other']), repos).map((r) => r.name)).toEqual(['other']);
  });

  it('ignores tags, other branches and strangers', () => {
    expect(matchRepos(push(['acme/config'], 'refs/tags/v1'), repos)).toEqual([]);
    expect(matchRepos(push(['acme/config'], 'refs/heads/feature'), repos)).toEqual([]);
    expect(matchRepos(push(['evil/config']), repos)).toEqual([]);
    expect(matchRepos(push(['https://github.com/acme/config-fork.git']), repos)).toEqual([]);
  });

  it('matches owner/name only on the host the payload names (github.com vs GitHub Enterprise)', () => {
    const two = [
      repo('dotcom', 'https://github.com/acme/app.git', 'main', ['acme/app']),
      repo('ghe', 'git@ghe.acme.internal:acme/app.git', 'main', ['acme/app']),
    ];
    const fromGhe = push(
      ['acme/app', 'https://ghe.acme.internal/acme/app.git', 'https://ghe.acme.internal/acme/app'],
      'refs/heads/main',
    );
    expect(matchRepos(fromGhe, two).map((r) => r.name)).toEqual(['ghe']);
    const fromDotcom = push(['acme/app', 'git://github.com/acme/app.git'], 'refs/heads/main');
    expect(matchRepos(fromDotcom, two).map((r) => r.name)).toEqual(['dotcom']);
    // Without any URL in the payload nothing tells the hosts apart: both are checked.
    expect(matchRepos(push(['acme/app'], 'refs/heads/main'), two).map((r) => r.name)).toEqual([
      'dotcom',
      'ghe',
    ]);
  });

  it('reads hosts from URLs and scp addresses, not from bare names', () => {
    expect(remoteHost('https://GHE.acme.internal:8443/a/b')).toBe('ghe.acme.internal');
    expect(remoteHost('git@gitlab.example:team/other.git')).toBe('gitlab.example');
    expect(remoteHost('acme/app')).toBeUndefined();
    expect(remoteHost('file:///srv/x.git')).toBeUndefined();
  });
});

describe('signedBytes', () => {
  const json = '{"ref":"refs/heads/main","note":"a+b & c=d"}';
  const form = Buffer.from(new URLSearchParams({ payload: json }).toString());
  it('is the JSON payload for Gitea/Forgejo/Gogs form deliveries, the raw body otherwise', () => {
    expect(signedBytes('gitea', form, 'application/x-www-form-urlencoded')?.toString()).toBe(json);
    expect(signedBytes('gogs', form, 'application/x-www-form-urlencoded')?.toString()).toBe(json);
    expect(signedBytes('github', form, 'application/x-www-form-urlencoded')).toBe(form);
    expect(signedBytes('gitea', Buffer.from(json), 'application/json')?.toString()).toBe(json);
    expect(signedBytes('gitea', Buffer.from('x=1'), 'application/x-www-form-urlencoded')).toBeUndefined();
  });
});
