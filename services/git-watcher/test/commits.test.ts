import { traceIdOf } from '@flotilla/events';
import {
  GitWorkdir,
  generateSshSigningKey,
  scrapeMetric,
  type GitWorkdir as Workdir,
  waitFor,
  waitUntil,
} from '@flotilla/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Env, startEnv, uniq } from './harness.ts';

let env: Env;

beforeAll(async () => {
  env = await startEnv();
});

afterAll(async () => {
  await env?.stop();
});

type Commit = {
  sha: string;
  paths: string[];
  author: { name: string; email: string };
  signature: { status: string; signer?: string };
  trigger: string;
};

async function repoWithWorkdir(
  files: Record<string, string>,
): Promise<{ name: string; url: string; work: Workdir; head: string }> {
  const name = uniq('repo');
  const { url, head } = await env.git.createRepo(name, { files });
  const work = await GitWorkdir.clone(url);
  return { name, url, work, head: head! };
}

async function commit(
  work: Workdir,
  files: Record<string, string>,
  message: string,
  opts: { author?: { name: string; email: string }; sign?: boolean } = {},
) {
  for (const [p, c] of Object.entries(files)) await work.writeFile(p, c);
  return await work.commit(message, opts);
}

describe('git-watcher commits', () => {
  it('emits one event per new commit in order, filtered to the watched paths, and polls without fetching', async () => {
    const r = await repoWithWorkdir({ 'apps/web.yaml': 'v: 0\n', 'docs/readme.md': 'hi\n' });
    const w = await env.start({ repositories: [{ name: r.name, url: r.url, paths: ['apps/'] }] });
    // First sight: the head stands for the current state.
    await env.log.until('initial event', () => env.log.of('git.commit-detected', r.name).length === 1);
    expect(env.log.of<Commit>('git.commit-detected', r.name)[0]!.data.sha).toBe(r.head);

    const alice = { name: 'Alice', email: 'alice@example.test' };
    const bob = { name: 'Bob', email: 'bob@example.test' };
    const c1 = await commit(r.work, { 'apps/web.yaml': 'v: 1\n' }, 'web v1', { author: alice });
    const docs = await commit(r.work, { 'docs/readme.md': 'more\n' }, 'docs only', { author: bob });
    const c2 = await commit(r.work, { 'apps/api/deploy.yaml': 'v: 1\n' }, 'api', { author: bob });
    const c3 = await commit(r.work, { 'apps/web.yaml': 'v: 2\n', 'docs/readme.md': 'x\n' }, 'both', {
      author: alice,
    });
    await r.work.push();

    await env.log.until('3 events', () => env.log.of('git.commit-detected', r.name).length === 4);
    const events = env.log.of<Commit>('git.commit-detected', r.name).slice(1);
    expect(events.map((e) => e.data.sha)).toEqual([c1, c2, c3]);
    expect(events.map((e) => e.data.paths)).toEqual([
      ['apps/web.yaml'],
      ['apps/api/deploy.yaml'],
      ['apps/web.yaml'],
    ]);
    expect(events.map((e) => e.data.author.name)).toEqual(['Alice', 'Bob', 'Alice']);
    expect(events[0]!.actor).toBe('git:alice@example.test');
    expect(events[0]!.id).toBe(`git-${r.name}-${c1}`);
    expect(events.every((e) => e.data.signature.status === 'unchecked' && e.data.trigger === 'poll')).toBe(
      true,
    );
    expect(events.some((e) => e.data.sha === docs)).toBe(false);

    // A commit touching nothing watched: no event, but the cursor moves past it.
    const onlyDocs = await commit(r.work, { 'docs/readme.md': 'later\n' }, 'docs again');
    await r.work.push();
    const check = w.watcher(r.name)!;
    const kv = await env.bus.kv<{ sha: string }>('git-watcher-cursors');
    const cursorSha = await waitFor('the cursor to move past the docs-only commit', async () => {
      const sha = (await kv.get(`${r.name}@main`))?.value.sha;
      return sha === onlyDocs ? sha : undefined;
    });
    expect(cursorSha).toBe(onlyDocs);
    expect(env.log.of('git.commit-detected', r.name)).toHaveLength(4);

    // An unchanged poll is one ls-remote: no fetch.
    const fetchesBefore = await scrapeMetric(w.url, 'git_watcher_fetches_total');
    const unchanged = await check.check('poll');
    expect(unchanged).toMatchObject({ result: 'unchanged', gitProcesses: 1, published: 0 });
    expect(await scrapeMetric(w.url, 'git_watcher_fetches_total')).toBe(fetchesBefore);
    await r.work.remove();
  });

  it('continues the trace named by a commit trailer; a malformed trailer starts a new trace', async () => {
    const r = await repoWithWorkdir({ 'apps/web.yaml': 'v: 0\n' });
    await env.start({ repositories: [{ name: r.name, url: r.url, paths: ['apps/'] }] });
    await env.log.until('initial event', () => env.log.of('git.commit-detected', r.name).length === 1);
    const trace = '4bf92f3577b34da6a3ce929d0e0e4736';
    const traced = await commit(
      r.work,
      { 'apps/web.yaml': 'v: 1\n' },
      `flotilla: update web\n\nFlotilla-Actor: service:planner\nFlotilla-Traceparent: 00-${trace}-00f067aa0ba902b7-01`,
    );
    const forged = await commit(
      r.work,
      { 'apps/web.yaml': 'v: 2\n' },
      `update web\n\nFlotilla-Traceparent: 00-${trace}-zz-01; rm -rf /`,
    );
    await r.work.push();
    await env.log.until('2 events', () => env.log.of('git.commit-detected', r.name).length === 3);
    const [a, b] = env.log.of<Commit>('git.commit-detected', r.name).slice(1);
    expect([a?.data.sha, b?.data.sha]).toEqual([traced, forged]);
    expect(traceIdOf(a?.traceparent)).toBe(trace);
    expect(a?.traceparent).not.toBe(`00-${trace}-00f067aa0ba902b7-01`);
    expect(traceIdOf(b?.traceparent)).toBeDefined();
    expect(traceIdOf(b?.traceparent)).not.toBe(trace);
  });

  it('misses nothing and repeats nothing across restarts', async () => {
    const r = await repoWithWorkdir({ 'a.txt': '0' });
    const repositories = [{ name: r.name, url: r.url }];
    const a = await env.start({ repositories });
    await env.log.until('initial', () => env.log.of('git.commit-detected', r.name).length === 1);
    const c1 = await commit(r.work, { 'a.txt': '1' }, 'one');
    await r.work.push();
    await env.log.until('c1', () => env.log.of('git.commit-detected', r.name).length === 2);
    await a.stop();

    // Pushed while no watcher runs.
    const c2 = await commit(r.work, { 'a.txt': '2' }, 'two');
    const c3 = await commit(r.work, { 'a.txt': '3' }, 'three');
    await r.work.push();

    const b = await env.start({ repositories });
    await env.log.until('c2, c3', () => env.log.of('git.commit-detected', r.name).length === 4);
    expect(await scrapeMetric(b.url, 'git_watcher_events_total', { type: 'GitCommitDetected' })).toBe(2);
    const c4 = await commit(r.work, { 'a.txt': '4' }, 'four');
    await r.work.push();
    await env.log.until('c4', () => env.log.of('git.commit-detected', r.name).length === 5);
    await b.stop();

    // A restart with nothing new publishes nothing (the cursor, not only JetStream's dedupe window).
    const c = await env.start({ repositories });
    await waitUntil(
      'two unchanged polls',
      async () => (await scrapeMetric(c.url, 'git_watcher_checks_total', { result: 'unchanged' })) >= 2,
    );
    expect(
      await scrapeMetric(c.url, 'git_watcher_checks_total', { result: 'unchanged' }),
    ).toBeGreaterThanOrEqual(2);
    expect(await scrapeMetric(c.url, 'git_watcher_events_total')).toBe(0);
    const shas = env.log.of<Commit>('git.commit-detected', r.name).map((e) => e.data.sha);
    expect(shas).toEqual([r.head, c1, c2, c3, c4]);
    await c.stop();
    await r.work.remove();
  });

  it("a webhook's signed `after` is fetched by id: no ls-remote, a head already seen costs nothing, a stale or unknown id asks the remote", async () => {
    const r = await repoWithWorkdir({ 'a.txt': '0' });
    // Polls far apart: every check below is the one this test starts.
    const w = await env.start({ repositories: [{ name: r.name, url: r.url, intervalMs: 3_600_000 }] });
    await env.log.until('initial', () => env.log.of('git.commit-detected', r.name).length === 1);
    const watcher = w.watcher(r.name)!;
    const c1 = await commit(r.work, { 'a.txt': '1' }, 'one');
    const c2 = await commit(r.work, { 'a.txt': '2' }, 'two');
    await r.work.push();

    // fetch of the one commit, log: the ls-remote and the branch fetch are gone, and so is the
    // ancestry check, since the mirror's branch was the last commit seen and the fetch by id moves
    // it only as a fast-forward.
    const pushed = await watcher.check('webhook', Date.now(), c2);
    expect(pushed).toMatchObject({ result: 'changed', head: c2, published: 2, gitProcesses: 2 });
    await env.log.until('both commits', () => env.log.of('git.commit-detected', r.name).length === 3);
    expect(
      env.log
        .of<Commit>('git.commit-detected', r.name)
        .map((e) => e.data.sha)
        .slice(1),
    ).toEqual([c1, c2]);

    // The same head again (the forge's webhook for a push the planner already reported): no git at all.
    expect(await watcher.check('webhook', Date.now(), c2)).toMatchObject({
      result: 'unchanged',
      gitProcesses: 0,
    });

    // A replayed older payload: the mirror's branch never moves back, the remote is asked, no rewrite.
    expect(await watcher.check('webhook', Date.now(), c1)).toMatchObject({ result: 'unchanged', head: c2 });
    // An id the remote does not have: asked the remote instead, which has news.
    const c3 = await commit(r.work, { 'a.txt': '3' }, 'three');
    await r.work.push();
    expect(await watcher.check('webhook', Date.now(), 'f'.repeat(40))).toMatchObject({
      result: 'changed',
      head: c3,
      published: 1,
    });
    // A force-push named by its webhook: taken only through the remote's answer, reported as a rewrite.
    await r.work.resetHard(c1);
    const other = await commit(r.work, { 'a.txt': 'other' }, 'rewritten');
    await r.work.forcePush();
    await watcher.check('webhook', Date.now(), other);
    await env.log.caughtUp();
    expect(
      env.log.of<Record<string, string>>('git.history-rewritten', r.name).map((e) => e.data.newSha),
    ).toEqual([other]);

    // After a restart the mirror's branch is not known to be the last commit seen (the cursor
    // is, in NATS): the fetch by id is followed by the ancestry check again.
    await w.stop();
    const again = await env.start({
      instance: w.instance,
      repositories: [{ name: r.name, url: r.url, intervalMs: 3_600_000 }],
    });
    await waitUntil(
      'the first poll after the restart',
      async () => (await scrapeMetric(again.url, 'git_watcher_checks_total', { result: 'unchanged' })) >= 1,
    );
    const c4 = await commit(r.work, { 'a.txt': '4' }, 'four');
    await r.work.push();
    expect(await again.watcher(r.name)!.check('webhook', Date.now(), c4)).toMatchObject({
      result: 'changed',
      head: c4,
      published: 1,
      gitProcesses: 3,
    });
    await r.work.remove();
  });

  it('two watched repos on one URL share its mirror: a force-push one of them fetched is a rewrite for the other too', async () => {
    const r = await repoWithWorkdir({ 'a.txt': '0' });
    const c1 = await commit(r.work, { 'a.txt': '1' }, 'one');
    await r.work.push();
    const apps = uniq('apps');
    const docs = uniq('docs');
    const w = await env.start({
      repositories: [
        { name: apps, url: r.url, intervalMs: 3_600_000 },
        { name: docs, url: r.url, intervalMs: 3_600_000 },
      ],
    });
    await env.log.until(
      'both first seen',
      () =>
        env.log.of('git.commit-detected', apps).length === 1 &&
        env.log.of('git.commit-detected', docs).length === 1,
    );
    await r.work.resetHard(r.head);
    const other = await commit(r.work, { 'a.txt': 'other' }, 'rewritten');
    await r.work.forcePush();
    // The forge's webhook names the new head; both repos are checked, one after the other.
    await w.watcher(apps)!.check('webhook', Date.now(), other);
    await w.watcher(docs)!.check('webhook', Date.now(), other);
    await env.log.caughtUp();
    for (const name of [apps, docs])
      expect(
        env.log
          .of<Record<string, string>>('git.history-rewritten', name)
          .map((e) => [e.data.previousSha, e.data.newSha]),
      ).toEqual([[c1, other]]);
    await w.stop();
    await r.work.remove();
  });

  it('reports a force-push and continues or halts per policy', async () => {
    const cont = await repoWithWorkdir({ 'a.txt': '0' });
    const halt = await repoWithWorkdir({ 'a.txt': '0' });
    const w = await env.start({
      repositories: [
        { name: cont.name, url: cont.url, historyRewrite: 'continue' },
        { name: halt.name, url: halt.url, historyRewrite: 'halt' },
      ],
    });
    const rewritten: Record<string, { old: string; next: string }> = {};
    for (const r of [cont, halt]) {
      await env.log.until('initial', () => env.log.of('git.commit-detected', r.name).length === 1);
      const old = await commit(r.work, { 'a.txt': '1' }, 'to be rewritten');
      await r.work.push();
      await env.log.until('old', () => env.log.of('git.commit-detected', r.name).length === 2);
      await r.work.resetHard(r.head);
      const next = await commit(r.work, { 'a.txt': 'other' }, 'rewritten history');
      await r.work.forcePush();
      rewritten[r.name] = { old, next };
    }
    for (const [r, action] of [
      [cont, 'continue'],
      [halt, 'halt'],
    ] as const) {
      const ev = await env.log.until(
        'rewrite',
        () => env.log.of<Record<string, string>>('git.history-rewritten', r.name)[0],
      );
      expect(ev.data).toMatchObject({
        previousSha: rewritten[r.name]!.old,
        newSha: rewritten[r.name]!.next,
        action,
        branch: 'main',
      });
    }
    await env.log.until('continued', () =>
      env.log
        .of<Commit>('git.commit-detected', cont.name)
        .find((e) => e.data.sha === rewritten[cont.name]!.next),
    );
    // A reset to an older commit is a rewrite with no new commits: reported, no error, cursor follows.
    await cont.work.resetHard(cont.head);
    await cont.work.forcePush();
    await env.log.until('reset back', () =>
      env.log
        .of<Record<string, string>>('git.history-rewritten', cont.name)
        .find((e) => e.data.newSha === cont.head && e.data.previousSha === rewritten[cont.name]!.next),
    );
    // Halted: polls go on, but nothing of the new history is passed on. Checks of a repo run one at
    // a time, so once this one (started after the rewrite was reported) is done, so is every check
    // before it, and what they published is in the log once it has caught up.
    expect(await w.watcher(halt.name)!.check('poll')).toMatchObject({ published: 0 });
    await env.log.caughtUp();
    expect(env.log.of<Commit>('git.commit-detected', halt.name).map((e) => e.data.sha)).not.toContain(
      rewritten[halt.name]!.next,
    );
    expect(env.log.of('git.history-rewritten', halt.name)).toHaveLength(1);
    await cont.work.remove();
    await halt.work.remove();
  });

  it('under `require` passes only signed commits and stops at the last good one', async () => {
    const key = await generateSshSigningKey('release@example.test');
    const r = await repoWithWorkdir({ 'a.txt': '0' });
    const w = await env.start({
      repositories: [
        {
          name: r.name,
          url: r.url,
          signature: { policy: 'require', allowedSignersFile: key.allowedSignersFile },
        },
      ],
    });
    // The initial commit is unsigned: rejected, nothing passed on.
    const first = await env.log.until(
      'initial rejection',
      () => env.log.of<Record<string, string>>('git.commit-rejected', r.name)[0],
    );
    expect(first.data).toMatchObject({ sha: r.head, code: 'git.signature-unsigned' });

    await r.work.useSigningKey(key);
    // Fix the history: a signed commit on a rewritten branch (the unsigned root cannot be passed).
    await r.work.git('checkout', '--quiet', '--orphan', 'fresh');
    const s1 = await commit(r.work, { 'a.txt': 'signed' }, 'signed root');
    await r.work.git('push', '--quiet', '--force', 'origin', 'HEAD:refs/heads/main');
    const good = await env.log.until(
      'signed commit',
      () => env.log.of<Commit>('git.commit-detected', r.name)[0],
    );
    expect(good.data).toMatchObject({
      sha: s1,
      signature: { status: 'good', signer: 'release@example.test' },
    });

    const u = await commit(r.work, { 'a.txt': 'sneaky' }, 'unsigned', { sign: false });
    const s3 = await commit(r.work, { 'a.txt': 'signed again' }, 'signed after unsigned');
    await r.work.git('push', '--quiet', '--force', 'origin', 'HEAD:refs/heads/main');
    const rejected = await env.log.until('rejection', () =>
      env.log.of<Record<string, string>>('git.commit-rejected', r.name).find((e) => e.data.sha === u),
    );
    expect(rejected.data).toMatchObject({ code: 'git.signature-unsigned', lastGoodSha: s1 });
    // Blocked at the unsigned commit: a check after the rejection passes nothing on (checks run one at
    // a time, so every earlier check is done too), and the log has everything they published.
    expect(await w.watcher(r.name)!.check('poll')).toMatchObject({ published: 0 });
    await env.log.caughtUp();
    const passed = env.log.of<Commit>('git.commit-detected', r.name).map((e) => e.data.sha);
    expect(passed).toEqual([s1]);
    expect(passed).not.toContain(s3);
    await r.work.remove();
  });
});
