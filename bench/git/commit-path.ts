/**
 * The planner's commit path, git only, side by side in one run (issue 20): start a change from
 * the remote head, find an earlier attempt by its key trailer, write a file, commit with
 * trailers, push, fetch the pushed head into the mirror the render reads from.
 *
 *   now:    ConfigRepo + ConfigWriter as the planner runs them (libs/git Workspace and Mirror).
 *   base:   with `--base=<checkout>`, the same two classes from another checkout (e.g. a worktree
 *           at main's commit before a change), driven identically: a before/after of the change
 *           in one run. The checkout needs its own `npm ci`.
 *   before: the same steps as the git commands libs/git ran for them until this change, through
 *           the same runner (simple-git, same environment and config): ls-remote, fetch, reset,
 *           clean, rev-parse, log | add, diff, commit, rev-parse | push, rev-parse | rev-parse,
 *           fetch, rev-parse.
 *
 * Both write to their own repository on one git daemon, alternating commit by commit so load
 * swings hit both alike. Reports the median and p90 wall time per commit and git processes per
 * commit.
 *
 * Run: npx tsx bench/git/commit-path.ts [--commits=30] [--base=/path/to/checkout]
 * Writes bench/results/git-commit-path.md.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { formatCommitMessage } from '@flotilla/git';
import { startGitServer } from '@flotilla/test-support';
import { type RunOptions, runGit, runGitStatus } from '../../libs/git/src/git-runner.ts';
import { ConfigRepo } from '../../services/planner/src/config-repo.ts';
import { ConfigWriter } from '../../services/planner/src/config-writer.ts';
import { percentile } from '../stats.ts';

const { values: args } = parseArgs({
  options: { commits: { type: 'string', default: '30' }, base: { type: 'string' } },
});
const COMMITS = Number(args.commits);
const BASE = args.base;
const baseCommit = BASE
  ? (await runGit(['rev-parse', '--short=12', 'HEAD'], { cwd: BASE })).trim()
  : undefined;
const root = fileURLToPath(new URL('../..', import.meta.url));
const author = { name: 'Flotilla Planner', email: 'planner@flotilla.test' };

const log = (msg: string) => process.stderr.write(`${msg}\n`);

const files = {
  'flotilla.yaml': 'kind: Pipeline\n',
  'clusters/dev/kustomization.yaml': 'resources: [app.yaml]\nimages:\n- name: shop\n  newTag: "0"\n',
  'clusters/dev/app.yaml': 'kind: Deployment\n',
};
const kustomization = (i: number) => `resources: [app.yaml]\nimages:\n- name: shop\n  newTag: "${i}"\n`;

const server = await startGitServer();
const scratch = await mkdtemp(join(tmpdir(), 'flotilla-commit-path-'));
try {
  // ---- now (and base): the planner's own classes ----
  async function plannerLane(
    name: string,
    classes: { ConfigRepo: typeof ConfigRepo; ConfigWriter: typeof ConfigWriter },
  ): Promise<{ run: (i: number) => Promise<void>; processes: () => number }> {
    const served = await server.createRepo(name, { files });
    const repo = await classes.ConfigRepo.open({
      url: served.url,
      branch: 'main',
      workDir: join(scratch, name),
      author,
    });
    const writer = new classes.ConfigWriter(repo);
    const run = async (i: number): Promise<void> => {
      const key: [string, string] = ['Flotilla-Event', `evt-${i}`];
      if ((await writer.begin(key)) !== null) throw new Error('found an earlier attempt');
      await writer.writeFile('clusters/dev/kustomization.yaml', kustomization(i));
      const sha = await writer.commitAndPush({
        pipeline: 'shop',
        message: `dev: shop to ${i}`,
        trailers: { 'Flotilla-Event': `evt-${i}` },
        key,
      });
      if (!sha || (await repo.fetchBranch()) !== sha) throw new Error('pushed head not fetched');
    };
    return { run, processes: () => repo.workspace.stats.processes + repo.mirror.stats.processes };
  }
  const lanes: Record<string, { run: (i: number) => Promise<void>; processes: () => number }> = {
    now: await plannerLane('now', { ConfigRepo, ConfigWriter }),
  };
  if (BASE) {
    const baseClasses = {
      ConfigRepo: (await import(join(BASE, 'services/planner/src/config-repo.ts'))).ConfigRepo,
      ConfigWriter: (await import(join(BASE, 'services/planner/src/config-writer.ts'))).ConfigWriter,
    };
    lanes.base = await plannerLane('base', baseClasses);
  }

  // ---- before: the commands the same steps ran until this change ----
  const beforeRepo = await server.createRepo('before', { files });
  const ws = join(scratch, 'before-ws');
  const mirror = join(scratch, 'before-mirror.git');
  let beforeProcesses = 0;
  const counted = () => {
    beforeProcesses++;
  };
  const local: RunOptions = {
    cwd: ws,
    env: {
      GIT_AUTHOR_NAME: author.name,
      GIT_AUTHOR_EMAIL: author.email,
      GIT_COMMITTER_NAME: author.name,
      GIT_COMMITTER_EMAIL: author.email,
    },
    config: ['core.fsync=all', 'core.fsyncMethod=fsync'],
    onProcess: counted,
  };
  const remote: RunOptions = { ...local, url: beforeRepo.url };
  const mirrorLocal: RunOptions = { cwd: mirror, env: { GIT_DIR: mirror }, onProcess: counted };
  await runGit(['clone', '--quiet', beforeRepo.url, ws], { cwd: scratch });
  await runGit(['clone', '--bare', '--no-tags', '--quiet', beforeRepo.url, mirror], { cwd: scratch });
  async function before(i: number): Promise<void> {
    const value = `evt-${i}`;
    // begin: resetToRemote + findCommitByTrailer
    await runGit(['ls-remote', '--heads', 'origin', 'refs/heads/main'], remote);
    await runGit(
      ['fetch', '--quiet', '--no-tags', 'origin', '+refs/heads/main:refs/remotes/origin/main'],
      remote,
    );
    await runGit(['reset', '--quiet', '--hard', 'refs/remotes/origin/main'], local);
    await runGit(['clean', '-fdq'], local);
    await runGitStatus(['rev-parse', '--verify', '--quiet', 'HEAD'], local, [0, 1, 128]);
    const found = await runGit(
      [
        'log',
        '--fixed-strings',
        '--regexp-ignore-case',
        `--grep=Flotilla-Event: ${value}`,
        '--format=%H%x1f%(trailers:key=Flotilla-Event,valueonly,separator=%x1f)%x1e',
        'HEAD',
        '--',
      ],
      local,
    );
    if (found.includes(value)) throw new Error('found an earlier attempt');
    await writeFile(join(ws, 'clusters/dev/kustomization.yaml'), kustomization(i));
    // commit
    await runGit(['add', '--all'], local);
    await runGitStatus(['diff', '--cached', '--quiet'], local, [0, 1]);
    await runGit(['commit', '--quiet', '--no-verify', '--cleanup=verbatim', '-F', '-'], {
      ...local,
      input: formatCommitMessage(`dev: shop to ${i}`, { 'Flotilla-Event': value, 'Flotilla-Epoch': '0' }),
    });
    await runGitStatus(['rev-parse', '--verify', '--quiet', 'HEAD'], local, [0, 1, 128]);
    // push
    await runGit(['push', '--quiet', 'origin', 'HEAD:refs/heads/main'], remote);
    const sha = (
      await runGitStatus(['rev-parse', '--verify', '--quiet', 'HEAD'], local, [0, 1, 128])
    ).stdout.trim();
    // the mirror's fetch of the pushed branch
    await runGitStatus(
      ['rev-parse', '--verify', '--quiet', 'refs/heads/main^{commit}'],
      mirrorLocal,
      [0, 1, 128],
    );
    await runGit(
      [
        'fetch',
        '--no-tags',
        '--quiet',
        '--update-head-ok',
        beforeRepo.url,
        '+refs/heads/main:refs/heads/main',
      ],
      {
        ...mirrorLocal,
        url: beforeRepo.url,
      },
    );
    const head = (
      await runGitStatus(
        ['rev-parse', '--verify', '--quiet', 'refs/heads/main^{commit}'],
        mirrorLocal,
        [0, 1, 128],
      )
    ).stdout.trim();
    if (head !== sha) throw new Error('pushed head not fetched');
  }

  lanes.before = { run: before, processes: () => beforeProcesses };
  const names = ['before', ...(BASE ? ['base'] : []), 'now'];
  const runs: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  const procs: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  // One warm-up each (the first reset of a freshly opened workspace is a full one by design).
  for (const n of names) await lanes[n]!.run(-1);
  for (let i = 0; i < COMMITS; i++) {
    // Rotating the order, so no lane always runs right after the same other one.
    const order = names.map((_, j) => names[(i + j) % names.length]!);
    for (const which of order) {
      const lane = lanes[which]!;
      const p0 = lane.processes();
      const t = performance.now();
      await lane.run(i);
      runs[which]!.push(performance.now() - t);
      procs[which]!.push(lane.processes() - p0);
    }
    if ((i + 1) % 10 === 0) log(`${i + 1}/${COMMITS}`);
  }

  const row = (name: string, xs: number[], ps: number[]) =>
    `| ${name} | ${Math.round(percentile(xs, 50))} ms | ${Math.round(percentile(xs, 90))} ms | ${percentile(ps, 50)} |`;
  const p50 = (n: string) => percentile(runs[n]!, 50);
  const ratio = p50('before') / p50('now');
  const load = loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');
  const md = `# Planner commit path: git processes per commit

\`npx tsx bench/git/commit-path.ts --commits=${COMMITS}${BASE ? ` --base=<checkout at ${baseCommit}>` : ''}\` (${new Date().toISOString()}, ${cpus().length} cores,
load average at the end ${load}).

One planner change, git only: start from the remote head, look for an earlier attempt by its
key trailer, write a file, commit with trailers, push, fetch the pushed head into the render's
mirror. **now** is ConfigRepo + ConfigWriter as the planner runs them; **before** is the same
steps as the git commands libs/git ran for them before issue 20's change, through the same
runner.${BASE ? ` **base** is ConfigRepo + ConfigWriter of the checkout at ${baseCommit}, driven the same way.` : ''} Own repository each on one git daemon, alternating commit by commit (order rotating); ${COMMITS} commits each.

| path | p50 per commit | p90 per commit | git processes per commit |
|---|---|---|---|
${names.map((n) => row(n, runs[n]!, procs[n]!)).join('\n')}

Ratio before / now (p50): **${ratio.toFixed(2)}×**.${BASE ? ` Ratio base / now (p50): **${(p50('base') / p50('now')).toFixed(2)}×**.` : ''}

Where the processes went: \`resetToRemote\` is one \`ls-remote\` while the workspace is in step
with the remote and nothing was written since its last commit (the planner's usual case: its
own push is the head); heads are read from the ref files instead of \`git rev-parse\`; \`commit\`
lets \`git commit\` report "nothing to commit" instead of asking \`git diff --cached\` first; the
mirror's fetch reads the head it wrote. Not counted above (they are git's own children): \`commit\`
and \`fetch\` each started \`git maintenance run --auto\` and waited for it; now that runs once
every 50 commits or fetches. Since issue 20's write-path change, starting a change costs no process
when the workspace's head is its own last push (no \`ls-remote\`: the next push, accepted only as a
fast-forward, confirms the head, and a rejected one makes the change again from a verified reset),
and the key lookup is answered by an in-memory trailer index (one full \`git log\` per key at
start, then extended as the workspace commits and moves) instead of a \`git log --grep\` each time;
a change that rewrote only tracked files is one \`git commit --all\` (no \`git add\` first).
`;
  await writeFile(join(root, 'bench/results/git-commit-path.md'), md);
  process.stdout.write(md);
} finally {
  await server.stop();
  await rm(scratch, { recursive: true, force: true });
}
