import { cp } from 'node:fs/promises';
import { EVENT_STREAM } from '@flotilla/bus';
import { encodeToken } from '@flotilla/events';
import { execGit, GitWorkdir, rawNats } from '@flotilla/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GitWatcherHandle } from '../src/service.ts';
import { crash, type Env, startEnv, uniq } from './harness.ts';

/**
 * 30 repos by default: on the shared two-core machine (load average 15+ from other suites) first
 * sight of 100 repos alone took over 90 s. GW_SCALE_REPOS=100 runs the full size.
 */
const N = Number(process.env.GW_SCALE_REPOS ?? 30);

let env: Env;
let work: GitWorkdir;
let base: string;
let tree: string;
const names: string[] = [];

beforeAll(async () => {
  env = await startEnv();
  const template = uniq('tpl');
  const created = await env.git.createRepo(template, { files: { 'a.txt': '0' } });
  base = created.head!;
  // Copies of one bare repo: far cheaper than N clones and pushes.
  for (let i = 0; i < N; i++) {
    const name = `${template}-${i}`;
    await cp(env.git.path(template), env.git.path(name), { recursive: true });
    names.push(name);
  }
  work = await GitWorkdir.clone(env.git.fileUrl(template));
  tree = await work.git('rev-parse', 'HEAD^{tree}');
});

afterAll(async () => {
  await work?.remove();
  await env?.stop();
});

/** One new commit on top of each repo's head (commit-tree + push: two git processes per repo). */
async function pushAll(round: string, parents: Map<string, string>): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const name of names) {
    const sha = await execGit(
      ['commit-tree', tree, '-p', parents.get(name) ?? base, '-m', `${round} ${name}`],
      {
        cwd: work.dir,
      },
    );
    await execGit(['push', '--quiet', env.git.fileUrl(name), `${sha}:refs/heads/main`], { cwd: work.dir });
    out.set(name, sha);
  }
  return out;
}

function detectedCount(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const e of env.log.of<{ repo: string; sha: string }>('git.commit-detected'))
    counts.set(`${e.data.repo} ${e.data.sha}`, (counts.get(`${e.data.repo} ${e.data.sha}`) ?? 0) + 1);
  return counts;
}

describe('git-watcher at scale', () => {
  it(`shares ${N} repos over 3 instances, reports every commit once, and survives losing an instance`, async () => {
    const config = {
      repositories: names.map((name) => ({ name, url: env.git.fileUrl(name) })),
      poll: { intervalMs: 2000, hostConcurrency: 4 },
      // A 10 s TTL leaves a loaded 2-core machine room to renew 30 leases per cycle (5 s churned).
      lease: { ttlMs: 10_000, bucket: uniq('leases'), membersBucket: uniq('members') },
    };
    const instances: GitWatcherHandle[] = [];
    for (let i = 0; i < 3; i++)
      instances.push(await env.start({ instance: `scale-${i}-${uniq('i')}`, ...config }));
    const diagnose = async () => {
      const seen = new Set(env.log.of<{ repo: string }>('git.commit-detected').map((e) => e.data.repo));
      const kv = await env.bus.kv<unknown>('git-watcher-cursors');
      const leases = await env.bus.kv<unknown>(config.lease.bucket);
      for (const name of names.filter((n) => !seen.has(n)))
        console.log('missing', name, {
          owners: instances.filter((w) => w.owned().includes(name)).map((w) => w.instance),
          watchers: instances
            .filter((w) => w.watcher(name))
            .map((w) => [w.instance, w.watcher(name)!.consecutiveFailures]),
          cursor: (await kv.get(`${name}@main`))?.value,
          lease: (await leases.get(name))?.value,
          stored: await rawNats(env.bus)
            .jsm.streams.getMessage(EVENT_STREAM, {
              last_by_subj: `flotilla.v1.git.commit-detected.${encodeToken(name)}`,
            })
            .then((m) => m?.seq)
            .catch((err) => String(err)),
        });
    };
    const initial = await env.log
      .until(
        'first sight of every repo',
        () => (env.log.of('git.commit-detected').length >= N ? true : undefined),
        90_000,
      )
      .catch(async (err) => {
        await diagnose();
        throw err;
      });
    expect(initial).toBe(true);
    // Spread out, no repo owned twice.
    await env.log
      .until(
        'balanced',
        () =>
          instances.every((w) => w.owned().length > 0) &&
          instances.reduce((n, w) => n + w.owned().length, 0) === N,
        90_000,
      )
      .catch((err) => {
        throw new Error(`${err.message}; owned: ${instances.map((w) => w.owned().length).join(', ')}`);
      });
    const owned = instances.flatMap((w) => w.owned());
    expect(new Set(owned).size).toBe(N);

    const round1 = await pushAll('round1', new Map());
    await env.log.until('round 1', () => env.log.of('git.commit-detected').length >= 2 * N, 90_000);

    // Lose the busiest instance without it releasing anything; its repos come back after the TTL.
    const victim = instances.reduce((a, b) => (b.owned().length > a.owned().length ? b : a));
    const victimRepos = victim.owned();
    await crash(victim);
    const round2 = await pushAll('round2', round1);
    await env.log.until('round 2', () => env.log.of('git.commit-detected').length >= 3 * N, 90_000);
    const survivors = instances.filter((w) => w !== victim);
    await env.log.until(
      'taken over',
      () => victimRepos.every((r) => survivors.some((w) => w.owned().includes(r))),
      40_000,
    );

    const counts = detectedCount();
    for (const name of names) {
      expect(counts.get(`${name} ${base}`), name).toBe(1);
      expect(counts.get(`${name} ${round1.get(name)}`), name).toBe(1);
      expect(counts.get(`${name} ${round2.get(name)}`), name).toBe(1);
    }
    expect(env.log.of('git.commit-detected')).toHaveLength(3 * N);
  }, 480_000);
});
