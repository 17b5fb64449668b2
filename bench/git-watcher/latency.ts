/**
 * git-watcher benchmark, one run, same machine, side by side:
 *   1. push-to-event latency with a webhook: push, POST the signed hook (as a forge does), wait for
 *      the GitCommitDetected on NATS. p50/p99 over --pushes pushes (after a warm-up).
 *   2. poll cycle cost for --repos unchanged repos: the watcher's cycle (ls-remote head check, no
 *      fetch) vs a naive cycle that fetches every mirror (Mirror.fetch: rev-parse, fetch, rev-parse),
 *      both with the same per-host concurrency. Wall time and git processes spawned per cycle,
 *      median of --cycles cycles each, interleaved.
 *
 * Run: npx tsx bench/git-watcher/latency.ts [--pushes=100 --repos=200 --cycles=5 --concurrency=4]
 * Writes bench/results/git-watcher.md.
 */
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Mirror } from '@flotilla/git';
import { createLogger, loadConfig } from '@flotilla/runtime';
import { startGitServer, startNats } from '@flotilla/test-support';
import { Config } from '../../services/git-watcher/src/config.ts';
import { HostLimiter } from '../../services/git-watcher/src/host-limiter.ts';
import { type GitWatcherHandle, startGitWatcher } from '../../services/git-watcher/src/service.ts';
import { fmt, machineLine, median, percentile, percentileCells } from '../stats.ts';
import { SECRET, waitFor, webhookPushes } from './webhook-pushes.ts';

const { values: args } = parseArgs({
  options: {
    pushes: { type: 'string', default: '100' },
    repos: { type: 'string', default: '200' },
    cycles: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '4' },
  },
});
const PUSHES = Number(args.pushes);
const REPOS = Number(args.repos);
const CYCLES = Number(args.cycles);
const CONCURRENCY = Number(args.concurrency);
const root = fileURLToPath(new URL('../..', import.meta.url));
const log = (msg: string) => process.stderr.write(`${msg}\n`);

const nats = await startNats();
const git = await startGitServer();
const tmp = await mkdtemp(join(tmpdir(), 'gw-bench-'));
const watchers: GitWatcherHandle[] = [];

async function startWatcher(instance: string, repositories: object[], extra: object = {}) {
  const file = join(tmp, `${instance}.json`);
  await writeFile(
    file,
    JSON.stringify({
      instance,
      nats: { servers: [nats.url] },
      http: { port: 0 },
      cacheDir: join(tmp, `cache-${instance}`),
      repositories,
      // Polls so rare that only the webhook (part 1) or the bench itself (part 2) triggers checks.
      poll: { intervalMs: 3_600_000, hostConcurrency: CONCURRENCY },
      lease: { ttlMs: 15_000, bucket: `leases-${instance}`, membersBucket: `members-${instance}` },
      webhooks: { genericSecret: SECRET },
      ...extra,
    }),
  );
  const w = await startGitWatcher(
    loadConfig(Config, { file, env: {} }),
    createLogger({ service: 'git-watcher', level: 'silent' }),
  );
  watchers.push(w);
  return w;
}

