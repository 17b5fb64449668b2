/**
 * What real forges send, through the real HTTP routes of a running watcher, against a real git
 * server. Payloads keep the documented shape; only names, hosts and shas point at the test repos.
 * Where each one comes from:
 *
 * - GitHub: docs.github.com "Webhook events and payloads" (`push`, `delete`, `ping`) and "Validating
 *   webhook deliveries" (`X-Hub-Signature-256: sha256=<hex>` over the body as sent; with the
 *   `application/x-www-form-urlencoded` content type the body is `payload=<urlencoded JSON>` and
 *   that whole body is signed).
 * - GitLab: docs.gitlab.com "Webhook events" (Push Hook, Tag Push Hook payloads) and "System hooks"
 *   (push without `object_kind`, `event_name: push`, `X-Gitlab-Event: System Hook`); the signing
 *   token from gitlab-org/gitlab MR 230944 (Standard Webhooks: `webhook-id`, `webhook-timestamp`,
 *   `webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, key `whsec_<base64>`).
 * - Gitea: docs.gitea.com "Webhooks" (push payload, `X-Gitea-*` headers) and go-gitea/gitea
 *   `services/webhook/deliver.go` (form content type: `payload=` + the JSON, signatures computed
 *   over the JSON; `X-Gitea-Signature`, `X-Gogs-Signature`, `X-Hub-Signature-256` all sent).
 * - Forgejo: forgejo.org/docs/latest/user/webhooks (`X-Forgejo-*` headers besides the Gitea ones,
 *   same payload and signature).
 * Neither GitLab nor Gitea/Forgejo has a ping event (their "Test" button sends a sample push).
 * - Bitbucket Data Center, Bitbucket Cloud, Azure DevOps and Gogs: built from the fixtures in
 *   src/fixtures (their provenance in src/fixtures/SOURCES.md) with the repository pointed at the
 *   test server; the Azure DevOps repository lives at a path shaped like Azure's
 *   (`<org>/<project>/_git/<repo>`), so its `remoteUrl` is the watched URL as it is there.
 */
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { GitWorkdir } from '@flotilla/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GitWatcherHandle } from '../src/service.ts';
import { type Env, startEnv, uniq } from './harness.ts';

const secrets = {
  githubSecret: `gh-${randomUUID()}`,
  // Only the signing token: the case that used to answer 401.
  gitlabSigningToken: `whsec_${randomBytes(32).toString('base64')}`,
  giteaSecret: `gt-${randomUUID()}`,
  gogsSecret: `gg-${randomUUID()}`,
  bitbucketServerSecret: `bbs-${randomUUID()}`,
  bitbucketCloudSecret: `bbc-${randomUUID()}`,
  azureDevOpsUsername: 'flotilla',
  azureDevOpsPassword: `ado-${randomUUID()}`,
};
const hex = (secret: string, body: string) => createHmac('sha256', secret).update(body).digest('hex');
const ZERO = '0'.repeat(40);

let env: Env;
let w: GitWatcherHandle;
let path: string;
/** The repo the payloads are about, on 127.0.0.1. */
let local: { name: string; url: string; work: GitWorkdir };
/** The same path on another host name of the same server (github.com vs a GitHub Enterprise host). */
let other: { name: string; url: string };
let base: string;
/** The same repo's `release` branch, watched as its own entry: one delivery may move both. */
let release: { name: string };
/** A repo at an Azure-shaped path (`<org>/<project>/_git/<repo>`). */
let azure: { name: string; url: string; work: GitWorkdir; org: string };

