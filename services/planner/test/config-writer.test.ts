import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execGit, type GitServer, GitWorkdir, startGitServer } from '@flotilla/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigRepo } from '../src/config-repo.ts';
import { type CommitKey, ConfigWriter, type PushRejection } from '../src/config-writer.ts';

const author = { name: 'planner', email: 'planner@example.test' };
const FILE = 'clusters/dev/app.yaml';

let git: GitServer;
let scratch: string;
let n = 0;

beforeAll(async () => {
  git = await startGitServer();
  scratch = await mkdtemp(join(tmpdir(), 'config-writer-'));
});
afterAll(async () => {
  await git?.stop();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

/** A repo of its own, a planner's writer over it (refusals recorded), and a clone for other writers. */
async function fixture() {
  const name = `config-${++n}`;
  await git.createRepo(name, { files: { [FILE]: 'tag: "0"\n', 'README.md': 'config\n' } });
  const open = async (dir: string, pushed: (sha: string) => Promise<void> = async () => {}) => {
    const repo = await ConfigRepo.open({
      url: git.url(name),
      branch: 'main',
      workDir: join(scratch, dir),
      author,
    });
    const refusals: PushRejection[] = [];
    const writer = new ConfigWriter(
      repo,
      pushed,
      () => 1,
      async (r) => {
        refusals.push(r);
      },
    );
    return { repo, writer, refusals };
  };
  const human = await GitWorkdir.clone(git.url(name));
  /** Commits on the remote branch carrying `key`. */
  const carrying = async ([k, v]: CommitKey) =>
    (await execGit(['log', '--format=%H', `--grep=${k}: ${v}`, 'main'], { cwd: git.path(name) }))
      .split('\n')
      .filter(Boolean);
  const remoteHead = async () => (await execGit(['rev-parse', 'main'], { cwd: git.path(name) })).trim();
  return { name, open, human, carrying, remoteHead, dir: `planner-${n}` };
}

/** The planner's image update, reduced: set the tag unless the file already has it. */
async function setTag(writer: ConfigWriter, key: CommitKey, tag: string): Promise<string | null> {
  return await writer.change(async () => {
    const earlier = await writer.begin(key);
    if (earlier) return earlier;
    const [file] = await writer.yamlFilesUnder(['clusters/dev']);
    const text = `tag: "${tag}"\n`;
    if (file?.text === text) {
      await writer.confirmBase();
      return null;
    }
    await writer.writeFile(FILE, text);
    return await writer.commitAndPush({
      pipeline: 'shop',
      message: `dev: app to ${tag}`,
      trailers: { [key[0]]: key[1] },
      key,
    });
  });
}

describe('ConfigWriter records what it pushes before the remote has it', () => {
  it('tells the recorder each head it is about to push, a remade one too, while the remote does not have it yet', async () => {
    const fx = await fixture();
    const seen: { sha: string; remote: string }[] = [];
    let race = false;
    const { writer } = await fx.open(fx.dir, async (sha) => {
      seen.push({ sha, remote: await fx.remoteHead() });
      if (!race) return;
      // Another writer gets there first: this push is refused and the change is made again.
      race = false;
      await fx.human.pull();
      await fx.human.writeFile('README.md', 'config, edited\n');
      await fx.human.commit('docs');
      await fx.human.push();
    });
    const first = await setTag(writer, ['Flotilla-Event', 'e1'], '1');
    // A planner that loses its lease the moment its push returns has still recorded the commit,
    // so its successor's gate knows it as the planner's own and does not hold the stage on it.
    expect(seen.map((s) => s.sha)).toEqual([first]);

    race = true;
    const second = await setTag(writer, ['Flotilla-Event', 'e2'], '2');
    expect(second).toBe(await fx.remoteHead());
    expect(seen).toHaveLength(3);
    expect(seen.at(-1)?.sha).toBe(second);
    expect(seen[1]?.sha).not.toBe(second);
    for (const s of seen) expect(s.remote).not.toBe(s.sha);
    await fx.human.remove();
  });
});

describe('ConfigWriter on a head it pushed itself', () => {
  it('starts the next change without asking the remote, and finds earlier attempts without git log', async () => {
    const fx = await fixture();
    const { repo, writer } = await fx.open(fx.dir);
    const first = await setTag(writer, ['Flotilla-Event', 'e1'], '1');
    expect(first).toBe(await fx.remoteHead());
    const ws = repo.workspace;
    const before = ws.stats.processes;
    // Its own push is the head: no ls-remote, no fetch, no git log for the key.
    expect(await writer.begin(['Flotilla-Event', 'e2'])).toBeNull();
    expect(ws.stats.processes - before).toBe(0);
    // An earlier attempt found is acted on without a push: one ls-remote confirms the head.
    expect(await writer.begin(['Flotilla-Event', 'e1'])).toBe(first);
    expect(ws.stats.processes - before).toBe(1);
    const second = await setTag(writer, ['Flotilla-Event', 'e2'], '2');
    expect(second).toBe(await fx.remoteHead());
    await fx.human.remove();
  });

  it('makes a change again from the remote head when another writer pushed since (no rebase: it would conflict), without a refusal event', async () => {
    const fx = await fixture();
    const { writer, refusals } = await fx.open(fx.dir);
    await setTag(writer, ['Flotilla-Event', 'e1'], '1');
    // A human edits the same line: rebasing the writer's commit onto theirs would conflict.
    await fx.human.pull();
    await fx.human.writeFile(FILE, 'tag: "5"\n');
    await fx.human.writeFile('README.md', 'edited by a human\n');
    const theirs = await fx.human.commit('pin 5');
    await fx.human.push();

    const sha = await setTag(writer, ['Flotilla-Event', 'e2'], '2');
    expect(sha).toBe(await fx.remoteHead());
    // Made again on the human's commit: its parent is theirs, and it changed only the tag.
    expect((await execGit(['rev-parse', `${sha}^`], { cwd: git.path(fx.name) })).trim()).toBe(theirs);
    expect(await execGit(['diff', '--name-only', theirs, sha!], { cwd: git.path(fx.name) })).toBe(FILE);
    expect(await fx.carrying(['Flotilla-Event', 'e2'])).toEqual([sha]);
    expect(refusals).toEqual([]);
    await fx.human.pull();
    expect(await fx.human.head()).toBe(sha);
    await fx.human.remove();
  });

  it('finds the commit another planner pushed for the same key (a failover) instead of writing a second one', async () => {
    const fx = await fixture();
    const a = await fx.open(`${fx.dir}-a`);
    await setTag(a.writer, ['Flotilla-Event', 'e1'], '1');
    // The other planner took over and handled e2 already; a still believes its own head is the remote's.
    const b = await fx.open(`${fx.dir}-b`);
    const theirs = await setTag(b.writer, ['Flotilla-Event', 'e2'], '2');
    expect(await setTag(a.writer, ['Flotilla-Event', 'e2'], '2')).toBe(theirs);
    expect(await fx.carrying(['Flotilla-Event', 'e2'])).toEqual([theirs]);
    await fx.human.remove();
  });

  it('asks the remote before taking an earlier attempt from a head it only believes current (history rewritten)', async () => {
    const fx = await fixture();
    const { writer } = await fx.open(fx.dir);
    const first = await setTag(writer, ['Flotilla-Event', 'e1'], '1');
    // A human rewrites the branch without the writer's commit (a force-push): its own head, where
    // e1 is found, is no longer on the remote.
    await fx.human.pull();
    await fx.human.resetHard(`${first}^`);
    await fx.human.writeFile('README.md', 'rewritten\n');
    await fx.human.commit('rewritten history');
    await fx.human.forcePush();

    // e1 again (redelivered): its commit is gone from the remote, so it is made again there.
    const sha = await setTag(writer, ['Flotilla-Event', 'e1'], '1');
    expect(sha).not.toBe(first);
    expect(sha).toBe(await fx.remoteHead());
    expect(await fx.carrying(['Flotilla-Event', 'e1'])).toEqual([sha]);
    await fx.human.remove();
  });

  it('asks the remote before taking "nothing to change" from a head it only believes current', async () => {
    const fx = await fixture();
    const { writer } = await fx.open(fx.dir);
    await setTag(writer, ['Flotilla-Event', 'e1'], '1');
    // A human sets the tag back; the writer's own tree still says "1".
    await fx.human.pull();
    await fx.human.writeFile(FILE, 'tag: "0"\n');
    await fx.human.commit('back to 0');
    await fx.human.push();

    const sha = await setTag(writer, ['Flotilla-Event', 'e3'], '1');
    expect(sha).not.toBeNull();
    expect(sha).toBe(await fx.remoteHead());
    await fx.human.pull();
    expect(await fx.human.head()).toBe(sha);
    expect(await execGit(['show', `main:${FILE}`], { cwd: git.path(fx.name) })).toBe('tag: "1"');
    await fx.human.remove();
  });
});