try {
  // ---- 1. push-to-event latency with a webhook ----
  log(`latency: ${PUSHES} pushes`);
  const { url } = await git.createRepo('latency', { files: { 'apps/web.yaml': 'v: 0\n' } });
  const w = await startWatcher('latency', [{ name: 'latency', url, paths: ['apps'] }]);
  const pushes = await webhookPushes(w, 'latency', url);
  const latencies: number[] = [];
  const WARMUP = 5;
  for (let i = 0; i < PUSHES + WARMUP; i++) {
    const ms = await pushes.push({ after: true });
    if (i >= WARMUP) latencies.push(ms);
  }
  await pushes.close();
  const p50 = percentile(latencies, 50);
  log(`latency p50 ${fmt(p50)} ms`);

  // ---- 2. poll cycle cost for unchanged repos ----
  log(`poll cost: ${REPOS} repos`);
  const tpl = await git.createRepo('tpl', { files: { 'a.txt': '0' } });
  if (!tpl.head) throw new Error('template has no head');
  const names: string[] = [];
  for (let i = 0; i < REPOS; i++) {
    const name = `poll-${i}`;
    await mkdir(git.root, { recursive: true });
    await cp(git.path('tpl'), git.path(name), { recursive: true });
    names.push(name);
  }
  const pw = await startWatcher(
    'poll',
    names.map((name) => ({ name, url: git.url(name) })),
  );
  // First sight of every repo (clone + event) happens once; the cycles below are steady state.
  const cursors = await pw.bus.kv<{ seenHead: string }>('git-watcher-cursors');
  await waitFor(
    'first sight of all repos',
    async () => {
      for (const n of names) if (!(await cursors.get(`${n}@main`))) return undefined;
      return true;
    },
    600_000,
    5,
  );
  const naiveMirrors = names.map(
    // Own mirrors (cloned in the warm-up cycle): two Mirror objects must never share a directory.
    (n) => new Mirror({ url: git.url(n), cacheDir: join(tmp, 'cache-naive'), timeoutMs: 60_000 }),
  );
  const naiveLimiter = new HostLimiter(CONCURRENCY);
  const host = `127.0.0.1:${git.port}`;

  const watcherCycle = async () => {
    const t0 = performance.now();
    const results = await Promise.all(names.map((n) => pw.watcher(n)!.check('poll')));
    const wall = performance.now() - t0;
    if (results.some((r) => r.result !== 'unchanged')) throw new Error('a repo changed during the bench');
    return { wall, processes: results.reduce((s, r) => s + r.gitProcesses, 0), fetches: 0 };
  };
  const naiveCycle = async () => {
    const spawned = () => naiveMirrors.reduce((n, m) => n + m.stats.processes, 0);
    const before = spawned();
    const t0 = performance.now();
    let failed = 0;
    await Promise.all(
      naiveMirrors.map((m) =>
        naiveLimiter.run(host, () =>
          m.fetch('main').catch(() => {
            failed++;
          }),
        ),
      ),
    );
    if (failed > 0) log(`naive cycle: ${failed} fetches failed`);
    return { wall: performance.now() - t0, processes: spawned() - before, fetches: REPOS };
  };
  // Warm-up: the naive side clones its mirrors; the watcher side's are warm from first sight.
  await naiveCycle();
  await watcherCycle();
  const ours: Array<{ wall: number; processes: number; fetches: number }> = [];
  const naive: Array<{ wall: number; processes: number; fetches: number }> = [];
  for (let c = 0; c < CYCLES; c++) {
    ours.push(await watcherCycle());
    naive.push(await naiveCycle());
    log(`cycle ${c + 1}: watcher ${fmt(ours[c]!.wall, 0)} ms, naive ${fmt(naive[c]!.wall, 0)} ms`);
  }

  const oursWall = median(ours.map((r) => r.wall));
  const naiveWall = median(naive.map((r) => r.wall));
  const oursProc = median(ours.map((r) => r.processes));
  const naiveProc = median(naive.map((r) => r.processes));
  const date = new Date().toISOString().slice(0, 10);
  const md = `# git-watcher benchmark

\`npx tsx bench/git-watcher/latency.ts --pushes=${PUSHES} --repos=${REPOS} --cycles=${CYCLES} --concurrency=${CONCURRENCY}\`,
${date}, ${machineLine()} (the machine is shared: read ratios and medians).
Real nats-server ${'v2.15.2'} (sync_interval always), real \`git daemon\`, the watcher in-process.

## Push-to-event latency with a webhook

Push returns → signed \`/hooks/generic\` POST naming the commit (\`after\`) → fetch of that commit, merge-base, log, publish (JetStream ack)
→ GitCommitDetected received by a NATS subscriber. ${PUSHES} pushes after ${WARMUP} warm-up pushes.

| | p50 | p90 | p99 | max |
|---|---:|---:|---:|---:|
| webhook | ${percentileCells(latencies)} | ${fmt(Math.max(...latencies))} ms |
| polling only, Flux default interval (1 m), expected | 30 000 ms | 54 000 ms | 59 400 ms | 60 000 ms |

Target p50 ≤ 200 ms: ${p50 <= 200 ? 'met' : 'not met'}.

## Poll cycle cost, ${REPOS} unchanged repos

Same repos, same per-host concurrency (${CONCURRENCY}), each side with its own warm mirrors; median of ${CYCLES} interleaved cycles after a warm-up.
"git processes" counts the git processes the watcher itself spawns (children git starts on its own,
such as upload-pack on the server, are not counted, and are the same one per connection on both sides).

| cycle | wall time | git processes | fetches |
|---|---:|---:|---:|
| git-watcher (ls-remote head check, cursor in KV) | ${fmt(oursWall, 0)} ms | ${oursProc} (${fmt(oursProc / REPOS, 2)}/repo) | ${median(ours.map((r) => r.fetches))} |
| naive: fetch every mirror (rev-parse, fetch, rev-parse) | ${fmt(naiveWall, 0)} ms | ${naiveProc} (${fmt(naiveProc / REPOS, 2)}/repo) | ${REPOS} |
| ratio naive / watcher | ${fmt(naiveWall / oursWall, 2)}× | ${fmt(naiveProc / oursProc, 2)}× | |

Per-cycle wall times (ms): watcher ${ours.map((r) => fmt(r.wall, 0)).join(', ')}; naive ${naive.map((r) => fmt(r.wall, 0)).join(', ')}.
`;
  await mkdir(join(root, 'bench/results'), { recursive: true });
  await writeFile(join(root, 'bench/results/git-watcher.md'), md);
  process.stdout.write(md);
} finally {
  await Promise.allSettled(watchers.map((w) => w.stop()));
  await git.stop();
  await nats.dispose();
  await rm(tmp, { recursive: true, force: true });
}
