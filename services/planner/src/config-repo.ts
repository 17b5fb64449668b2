import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { FlotillaError } from '@flotilla/errors';
import { changedIndexPaths, type GitCredentials, Mirror, parseIndexEntries, Workspace } from '@flotilla/git';

export interface ConfigRepoOptions {
  url: string;
  branch: string;
  workDir: string;
  credentials?: GitCredentials;
  author: { name: string; email: string };
}

/**
 * The config repository as the planner sees it: a bare mirror to read any revision from
 * (render, image references, rollback sources) and a work tree to write commits in.
 */
/** Work trees kept between revisions (a revision's lanes may still render from the previous one). */
const KEPT_TREES = 2;

/** A tree `checkout` keeps for the next revision, and the revision it holds. */
interface KeptTree {
  dir: string;
  /** Its own index: git updates only the files whose content differs from it. */
  index: string;
  busy: boolean;
  /** The revision it holds (set once git wrote it). */
  revision?: string;
}

export class ConfigRepo {
  private readonly kept: KeptTree[] = [];

  private constructor(
    readonly mirror: Mirror,
    readonly workspace: Workspace,
    readonly branch: string,
    private readonly scratch: string,
  ) {}

  static async open(opts: ConfigRepoOptions): Promise<ConfigRepo> {
    await mkdir(opts.workDir, { recursive: true });
    const mirror = new Mirror({
      url: opts.url,
      cacheDir: join(opts.workDir, 'mirror'),
      ...(opts.credentials ? { credentials: opts.credentials } : {}),
    });
    await mirror.ensure();
    const workspace = await Workspace.open({
      url: opts.url,
      branch: opts.branch,
      dir: join(opts.workDir, 'workspace'),
      author: opts.author,
      ...(opts.credentials ? { credentials: opts.credentials } : {}),
    });
    const scratch = join(opts.workDir, 'render');
    await rm(scratch, { recursive: true, force: true });
    await mkdir(scratch, { recursive: true });
    return new ConfigRepo(mirror, workspace, opts.branch, scratch);
  }

  /** Fetches the branch into the mirror; returns its head (null when the branch does not exist). */
  async fetch(): Promise<string | null> {
    const head = await this.mirror.remoteHead(this.branch);
    if (head === null) return null;
    return (await this.mirror.fetch(this.branch)).head;
  }

  /** Fetches a branch known to exist (one we just pushed to) and returns its head: one git round trip. */
  async fetchBranch(): Promise<string> {
    return (await this.mirror.fetch(this.branch)).head;
  }

  /**
   * Brings a commit the git-watcher reported on the branch into the mirror; false when it is not
   * there. First by its id alone (`Mirror.fetchCommit`: no ref advertisement, one round trip
   * less; the branch moves only as a fast-forward), else as `has` does (the branch fetched by
   * name: a server that serves no unadvertised ids, an older commit). Only for reported commits:
   * which commit is on the branch is the watcher's word, as it is for which revision renders
   * (an id from a request, e.g. a rollback target, goes through `has`, which fetches the branch).
   */
  async fetchReported(sha: string): Promise<boolean> {
    if (this.mirror.lastFetched(this.branch) === sha) return true;
    try {
      await this.mirror.fetchCommit(this.branch, sha);
      return true;
    } catch {
      return await this.has(sha);
    }
  }

  /** True when `rev` is in the mirror (fetching once if it is not). */
  async has(rev: string): Promise<boolean> {
    // A commit reported on the branch is almost always new, or the head we fetched last: asking
    // git first would cost a process for nothing. So: the last fetched head, else fetch straight
    // away (no ls-remote first); when the fetched head is that commit, it is in, else git says.
    if (this.mirror.lastFetched(this.branch) === rev) return true;
    let head: string | null;
    try {
      head = await this.fetchBranch();
    } catch {
      head = await this.fetch();
    }
    return head === rev || (await this.mirror.isAncestor(rev, rev));
  }

  /**
   * True when `rev` is on the first-parent history of the branch as fetched: the commits the
   * branch itself pointed at, not ones merged in from side branches or force-pushed away.
   */
  onFirstParentHistory(rev: string): Promise<boolean> {
    return this.mirror.onFirstParentHistory(rev, this.branch);
  }

  readFile(rev: string, path: string): Promise<string | null> {
    return this.mirror.readFile(rev, path);
  }

  listFiles(rev: string, dir?: string): Promise<string[]> {
    return this.mirror.listFiles(rev, dir);
  }

  isAncestor(ancestor: string, descendant: string): Promise<boolean> {
    return this.mirror.isAncestor(ancestor, descendant);
  }

