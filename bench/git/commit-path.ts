/**
 * The planner's commit path, git only, side by side in one run (issue 20): start a change from
 * the remote head, find an earlier attempt by its key trailer, write a file, commit with
 * trailers, push, fetch the pushed head into the mirror the render reads from.
 *
 *   now:    ConfigRepo + ConfigWriter as the planner runs them (libs/git Workspace and Mirror).
 *   before: the same steps as the git commands libs/git ran for them until this change, through
 *           the same runner (simple-git, same environment and config): ls-remote, fetch, reset,
 *           clean, rev-parse, log | add, diff, commit, rev-parse | push, rev-parse | rev-parse,
 *           fetch, rev-parse.
 *
 * Both write to their own repository on one git daemon, alternating commit by commit so load
 * swings hit both alike. Reports the median and p90 wall time per commit and git processes per
 * commit.
 *
 * Run: npx tsx bench/git/commit-path.ts [--commits=30]
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

const { values: args } = parseArgs({ options: { commits: { type: 'string', default: '30' } } });
const COMMITS = Number(args.commits);
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
  // ---- now: the planner's own classes ----
  const nowRepo = await server.createRepo('now', { files });
  const repo = await ConfigRepo.open({
    url: nowRepo.url,
    branch: 'main',
    workDir: join(scratch, 'now'),
    author,
  });
  const writer = new ConfigWriter(repo);
  const processes = () => repo.workspace.stats.processes + repo.mirror.stats.processes;
  async function now(i: number): Promise<void> {
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

  const runs = { now: [] as number[], before: [] as number[] };
  const procs = { now: [] as number[], before: [] as number[] };
  // One warm-up each (the first reset of a freshly opened workspace is a full one by design).
  await now(-1);
  await before(-1);
  for (let i = 0; i < COMMITS; i++) {
    for (const which of i % 2 === 0 ? (['now', 'before'] as const) : (['before', 'now'] as const)) {
      const p0 = which === 'now' ? processes() : beforeProcesses;
      const t = performance.now();
      await (which === 'now' ? now(i) : before(i));
      runs[which].push(performance.now() - t);
      procs[which].push((which === 'now' ? processes() : beforeProcesses) - p0);
    }
    if ((i + 1) % 10 === 0) log(`${i + 1}/${COMMITS}`);
  }

  const row = (name: string, xs: number[], ps: number[]) =>
    `| ${name} | ${Math.round(percentile(xs, 50))} ms | ${Math.round(percentile(xs, 90))} ms | ${percentile(ps, 50)} |`;
  const ratio = percentile(runs.before, 50) / percentile(runs.now, 50);
  const load = loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');
  const md = `# Planner commit path: git processes per commit

\`npx tsx bench/git/commit-path.ts --commits=${COMMITS}\` (${new Date().toISOString()}, ${cpus().length} cores,
load average at the end ${load}).

One planner change, git only: start from the remote head, look for an earlier attempt by its
key trailer, write a file, commit with trailers, push, fetch the pushed head into the render's
mirror. **now** is ConfigRepo + ConfigWriter as the planner runs them; **before** is the same
steps as the git commands libs/git ran for them before issue 20's change, through the same
runner. Own repository each on one git daemon, alternating commit by commit; ${COMMITS} commits each.

| path | p50 per commit | p90 per commit | git processes per commit |
|---|---|---|---|
${row('before', runs.before, procs.before)}
${row('now', runs.now, procs.now)}

Ratio before / now (p50): **${ratio.toFixed(2)}×**.

Where the processes went: \`resetToRemote\` is one \`ls-remote\` while the workspace is in step
with the remote and nothing was written since its last commit (the planner's usual case: its
own push is the head); heads are read from the ref files instead of \`git rev-parse\`; \`commit\`
lets \`git commit\` report "nothing to commit" instead of asking \`git diff --cached\` first; the
mirror's fetch reads the head it wrote. Not counted above (they are git's own children): \`commit\`
and \`fetch\` each started \`git maintenance run --auto\` and waited for it; now that runs once
every 50 commits or fetches.
`;
  await writeFile(join(root, 'bench/results/git-commit-path.md'), md);
  process.stdout.write(md);
} finally {
  await server.stop();
  await rm(scratch, { recursive: true, force: true });
}