beforeAll(async () => {
  env = await startEnv();
  path = `org-${randomUUID().slice(0, 6)}/app`;
  const { url } = await env.git.createRepo(path, { files: { 'a.txt': '0' } });
  local = { name: uniq('app-local'), url, work: await GitWorkdir.clone(url) };
  other = { name: uniq('app-other'), url: url.replace('127.0.0.1', 'localhost') };
  base = `http://127.0.0.1:${env.git.port}`;
  await local.work.git('push', '--quiet', 'origin', 'HEAD:refs/heads/release');
  release = { name: uniq('app-release') };
  const org = `acme-${randomUUID().slice(0, 6)}`;
  const az = await env.git.createRepo(`${org}/Operations/_git/shop-config`, { files: { 'a.txt': '0' } });
  azure = { name: uniq('app-azure'), url: az.url, work: await GitWorkdir.clone(az.url), org };
  w = await env.start({
    repositories: [
      { name: local.name, url: local.url },
      { name: other.name, url: other.url },
      { name: release.name, url: local.url, branch: 'release' },
      { name: azure.name, url: azure.url },
    ],
    poll: { intervalMs: 600_000 },
    lease: { ttlMs: 1500, bucket: uniq('leases'), membersBucket: uniq('members') },
    webhooks: secrets,
  });
  for (const r of [local.name, other.name, release.name, azure.name])
    await env.log.until('initial events', () => env.log.of('git.commit-detected', r).length === 1);
});

afterAll(async () => {
  await local?.work.remove();
  await azure?.work.remove();
  await env?.stop();
});

async function commit(content: string): Promise<string> {
  await local.work.writeFile('a.txt', content);
  const sha = await local.work.commit(content);
  await local.work.push();
  return sha;
}