  /**
   * Writes the tree of `rev` into a fresh scratch directory (`git archive | tar -x`), so
   * kustomize sees exactly that revision. The caller removes it with `release`. `from:
   * 'workspace'` reads a commit of ours not pushed (so not in the mirror) yet.
   */
  async extract(rev: string, opts: { from?: 'mirror' | 'workspace' } = {}): Promise<string> {
    const gitDir = opts.from === 'workspace' ? join(this.workspace.dir, '.git') : this.mirror.dir;
    const dir = await mkdtemp(
      join(this.scratch, `${rev.slice(0, 12)}-${opts.from === 'workspace' ? 'ahead-' : ''}`),
    );
    const git = spawn('git', ['--git-dir', gitDir, 'archive', '--format=tar', rev], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const tar = spawn('tar', ['-x', '-C', dir], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    git.stderr.on('data', (d) => {
      stderr += String(d);
    });
    tar.stderr.on('data', (d) => {
      stderr += String(d);
    });
    git.stdout.pipe(tar.stdin);
    const exit = (p: typeof git | typeof tar) =>
      new Promise<number | null>((resolve) => {
        p.on('error', () => resolve(-1));
        p.on('close', (code) => resolve(code));
      });
    const [gitCode, tarCode] = await Promise.all([exit(git), exit(tar)]);
    if (gitCode !== 0 || tarCode !== 0) {
      await this.release(dir);
      throw new FlotillaError('planner.extract-failed', `cannot extract ${rev}: ${stderr.trim()}`, {
        disposition: 'retry',
      });
    }
    return dir;
  }

  /**
   * The tree of `rev` to read (render, parse pipelines), not to edit: one of a few trees kept
   * between revisions, moved to `rev` by `git read-tree --reset -u` against its own index, so
   * only files that differ are written (a commit to one pipeline of hundreds writes its few files,
   * not thousands; `extract` of the whole tree was most of a commit's path to its plans). Files
   * the revision lacks are deleted, and a file changed on disk since (its stat no longer matches
   * the index) is written again. Nothing writes in these trees: renders only read, and `extract`
   * gives edits (previews) a tree of their own. The caller gives it back with `release`.
   */
  async checkout(rev: string): Promise<string> {
    return (await this.checkoutChanges(rev)).dir;
  }

  /** Whether a kept tree holds `rev` (so `checkoutChanges` from it can tell what changed). */
  keepsTree(rev: string): boolean {
    return this.kept.some((t) => t.revision === rev);
  }

  /**
   * `checkout`, and with `since`, the paths that differ between `since` and `rev` (added,
   * removed, changed: the net change, as `git diff-tree -r` gives it) read from the indexes of a
   * tree that held `since` and of the new one: no git process beyond the checkout's own.
   * `changed` is null when no kept tree holds `since` (or an index could not be read): ask git.
   */
  async checkoutChanges(rev: string, since?: string): Promise<{ dir: string; changed: string[] | null }> {
    // Read before the checkout: the tree that holds `since` may be the one moved to `rev`.
    const base = since === undefined ? undefined : this.kept.find((t) => t.revision === since);
    let before = base ? await readFile(base.index).catch(() => null) : null;
    // Taken for another revision while it was read (its revision is cleared first): unknown.
    if (base?.revision !== since) before = null;
    const dir = await this.checkoutTree(rev);
    if (!before) return { dir, changed: null };
    const tree = this.kept.find((t) => t.dir === dir);
    const after = await readFile(tree?.index ?? `${dir}.index`).catch(() => null);
    const bytes = rev.length === 64 ? 32 : 20;
    const a = parseIndexEntries(before, bytes);
    const b = after ? parseIndexEntries(after, bytes) : undefined;
    return { dir, changed: a && b ? changedIndexPaths(a, b) : null };
  }

  private async checkoutTree(rev: string): Promise<string> {
    let tree = this.kept.find((t) => !t.busy);
    let kept = true;
    if (!tree) {
      const dir = await mkdtemp(join(this.scratch, `tree-${rev.slice(0, 12)}-`));
      tree = { dir, index: `${dir}.index`, busy: true };
      kept = this.kept.length < KEPT_TREES;
      if (kept) this.kept.push(tree);
    }
    tree.busy = true;
    delete tree.revision;
    try {
      await runTreeUpdate(this.mirror.dir, tree, rev);
      tree.revision = rev;
    } catch (e) {
      // Whatever state it is in now is unknown: it is not used again.
      const at = this.kept.indexOf(tree);
      if (at >= 0) this.kept.splice(at, 1);
      await this.discard(tree);
      throw e;
    }
    return tree.dir;
  }

  async release(dir: string): Promise<void> {
    const tree = this.kept.find((t) => t.dir === dir);
    if (tree) {
      tree.busy = false;
      return;
    }
    await rm(dir, { recursive: true, force: true });
    await rm(`${dir}.index`, { force: true });
  }

  private async discard(tree: KeptTree): Promise<void> {
    await rm(tree.dir, { recursive: true, force: true });
    await rm(tree.index, { force: true });
  }
}

/** `git read-tree --reset -u rev` into `tree.dir` with `tree.index`: the tree becomes exactly `rev`'s. */
function runTreeUpdate(gitDir: string, tree: { dir: string; index: string }, rev: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const git = spawn(
      'git',
      ['--git-dir', gitDir, '--work-tree', tree.dir, 'read-tree', '--reset', '-u', rev],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
        // Our mirror's objects only: no hooks run for read-tree, no ambient GIT_* settings.
        env: {
          PATH: process.env.PATH ?? '/usr/bin:/bin',
          GIT_INDEX_FILE: tree.index,
          GIT_CONFIG_NOSYSTEM: '1',
        },
      },
    );
    let stderr = '';
    git.stderr.on('data', (d) => {
      stderr += String(d);
    });
    git.on('error', (err) => reject(err));
    git.on('close', (code) => {
      if (code === 0) resolve();
      else
        reject(
          new FlotillaError('planner.extract-failed', `cannot check out ${rev}: ${stderr.trim()}`, {
            disposition: 'retry',
          }),
        );
    });
  });
}
