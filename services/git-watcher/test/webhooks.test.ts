import { createHmac } from 'node:crypto';
import { preferredOwner } from '@flotilla/bus';
import { GitWorkdir, scrapeMetric } from '@flotilla/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GitWatcherHandle } from '../src/service.ts';
import { type Env, startEnv, uniq } from './harness.ts';

const secrets = {
  githubSecret: 'gh-secret-123',
  gitlabSecret: 'gl-secret-123',
  giteaSecret: 'gt-secret-123',
  genericSecret: 'gn-secret-123',
};
const hmac = (secret: string, body: string) => createHmac('sha256', secret).update(body).digest('hex');

const REJECTION_EVENTS_PER_MINUTE = 5;

let env: Env;
let a: GitWatcherHandle;
let b: GitWatcherHandle;
/** Repos that A owns; webhooks go to B, which must forward them. */
const repos: Array<{ name: string; url: string; work: GitWorkdir }> = [];

beforeAll(async () => {
  env = await startEnv();
  const ia = uniq('a');
  const ib = uniq('b');
  const members = [ia, ib].sort();
  while (repos.length < 4) {
    const name = uniq('hook');
    if (preferredOwner(name, members) !== ia) continue;
    const { url } = await env.git.createRepo(name, { files: { 'a.txt': '0' } });
    repos.push({ name, url, work: await GitWorkdir.clone(url) });
  }
  const config = {
    repositories: repos.map((r) => ({ name: r.name, url: r.url, aliases: [`org/${r.name}`] })),
    // Polls so rare that any event in these tests comes from a webhook.
    poll: { intervalMs: 600_000 },
    lease: { ttlMs: 1500, bucket: uniq('leases'), membersBucket: uniq('members') },
    webhooks: { ...secrets, bodyLimit: 4096, rejectionEventsPerMinute: REJECTION_EVENTS_PER_MINUTE },
  };
  a = await env.start({ instance: ia, ...config });
  b = await env.start({ instance: ib, ...config });
  for (const r of repos)
    await env.log.until('initial events', () => env.log.of('git.commit-detected', r.name).length === 1);
  await env.log.until('A owns the repos', () => a.owned().length === repos.length);
});

afterAll(async () => {
  for (const r of repos) await r.work.remove();
  await env?.stop();
});

async function push(i: number, content: string): Promise<string> {
  const r = repos[i]!;
  await r.work.writeFile('a.txt', content);
  const sha = await r.work.commit(content);
  await r.work.push();
  return sha;
}