async function post(route: string, body: string, headers: Record<string, string>) {
  const res = await fetch(`${w.url}${route}`, { method: 'POST', headers, body });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const detected =
  (sha: string, repo = local.name) =>
  () =>
    env.log.of<{ sha: string; trigger: string }>('git.commit-detected', repo).find((e) => e.data.sha === sha);
/** Accepted for the repo on the payload's host only, never for the same path on the other host. */
const acceptedLocal = () => ({
  status: 202,
  body: { accepted: [{ repo: local.name, handledBy: w.instance }] },
});

/** GitHub push (docs example, trimmed to the repository and ref fields plus a few of the rest). */
function githubPush(ref: string, after: string, opts: { deleted?: boolean } = {}) {
  return {
    ref,
    before: 'a'.repeat(40),
    after,
    created: false,
    deleted: opts.deleted ?? false,
    forced: false,
    base_ref: null,
    compare: `${base}/${path}/compare/aaaaaaaaaaaa...${after.slice(0, 12)}`,
    commits: [],
    head_commit: opts.deleted ? null : { id: after, message: 'change', timestamp: new Date().toISOString() },
    repository: {
      id: 1296269,
      node_id: 'MDEwOlJlcG9zaXRvcnkxMjk2MjY5',
      name: 'app',
      full_name: path,
      private: false,
      owner: { name: path.split('/')[0], login: path.split('/')[0] },
      html_url: `${base}/${path}`,
      url: `${base}/${path}`,
      git_url: `git://127.0.0.1/${path}.git`,
      ssh_url: `git@127.0.0.1:${path}.git`,
      clone_url: `${base}/${path}.git`,
      default_branch: 'main',
    },
    pusher: { name: 'octocat', email: 'octocat@github.com' },
    sender: { login: 'octocat', id: 1 },
  };
}

function githubHeaders(event: string, body: string, contentType = 'application/json') {
  return {
    'content-type': contentType,
    'x-github-event': event,
    'x-github-delivery': randomUUID(),
    'x-github-hook-id': '292430182',
    'x-hub-signature-256': `sha256=${hex(secrets.githubSecret, body)}`,
  };
}

/** GitLab Push Hook (docs example, trimmed); `system` drops object_kind like a system hook. */
function gitlabPush(ref: string, after: string, kind: 'push' | 'tag_push' = 'push', system = false) {
  const project = {
    id: 15,
    name: 'app',
    web_url: `${base}/${path}`,
    git_ssh_url: `git@127.0.0.1:${path}.git`,
    git_http_url: `${base}/${path}.git`,
    namespace: path.split('/')[0],
    path_with_namespace: path,
    default_branch: 'main',
  };
  return {
    ...(system ? {} : { object_kind: kind }),
    event_name: kind,
    before: ZERO,
    after,
    ref,
    ref_protected: true,
    checkout_sha: after,
    user_id: 4,
    user_name: 'John Smith',
    user_username: 'jsmith',
    project_id: 15,
    project,
    commits: [],
    total_commits_count: 0,
    repository: {
      name: 'app',
      url: `git@127.0.0.1:${path}.git`,
      homepage: `${base}/${path}`,
      git_http_url: `${base}/${path}.git`,
      git_ssh_url: `git@127.0.0.1:${path}.git`,
    },
  };
}

function gitlabHeaders(body: string, event: string, opts: { ageMs?: number; key?: string } = {}) {
  const id = randomUUID();
  const timestamp = String(Math.floor((Date.now() - (opts.ageMs ?? 0)) / 1000));
  const key = Buffer.from((opts.key ?? secrets.gitlabSigningToken).replace(/^whsec_/, ''), 'base64');
  const sig = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64');
  return {
    'content-type': 'application/json',
    'x-gitlab-event': event,
    'x-gitlab-event-uuid': randomUUID(),
    'x-gitlab-instance': base,
    'idempotency-key': id,
    'webhook-id': id,
    'webhook-timestamp': timestamp,
    'webhook-signature': `v1,${sig}`,
  };
}

/** Gitea/Forgejo push (docs example, trimmed). */
function giteaPush(ref: string, after: string) {
  return {
    ref,
    before: 'b'.repeat(40),
    after,
    compare_url: `${base}/${path}/compare/bbbbbbbbbbbb...${after.slice(0, 12)}`,
    commits: [],
    repository: {
      id: 140,
      name: 'app',
      full_name: path,
      html_url: `${base}/${path}`,
      ssh_url: `git@127.0.0.1:${path}.git`,
      clone_url: `${base}/${path}.git`,
      default_branch: 'main',
    },
    pusher: { login: 'gitea', username: 'gitea' },
    sender: { login: 'gitea', username: 'gitea' },
  };
}

/** As go-gitea/gitea deliver.go sends it: JSON or `payload=` form, every signature over the JSON. */
function giteaRequest(json: string, event: string, opts: { form?: boolean; forgejo?: boolean } = {}) {
  const sig = hex(secrets.giteaSecret, json);
  const delivery = randomUUID();
  const headers: Record<string, string> = {
    'content-type': opts.form ? 'application/x-www-form-urlencoded' : 'application/json',
    'x-gitea-delivery': delivery,
    'x-gitea-event': event,
    'x-gitea-event-type': event,
    'x-gitea-signature': sig,
    'x-gogs-delivery': delivery,
    'x-gogs-event': event,
    'x-gogs-signature': sig,
    'x-hub-signature-256': `sha256=${sig}`,
    'x-github-delivery': delivery,
    'x-github-event': event,
    ...(opts.forgejo
      ? { 'x-forgejo-delivery': delivery, 'x-forgejo-event': event, 'x-forgejo-signature': sig }
      : {}),
  };
  return { body: opts.form ? new URLSearchParams({ payload: json }).toString() : json, headers };
}

describe('GitHub', () => {
  it('push (JSON and form), tag push, branch delete and ping; only the repo on the pushed host', async () => {
    const sha = await commit('github-json');
    const json = JSON.stringify(githubPush('refs/heads/main', sha));
    expect(await post('/hooks/github', json, githubHeaders('push', json))).toEqual(acceptedLocal());
    const ev = await env.log.until('github push detected', detected(sha), 10_000);
    expect(ev.data.trigger).toBe('webhook');

    const sha2 = await commit('github-form');
    const form = new URLSearchParams({
      payload: JSON.stringify(githubPush('refs/heads/main', sha2)),
    }).toString();
    const viaForm = await post(
      '/hooks/github',
      form,
      githubHeaders('push', form, 'application/x-www-form-urlencoded'),
    );
    expect(viaForm).toEqual(acceptedLocal());
    await env.log.until('github form push detected', detected(sha2), 10_000);

    const tag = JSON.stringify(githubPush('refs/tags/v1.0.0', sha2));
    expect(await post('/hooks/github', tag, githubHeaders('push', tag))).toEqual({
      status: 202,
      body: { accepted: [], ignored: 'ref', ref: 'refs/tags/v1.0.0' },
    });
    const gone = JSON.stringify(githubPush('refs/heads/feature', ZERO, { deleted: true }));
    expect(await post('/hooks/github', gone, githubHeaders('push', gone))).toEqual({
      status: 202,
      body: { accepted: [], ignored: 'ref', ref: 'refs/heads/feature' },
    });
    const deleteEvent = JSON.stringify({
      ref: 'feature',
      ref_type: 'branch',
      pusher_type: 'user',
      repository: githubPush('refs/heads/main', sha2).repository,
    });
    expect(await post('/hooks/github', deleteEvent, githubHeaders('delete', deleteEvent))).toEqual({
      status: 202,
      body: { accepted: [], ignored: 'ref', ref: 'refs/heads/feature' },
    });
    const ping = JSON.stringify({
      zen: 'Keep it logically awesome.',
      hook_id: 292430182,
      hook: { type: 'Repository' },
    });
    expect(await post('/hooks/github', ping, githubHeaders('ping', ping))).toEqual({
      status: 200,
      body: { ignored: 'ping' },
    });
    const forged = await post('/hooks/github', json, {
      ...githubHeaders('push', json),
      'x-hub-signature-256': `sha256=${hex('x', json)}`,
    });
    expect(forged.status).toBe(401);
  });
});

describe('GitLab with only a signing token', () => {
  it('push hook, system hook and tag push hook are read; stale, forged and token-only requests refused', async () => {
    const sha = await commit('gitlab');
    const body = JSON.stringify(gitlabPush('refs/heads/main', sha));
    expect(await post('/hooks/gitlab', body, gitlabHeaders(body, 'Push Hook'))).toEqual(acceptedLocal());
    await env.log.until('gitlab push detected', detected(sha), 10_000);

    const sha2 = await commit('gitlab-system');
    const system = JSON.stringify(gitlabPush('refs/heads/main', sha2, 'push', true));
    expect(await post('/hooks/gitlab', system, gitlabHeaders(system, 'System Hook'))).toEqual(
      acceptedLocal(),
    );
    await env.log.until('gitlab system hook push detected', detected(sha2), 10_000);

    const tag = JSON.stringify(gitlabPush('refs/tags/v1.0.0', sha2, 'tag_push'));
    expect(await post('/hooks/gitlab', tag, gitlabHeaders(tag, 'Tag Push Hook'))).toEqual({
      status: 200,
      body: { ignored: 'other' },
    });
    const branchGone = JSON.stringify(gitlabPush('refs/heads/feature', ZERO));
    expect(await post('/hooks/gitlab', branchGone, gitlabHeaders(branchGone, 'Push Hook'))).toEqual({
      status: 202,
      body: { accepted: [], ignored: 'ref', ref: 'refs/heads/feature' },
    });

    const stale = await post('/hooks/gitlab', body, gitlabHeaders(body, 'Push Hook', { ageMs: 10 * 60_000 }));
    expect(stale).toMatchObject({ status: 401, body: { error: 'bad-signature' } });
    const otherKey = `whsec_${randomBytes(32).toString('base64')}`;
    const forged = await post('/hooks/gitlab', body, gitlabHeaders(body, 'Push Hook', { key: otherKey }));
    expect(forged).toMatchObject({ status: 401, body: { error: 'bad-signature' } });
    const tokenOnly = await post('/hooks/gitlab', body, {
      'content-type': 'application/json',
      'x-gitlab-event': 'Push Hook',
      'x-gitlab-token': secrets.gitlabSigningToken,
    });
    expect(tokenOnly).toMatchObject({ status: 401, body: { error: 'missing-signature' } });
  });
});

describe('Gitea and Forgejo', () => {
  it('push as JSON and as the form content type, from Gitea and from Forgejo; tag push ignored', async () => {
    for (const [i, opts] of [
      {},
      { form: true },
      { forgejo: true },
      { forgejo: true, form: true },
    ].entries()) {
      const sha = await commit(`gitea-${i}`);
      const { body, headers } = giteaRequest(JSON.stringify(giteaPush('refs/heads/main', sha)), 'push', opts);
      expect(await post('/hooks/gitea', body, headers), JSON.stringify(opts)).toEqual(acceptedLocal());
      await env.log.until(`gitea push ${i} detected`, detected(sha), 10_000);
    }
    const tag = giteaRequest(JSON.stringify(giteaPush('refs/tags/v1', ZERO)), 'push', { form: true });
    expect(await post('/hooks/gitea', tag.body, tag.headers)).toEqual({
      status: 202,
      body: { accepted: [], ignored: 'ref', ref: 'refs/tags/v1' },
    });
    const deleted = giteaRequest(
      JSON.stringify({
        ref: 'feature',
        ref_type: 'branch',
        pusher_type: 'user',
        repository: giteaPush('', ZERO).repository,
      }),
      'delete',
    );
    expect(await post('/hooks/gitea', deleted.body, deleted.headers)).toEqual({
      status: 202,
      body: { accepted: [], ignored: 'ref', ref: 'refs/heads/feature' },
    });
    // A form body signed over its own bytes (not the JSON inside) is not what Gitea sends.
    const json = JSON.stringify(giteaPush('refs/heads/main', ZERO));
    const form = new URLSearchParams({ payload: json }).toString();
    const wrong = await post('/hooks/gitea', form, {
      'content-type': 'application/x-www-form-urlencoded',
      'x-gitea-event': 'push',
      'x-gitea-signature': hex(secrets.giteaSecret, form),
    });
    expect(wrong).toMatchObject({ status: 401, body: { error: 'bad-signature' } });
  });
});

type Json = Record<string, unknown>;
const fixture = (name: string) =>
  JSON.parse(readFileSync(new URL(`../src/fixtures/${name}`, import.meta.url), 'utf8')) as Json;

/** `git push origin main release`: one push moving both watched branches. */
async function commitBoth(content: string): Promise<string> {
  await local.work.writeFile('a.txt', content);
  const sha = await local.work.commit(content);
  await local.work.git('push', '--quiet', 'origin', 'HEAD:refs/heads/main', 'HEAD:refs/heads/release');
  return sha;
}

/** Bitbucket Data Center repo:refs_changed (fixture) for the test repo, with these changes. */
function bitbucketServerPush(
  changes: Array<{ ref: string; type: 'ADD' | 'UPDATE' | 'DELETE'; to?: string }>,
) {
  const [key, slug] = path.split('/') as [string, string];
  const body = fixture('bitbucket-server-refs-changed.json');
  const repository = body.repository as Json;
  return {
    ...body,
    repository: {
      ...repository,
      slug,
      name: slug,
      project: { ...(repository.project as Json), key: key.toUpperCase(), name: key },
      links: {
        clone: [
          { href: `ssh://git@127.0.0.1:7999/${path}.git`, name: 'ssh' },
          { href: `${base}/scm/${path}.git`, name: 'http' },
        ],
        self: [{ href: `${base}/projects/${key.toUpperCase()}/repos/${slug}/browse` }],
      },
    },
    changes: changes.map((c) => ({
      ref: {
        id: c.ref,
        displayId: c.ref.replace(/^refs\/(heads|tags)\//, ''),
        type: c.ref.startsWith('refs/tags/') ? 'TAG' : 'BRANCH',
      },
      refId: c.ref,
      fromHash: c.type === 'ADD' ? ZERO : 'f'.repeat(40),
      toHash: c.type === 'DELETE' ? ZERO : c.to,
      type: c.type,
    })),
  };
}

function bitbucketServerHeaders(event: string, body: string, secret = secrets.bitbucketServerSecret) {
  return {
    'content-type': 'application/json; charset=UTF-8',
    'x-event-key': event,
    'x-request-id': randomUUID(),
    'x-hub-signature': `sha256=${hex(secret, body)}`,
  };
}

/** Bitbucket Cloud repo:push (fixture) for the test repo: one change, deleted when `to` is null. */
function bitbucketCloudPush(branch: string, to: string | null) {
  const body = fixture('bitbucket-cloud-push.json');
  const repository = body.repository as Json;
  const side = (hash: string) => ({
    name: branch,
    type: 'branch',
    target: { type: 'commit', hash },
    links: { html: { href: `${base}/${path}/branch/${branch}` } },
  });
  return {
    ...body,
    push: {
      changes: [
        {
          old: side('e'.repeat(40)),
          new: to === null ? null : side(to),
          created: false,
          forced: false,
          closed: to === null,
          commits: [],
          truncated: false,
        },
      ],
    },
    repository: {
      ...repository,
      full_name: path,
      name: 'app',
      links: {
        self: { href: `${base}/2.0/repositories/${path}` },
        html: { href: `${base}/${path}` },
      },
    },
  };
}

function bitbucketCloudHeaders(body: string, over: Record<string, string> = {}) {
  return {
    'content-type': 'application/json',
    'x-event-key': 'repo:push',
    'x-hook-uuid': `{${randomUUID()}}`,
    'x-request-uuid': randomUUID(),
    'x-attempt-number': '1',
    'x-hub-signature': `sha256=${hex(secrets.bitbucketCloudSecret, body)}`,
    ...over,
  };
}

/** Azure DevOps git.push (fixture) for the Azure-shaped repo. */
function azurePush(updates: Array<{ name: string; newObjectId: string }>) {
  const body = fixture('azure-devops-git-push.json');
  const resource = body.resource as Json;
  const repository = resource.repository as Json;
  return {
    ...body,
    id: randomUUID(),
    resource: {
      ...resource,
      refUpdates: updates.map((u) => ({ ...u, oldObjectId: 'a'.repeat(40) })),
      repository: {
        ...repository,
        remoteUrl: `${base}/${azure.org}/Operations/_git/shop-config`,
        url: `${base}/${azure.org}/_apis/git/repositories/${repository.id as string}`,
      },
    },
  };
}

const basicAuth = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** Gogs push (fixture) for the test repo; `form` as Gogs sends that content type. */
function gogsRequest(event: string, payload: Json, opts: { form?: boolean } = {}) {
  const json = JSON.stringify(payload);
  const delivery = randomUUID();
  return {
    body: opts.form ? new URLSearchParams({ payload: json }).toString() : json,
    headers: {
      'content-type': opts.form ? 'application/x-www-form-urlencoded' : 'application/json',
      'x-github-delivery': delivery,
      'x-github-event': event,
      'x-gogs-delivery': delivery,
      'x-gogs-event': event,
      'x-gogs-signature': hex(secrets.gogsSecret, json),
    },
  };
}

function gogsRepository() {
  return {
    ...(fixture('gogs-push.json').repository as Json),
    name: 'app',
    full_name: path,
    html_url: `${base}/${path}`,
    ssh_url: `git@127.0.0.1:${path}.git`,
    clone_url: `${base}/${path}.git`,
  };
}

const rejections = (receiver: string) =>
  env.log
    .of<{ receiver: string; reason: string; deliveryId?: string }>('webhook.rejected')
    .filter((e) => e.data.receiver === receiver);

describe('Bitbucket Data Center', () => {
  it('one repo:refs_changed moving two watched branches checks both; ping, other events and refs acknowledged', async () => {
    const sha = await commitBoth('bitbucket-server');
    const body = JSON.stringify(
      bitbucketServerPush([
        { ref: 'refs/heads/main', type: 'UPDATE', to: sha },
        { ref: 'refs/heads/release', type: 'UPDATE', to: sha },
        { ref: 'refs/heads/feature/old', type: 'DELETE' },
        { ref: 'refs/tags/v1.0.0', type: 'ADD', to: sha },
      ]),
    );
    expect(
      await post('/hooks/bitbucket-server', body, bitbucketServerHeaders('repo:refs_changed', body)),
    ).toEqual({
      status: 202,
      body: {
        accepted: [
          { repo: local.name, handledBy: w.instance },
          { repo: release.name, handledBy: w.instance },
        ],
      },
    });
    for (const repo of [local.name, release.name]) {
      const ev = await env.log.until(`bitbucket-server push on ${repo}`, detected(sha, repo), 10_000);
      expect(ev.data.trigger).toBe('webhook');
    }

    const elsewhere = JSON.stringify(
      bitbucketServerPush([
        { ref: 'refs/heads/feature/old', type: 'DELETE' },
        { ref: 'refs/tags/v1.0.1', type: 'ADD', to: sha },
      ]),
    );
    expect(
      await post(
        '/hooks/bitbucket-server',
        elsewhere,
        bitbucketServerHeaders('repo:refs_changed', elsewhere),
      ),
    ).toEqual({
      status: 202,
      body: { accepted: [], ignored: 'ref', ref: 'refs/heads/feature/old refs/tags/v1.0.1' },
    });
    // "Test connection": answered as a ping, with or without a signature.
    const ping = JSON.stringify({ test: true });
    const { 'x-hub-signature': _sig, ...unsigned } = bitbucketServerHeaders('diagnostics:ping', ping);
    expect(await post('/hooks/bitbucket-server', ping, unsigned)).toEqual({
      status: 200,
      body: { ignored: 'ping' },
    });
    expect(
      await post('/hooks/bitbucket-server', ping, bitbucketServerHeaders('diagnostics:ping', ping)),
    ).toEqual({
      status: 200,
      body: { ignored: 'ping' },
    });
    const pr = JSON.stringify({ eventKey: 'pr:opened', pullRequest: { id: 1 } });
    expect(await post('/hooks/bitbucket-server', pr, bitbucketServerHeaders('pr:opened', pr))).toEqual({
      status: 200,
      body: { ignored: 'other' },
    });
  });

  it('refuses a forged delivery (naming its X-Request-Id), an unsigned one and a malformed one', async () => {
    const body = JSON.stringify(
      bitbucketServerPush([{ ref: 'refs/heads/main', type: 'UPDATE', to: 'c'.repeat(40) }]),
    );
    const forgedHeaders = bitbucketServerHeaders('repo:refs_changed', body, 'not-the-secret');
    const forged = await post('/hooks/bitbucket-server', body, forgedHeaders);
    expect(forged).toMatchObject({ status: 401, body: { error: 'bad-signature' } });
    const { 'x-hub-signature': _sig, ...unsigned } = bitbucketServerHeaders('repo:refs_changed', body);
    expect(await post('/hooks/bitbucket-server', body, unsigned)).toMatchObject({
      status: 401,
      body: { error: 'missing-signature' },
    });
    const noChanges = JSON.stringify({ ...bitbucketServerPush([]), changes: undefined });
    expect(
      await post(
        '/hooks/bitbucket-server',
        noChanges,
        bitbucketServerHeaders('repo:refs_changed', noChanges),
      ),
    ).toEqual({
      status: 400,
      body: { error: 'malformed', message: 'bitbucket-server repo:refs_changed payload has no changes list' },
    });
    const events = await env.log.until('bitbucket-server rejections', () => {
      const r = rejections('bitbucket-server');
      return r.length >= 3 ? r : undefined;
    });
    expect(events.map((e) => e.data.reason)).toEqual(['bad-signature', 'missing-signature', 'malformed']);
    expect(events[0]!.data.deliveryId).toBe(forgedHeaders['x-request-id']);
  });
});

describe('Bitbucket Cloud', () => {
  it('repo:push is checked; a deleted other branch acknowledged; an unsigned hook refused', async () => {
    const sha = await commit('bitbucket-cloud');
    const body = JSON.stringify(bitbucketCloudPush('main', sha));
    expect(await post('/hooks/bitbucket-cloud', body, bitbucketCloudHeaders(body))).toEqual(acceptedLocal());
    await env.log.until('bitbucket-cloud push detected', detected(sha), 10_000);

    const gone = JSON.stringify(bitbucketCloudPush('feature/old', null));
    expect(await post('/hooks/bitbucket-cloud', gone, bitbucketCloudHeaders(gone))).toEqual({
      status: 202,
      body: { accepted: [], ignored: 'ref', ref: 'refs/heads/feature/old' },
    });
    const pr = JSON.stringify({
      pullrequest: { id: 1 },
      repository: bitbucketCloudPush('main', sha).repository,
    });
    expect(
      await post(
        '/hooks/bitbucket-cloud',
        pr,
        bitbucketCloudHeaders(pr, { 'x-event-key': 'pullrequest:created' }),
      ),
    ).toEqual({ status: 200, body: { ignored: 'other' } });
    // A hook without a secret sends no X-Hub-Signature: its UUID header alone proves nothing.
    const { 'x-hub-signature': _sig, ...unsigned } = bitbucketCloudHeaders(body);
    expect(await post('/hooks/bitbucket-cloud', body, unsigned)).toMatchObject({
      status: 401,
      body: { error: 'missing-signature' },
    });
    const r = await env.log.until('bitbucket-cloud rejection', () => rejections('bitbucket-cloud')[0]);
    expect(r.data.deliveryId).toBe(unsigned['x-request-uuid']);
  });
});

describe('Azure DevOps', () => {
  it('git.push with the hook’s Basic credentials is checked; wrong or no credentials, or the Test sample, refused', async () => {
    await azure.work.writeFile('a.txt', 'azure');
    const sha = await azure.work.commit('azure');
    await azure.work.push();
    const body = JSON.stringify(
      azurePush([
        { name: 'refs/heads/main', newObjectId: sha },
        { name: 'refs/heads/feature/old', newObjectId: ZERO },
      ]),
    );
    const auth = basicAuth(secrets.azureDevOpsUsername, secrets.azureDevOpsPassword);
    const headers = { 'content-type': 'application/json; charset=utf-8', authorization: auth };
    expect(await post('/hooks/azure-devops', body, headers)).toEqual({
      status: 202,
      body: { accepted: [{ repo: azure.name, handledBy: w.instance }] },
    });
    const ev = await env.log.until('azure-devops push detected', detected(sha, azure.name), 10_000);
    expect(ev.data.trigger).toBe('webhook');

    const wrong = basicAuth(secrets.azureDevOpsUsername, `${secrets.azureDevOpsPassword}-old`);
    expect(await post('/hooks/azure-devops', body, { ...headers, authorization: wrong })).toMatchObject({
      status: 401,
      body: { error: 'bad-signature' },
    });
    expect(await post('/hooks/azure-devops', body, { 'content-type': 'application/json' })).toMatchObject({
      status: 401,
      body: { error: 'missing-signature' },
    });
    // The subscription's "Test" button sends Microsoft's sample repository: nobody watches it.
    const sample = JSON.stringify({
      ...fixture('azure-devops-git-push.json'),
      resource: {
        ...(fixture('azure-devops-git-push.json').resource as Json),
        repository: {
          name: 'Fabrikam-Fiber-Git',
          remoteUrl: 'https://dev.azure.com/fabrikam-fiber-inc/DefaultCollection/_git/Fabrikam-Fiber-Git',
        },
      },
    });
    expect(await post('/hooks/azure-devops', sample, headers)).toMatchObject({
      status: 404,
      body: { error: 'unknown-target' },
    });
    expect(await post('/hooks/azure-devops', '{"eventType":', headers)).toEqual({
      status: 400,
      body: { error: 'malformed', message: 'body is not valid JSON' },
    });
    const events = await env.log.until('azure-devops rejections', () => {
      const r = rejections('azure-devops');
      return r.length >= 4 ? r : undefined;
    });
    expect(events.map((e) => e.data.reason)).toEqual([
      'bad-signature',
      'missing-signature',
      'unknown-target',
      'malformed',
    ]);
  });
});

describe('Gogs', () => {
  it('push as JSON and as the form content type; a deleted branch (delete event) acknowledged', async () => {
    for (const [i, opts] of [{}, { form: true }].entries()) {
      const sha = await commit(`gogs-${i}`);
      const payload = { ...fixture('gogs-push.json'), after: sha, commits: [], repository: gogsRepository() };
      const { body, headers } = gogsRequest('push', payload, opts);
      expect(await post('/hooks/gogs', body, headers), JSON.stringify(opts)).toEqual(acceptedLocal());
      await env.log.until(`gogs push ${i} detected`, detected(sha), 10_000);
    }
    const deleted = gogsRequest('delete', {
      ...fixture('gogs-delete.json'),
      ref: 'feature',
      repository: gogsRepository(),
    });
    expect(await post('/hooks/gogs', deleted.body, deleted.headers)).toEqual({
      status: 202,
      body: { accepted: [], ignored: 'ref', ref: 'refs/heads/feature' },
    });
    const forged = gogsRequest('push', { ...fixture('gogs-push.json'), repository: gogsRepository() });
    expect(
      await post('/hooks/gogs', forged.body, {
        ...forged.headers,
        'x-gogs-signature': hex('x', forged.body),
      }),
    ).toMatchObject({ status: 401, body: { error: 'bad-signature' } });
  });
});
