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
import { createHmac } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createLogger, loadConfig } from '@flotilla/runtime';
import { GitWorkdir, rawNats, startGitServer, startNats } from '@flotilla/test-support';
import { Config } from '../../services/git-watcher/src/config.ts';
import { type GitWatcherHandle, startGitWatcher } from '../../services/git-watcher/src/service.ts';

const { values: args } = parseArgs({ options: { pushes: { type: 'string', default: '60' } } });
const PUSHES = Number(args.pushes);
const WARMUP = 4;
const root = fileURLToPath(new URL('../..', import.meta.url));
const SECRET = 'bench-webhook-secret';
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] as number;
};
const fmt = (n: number, d = 1) => n.toFixed(d);

async function waitFor<T>(what: string, fn: () => T | undefined, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

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
  const arrived = new Map<string, number>();
  const sub = rawNats(w.bus).nc.subscribe('flotilla.v1.git.commit-detected.>', {
    callback: (_err, msg) => {
      arrived.set(msg.json<{ data: { sha: string } }>().data.sha, performance.now());
    },
  });
  await waitFor('initial event', () => (arrived.size > 0 ? true : undefined), 60_000);
  const work = await GitWorkdir.clone(url);
  const latencies: Record<'after' | 'ref-only', number[]> = { after: [], 'ref-only': [] };
  for (let i = 0; i < PUSHES + WARMUP * 2; i++) {
    const mode = i % 2 === 0 ? 'after' : 'ref-only';
    await work.writeFile('apps/web.yaml', `v: ${i + 1}\n`);
    const sha = await work.commit(`bump ${i + 1}`);
    await work.push();
    const payload =
      mode === 'after'
        ? { repository: 'after', ref: 'refs/heads/main', after: sha }
        : { repository: 'after', ref: 'refs/heads/main' };
    const body = JSON.stringify(payload);
    const t0 = performance.now();
    const res = await fetch(`${w.url}/hooks/generic`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-flotilla-signature': createHmac('sha256', SECRET).update(body).digest('hex'),
      },
      body,
    });
    if (res.status !== 202) throw new Error(`webhook answered ${res.status}`);
    const t1 = await waitFor('event', () => arrived.get(sha), 60_000);
    if (i >= WARMUP * 2) latencies[mode].push(t1 - t0);
    process.stderr.write(`${i} ${mode} ${fmt(t1 - t0)} ms\n`);
  }
  sub.unsubscribe();
  await work.remove();
  const a = latencies.after;
  const b = latencies['ref-only'];
  const row = (name: string, xs: number[]) =>
    `| ${name} | ${xs.length} | ${fmt(pct(xs, 50))} ms | ${fmt(pct(xs, 90))} ms | ${fmt(pct(xs, 99))} ms |`;
  const md = `# git-watcher: webhook → GitCommitDetected, trusting the signed \`after\`

\`npx tsx bench/git-watcher/webhook-after.ts --pushes=${PUSHES}\`, ${new Date().toISOString()}, ${cpus().length} cores, load average at the end ${loadavg()
    .map((l) => fmt(l, 1))
    .join(
      ' / ',
    )} (shared machine: read the ratio). Real nats-server, real \`git daemon\`, the watcher in-process, one repo.

Push returns → signed \`/hooks/generic\` POST → check → GitCommitDetected received by a NATS subscriber. Pushes alternate between the two payloads on the same watcher, ${WARMUP} warm-up pushes of each first.

| payload | pushes | p50 | p90 | p99 |
|---|---:|---:|---:|---:|
${row('`ref` + `after` (fetch that commit by id, merge-base, log: 3 git processes)', a)}
${row('`ref` only (before: ls-remote, fetch of the branch, merge-base, log: 4 git processes)', b)}
| **ratio before / after (p50)** | | **${fmt(pct(b, 50) / pct(a, 50), 2)}×** | ${fmt(pct(b, 90) / pct(a, 90), 2)}× | ${fmt(pct(b, 99) / pct(a, 99), 2)}× |

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