async function post(path: string, body: string, headers: Record<string, string>) {
  const res = await fetch(`${b.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const detected = (repo: string, sha: string) => () =>
  env.log.of<{ sha: string; trigger: string }>('git.commit-detected', repo).find((e) => e.data.sha === sha);

describe('git-watcher webhooks', () => {
  it('accepts signed pushes from each forge and forwards them to the owning instance', async () => {
    const cases: Array<{
      path: string;
      body: (i: number, sha: string) => object;
      headers: (b: string) => Record<string, string>;
    }> = [
      {
        path: '/hooks/github',
        body: (i, sha) => ({
          ref: 'refs/heads/main',
          after: sha,
          repository: { full_name: 'x/y', clone_url: repos[i]!.url },
        }),
        headers: (body) => ({
          'x-github-event': 'push',
          'x-hub-signature-256': `sha256=${hmac(secrets.githubSecret, body)}`,
        }),
      },
      {
        path: '/hooks/gitlab',
        body: (i, sha) => ({
          object_kind: 'push',
          ref: 'refs/heads/main',
          after: sha,
          project: { path_with_namespace: `org/${repos[i]!.name}` },
        }),
        headers: () => ({ 'x-gitlab-event': 'Push Hook', 'x-gitlab-token': secrets.gitlabSecret }),
      },
      {
        path: '/hooks/gitea',
        body: (i, sha) => ({
          ref: 'refs/heads/main',
          after: sha,
          repository: { full_name: `org/${repos[i]!.name}` },
        }),
        headers: (body) => ({
          'x-gitea-event': 'push',
          'x-gitea-signature': hmac(secrets.giteaSecret, body),
        }),
      },
      {
        path: '/hooks/generic',
        body: (i) => ({ repository: repos[i]!.name }),
        headers: (body) => ({ 'x-flotilla-signature': hmac(secrets.genericSecret, body) }),
      },
    ];
    for (const [i, c] of cases.entries()) {
      const sha = await push(i, `${c.path}-1`);
      const body = JSON.stringify(c.body(i, sha));
      const res = await post(c.path, body, c.headers(body));
      expect(res.status, c.path).toBe(202);
      expect(res.body.accepted).toEqual([{ repo: repos[i]!.name, handledBy: a.instance }]);
      const ev = await env.log.until(`event via ${c.path}`, detected(repos[i]!.name, sha), 10_000);
      expect(ev.data.trigger).toBe('webhook');
    }
    expect(await scrapeMetric(a.url, 'git_watcher_push_to_event_seconds_count')).toBeGreaterThanOrEqual(4);
    // A ping is acknowledged and starts nothing.
    const ping = JSON.stringify({ zen: 'hi', hook_id: 1 });
    const pong = await post('/hooks/github', ping, {
      'x-github-event': 'ping',
      'x-hub-signature-256': `sha256=${hmac(secrets.githubSecret, ping)}`,
    });
    expect(pong).toEqual({ status: 200, body: { ignored: 'ping' } });
  });

  it('refuses bad, missing and oversized requests with an event and without fetching', async () => {
    const sha = await push(0, 'refused');
    const fetchesBefore = await scrapeMetric(a.url, 'git_watcher_fetches_total');
    const body = JSON.stringify({
      ref: 'refs/heads/main',
      after: sha,
      repository: { clone_url: repos[0]!.url },
    });
    const bad = await post('/hooks/github', body, {
      'x-github-event': 'push',
      'x-hub-signature-256': `sha256=${hmac('wrong', body)}`,
    });
    expect(bad.status).toBe(401);
    const missing = await post('/hooks/github', body, {
      'x-github-event': 'push',
      'x-github-delivery': 'd-42',
    });
    expect(missing.status).toBe(401);
    const badToken = await post('/hooks/gitlab', body, { 'x-gitlab-token': 'nope' });
    expect(badToken.status).toBe(401);
    const big = JSON.stringify({ repository: repos[0]!.name, pad: 'x'.repeat(10_000) });
    const tooLarge = await post('/hooks/generic', big, {
      'x-flotilla-signature': hmac(secrets.genericSecret, big),
    });
    expect(tooLarge.status).toBe(413);
    const notJson = '{"repository":';
    const malformed = await post('/hooks/generic', notJson, {
      'x-flotilla-signature': hmac(secrets.genericSecret, notJson),
    });
    expect(malformed.status).toBe(400);
    // Signed, and JSON, but reaching for a prototype: refused before any field is read.
    const polluting = `{"repository":${JSON.stringify(repos[0]!.name)},"__proto__":{"isAdmin":true}}`;
    const prototype = await post('/hooks/generic', polluting, {
      'x-flotilla-signature': hmac(secrets.genericSecret, polluting),
    });
    expect(prototype.status).toBe(400);
    expect(prototype.body.message).toContain('forbidden "__proto__"');
    const stranger = JSON.stringify({ repository: 'not-watched' });
    const unknown = await post('/hooks/generic', stranger, {
      'x-flotilla-signature': hmac(secrets.genericSecret, stranger),
    });
    expect(unknown.status).toBe(404);

    const rejections = await env.log.until('7 rejections', () => {
      const r = env.log.of<{ receiver: string; reason: string; deliveryId?: string }>('webhook.rejected');
      return r.length >= 7 ? r : undefined;
    });
    expect(rejections.map((e) => `${e.data.receiver}:${e.data.reason}`)).toEqual([
      'github:bad-signature',
      'github:missing-signature',
      'gitlab:bad-signature',
      'generic:too-large',
      'generic:malformed',
      'generic:malformed',
      'generic:unknown-target',
    ]);
    expect(rejections[1]!.data.deliveryId).toBe('d-42');
    expect(await scrapeMetric(b.url, 'git_watcher_webhook_rejections_total')).toBe(7);
    // No wait needed: a check is only ever started before the reply, and every reply is in.
    expect(detected(repos[0]!.name, sha)()).toBeUndefined();
    expect(await scrapeMetric(a.url, 'git_watcher_fetches_total')).toBe(fetchesBefore);
  });

  it('answers every request of a flood of bad webhooks with 401 but publishes a bounded number of events', async () => {
    const flood = 60;
    const rejectedBefore = await scrapeMetric(b.url, 'git_watcher_webhook_rejections_total');
    const body = JSON.stringify({
      ref: 'refs/heads/main',
      repository: { full_name: `org/${repos[1]!.name}` },
    });
    const statuses: number[] = [];
    for (let i = 0; i < flood; i += 10) {
      const batch = await Promise.all(
        Array.from({ length: 10 }, (_, j) =>
          post('/hooks/gitea', body, {
            'x-gitea-event': 'push',
            'x-gitea-signature': hmac(`wrong-${i + j}`, body),
          }),
        ),
      );
      statuses.push(...batch.map((r) => r.status));
      for (const r of batch) expect(r.body).toEqual({ error: 'bad-signature', message: expect.any(String) });
    }
    expect(statuses).toEqual(Array(flood).fill(401));
    // A marker with its own budget: each reply is sent after its event was stored, so once the
    // marker is in the stream every event the flood caused is there too.
    const marker = await post('/hooks/gitea', body, { 'x-gitea-event': 'push' });
    expect(marker.status).toBe(401);
    const rejected = (reason: string) =>
      env.log
        .of<{ receiver: string; reason: string }>('webhook.rejected')
        .filter((e) => e.data.receiver === 'gitea' && e.data.reason === reason);
    await env.log.until('the marker rejection', () => rejected('missing-signature').length === 1);
    // One window's budget, or two if the flood straddled a minute boundary; never one per request.
    const published = rejected('bad-signature').length;
    expect(published).toBeGreaterThanOrEqual(REJECTION_EVENTS_PER_MINUTE);
    expect(published).toBeLessThanOrEqual(2 * REJECTION_EVENTS_PER_MINUTE);
    // Every refusal is still counted.
    expect(await scrapeMetric(b.url, 'git_watcher_webhook_rejections_total')).toBe(
      rejectedBefore + flood + 1,
    );
  });

  it('serves health, readiness and metrics', async () => {
    expect((await fetch(`${b.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${b.url}/readyz`)).status).toBe(200);
    expect(await scrapeMetric(a.url, 'git_watcher_repos_owned')).toBe(repos.length);
    expect(await scrapeMetric(a.url, 'git_watcher_git_processes_total')).toBeGreaterThan(0);
  });
});
