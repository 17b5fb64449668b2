/**
 * Webhook → GitCommitDetected, trusting the signed payload's `after` vs asking the remote, side by
 * side in one run on one watcher: push, POST the signed generic hook, wait for the event on NATS.
 * Pushes alternate between a payload naming the new head (`ref` + `after`: the watcher fetches
 * that one commit, no ls-remote) and the same payload without `after` (the path before: ls-remote,
 * fetch of the branch). p50/p90/p99 per mode after a warm-up.
 *
 * Run: npx tsx bench/git-watcher/webhook-after.ts [--pushes=60]
 * Writes bench/results/git-watcher-webhook-after.md.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createLogger, loadConfig } from '@flotilla/runtime';
import { startGitServer, startNats } from '@flotilla/test-support';
import { Config } from '../../services/git-watcher/src/config.ts';
import { type GitWatcherHandle, startGitWatcher } from '../../services/git-watcher/src/service.ts';
import { fmt, machineLine, percentile, percentileCells } from '../stats.ts';
import { SECRET, webhookPushes } from './webhook-pushes.ts';

const { values: args } = parseArgs({ options: { pushes: { type: 'string', default: '60' } } });
const PUSHES = Number(args.pushes);
const WARMUP = 4;
const root = fileURLToPath(new URL('../..', import.meta.url));
const nats = await startNats();
const git = await startGitServer();
const tmp = await mkdtemp(join(tmpdir(), 'gw-after-'));
let w: GitWatcherHandle | undefined;
try {
  const { url } = await git.createRepo('after', { files: { 'apps/web.yaml': 'v: 0\n' } });
  const file = join(tmp, 'config.json');
  await writeFile(
    file,
    JSON.stringify({
      instance: 'after',
      nats: { servers: [nats.url] },
      http: { port: 0 },
      cacheDir: join(tmp, 'cache'),
      repositories: [{ name: 'after', url, paths: ['apps'] }],
      // Polls so rare that only the webhooks trigger checks.
      poll: { intervalMs: 3_600_000 },
      webhooks: { genericSecret: SECRET },
    }),
  );
  w = await startGitWatcher(
    loadConfig(Config, { file, env: {} }),
    createLogger({ service: 'git-watcher', level: 'silent' }),
  );
  const pushes = await webhookPushes(w, 'after', url);
  const latencies: Record<'after' | 'ref-only', number[]> = { after: [], 'ref-only': [] };
  for (let i = 0; i < PUSHES + WARMUP * 2; i++) {
    const mode = i % 2 === 0 ? 'after' : 'ref-only';
    const ms = await pushes.push({ after: mode === 'after' });
    if (i >= WARMUP * 2) latencies[mode].push(ms);
    process.stderr.write(`${i} ${mode} ${fmt(ms)} ms\n`);
  }
  await pushes.close();
  const a = latencies.after;
  const b = latencies['ref-only'];
  const row = (name: string, xs: number[]) => `| ${name} | ${xs.length} | ${percentileCells(xs)} |`;
  const ratio = (p: number) => fmt(percentile(b, p) / percentile(a, p), 2);
  const md = `# git-watcher: webhook → GitCommitDetected, trusting the signed \`after\`

\`npx tsx bench/git-watcher/webhook-after.ts --pushes=${PUSHES}\`, ${new Date().toISOString()}, ${machineLine()} (shared machine: read the ratio). Real nats-server, real \`git daemon\`, the watcher in-process, one repo.

Push returns → signed \`/hooks/generic\` POST → check → GitCommitDetected received by a NATS subscriber. Pushes alternate between the two payloads on the same watcher, ${WARMUP} warm-up pushes of each first.

| payload | pushes | p50 | p90 | p99 |
|---|---:|---:|---:|---:|
${row('`ref` + `after` (fetch that commit by id, log: 2 git processes; merge-base too after a restart)', a)}
${row('`ref` only (before: ls-remote, fetch of the branch, merge-base, log: 4 git processes)', b)}
| **ratio before / after (p50)** | | **${ratio(50)}×** | ${ratio(90)}× | ${ratio(99)}× |

A webhook naming a head the watcher has already seen (the forge's echo of a push the planner
reported itself) now ends with no git process at all (\`services/git-watcher/test/commits.test.ts\`).
`;
  await mkdir(join(root, 'bench/results'), { recursive: true });
  await writeFile(join(root, 'bench/results/git-watcher-webhook-after.md'), md);
  process.stdout.write(md);
} finally {
  await w?.stop();
  await git.stop();
  await nats.dispose();
  await rm(tmp, { recursive: true, force: true });
}
process.exit(0);
