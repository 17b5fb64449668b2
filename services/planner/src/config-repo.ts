import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FlotillaError } from '@flotilla/errors';
import {
  type CommitHeader,
  diffTrees,
  type GitCredentials,
  isGitError,
  Mirror,
  TreeCache,
  type TreeChange,
  TreeCopy,
  treeReader,
  Workspace,
} from '@flotilla/git';

export interface ConfigRepoOptions {
  url: string;
  branch: string;
  workDir: string;
  credentials?: GitCredentials;
  author: { name: string; email: string };
  /** The largest file (git object) read from the repo; a bigger one fails its revision's render. */
  maxObjectBytes?: number;
  /** The most one fetch (mirror or work tree) may bring; see MirrorOptions.maxFetchBytes. */
  maxFetchBytes?: number;
}

/**
 * The config repository as the planner sees it: a bare mirror to read any revision from
 * (render, image references, rollback sources) and a work tree to write commits in.
 */
/** Work trees kept between revisions (a revision's lanes may still render from the previous one). */
const KEPT_TREES = 2;

/** A tree `checkout` keeps for the next revision (its copy knows the git tree it holds). */
interface KeptTree {
  copy: TreeCopy;
  busy: boolean;
}

export class ConfigRepo {
  private readonly kept: KeptTree[] = [];
  /** Trees read for one revision, for comparing the next with it. */
  private readonly trees = new TreeCache();

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
      ...(opts.maxObjectBytes !== undefined ? { maxObjectBytes: opts.maxObjectBytes } : {}),
      ...(opts.maxFetchBytes !== undefined ? { maxFetchBytes: opts.maxFetchBytes } : {}),
      ...(opts.credentials ? { credentials: opts.credentials } : {}),
    });
    await mirror.ensure();
    const workspace = await Workspace.open({
      url: opts.url,
      branch: opts.branch,
      dir: join(opts.workDir, 'workspace'),
      author: opts.author,
      ...(opts.maxFetchBytes !== undefined ? { maxFetchBytes: opts.maxFetchBytes } : {}),
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
    await this.exportAsCommitted(gitDir);
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

  private readonly attributesSet = new Set<string>();

  /**
   * `git archive` obeys the archived tree's .gitattributes: `export-ignore` leaves files out and
   * `export-subst` rewrites `$Format:…$` in them, so a config repo could make what is extracted
   * differ from what was committed (and from `checkout`, which reads objects). The repository's
   * own info/attributes outranks the tree's: written once per git dir, it switches both off.
   */
  private async exportAsCommitted(gitDir: string): Promise<void> {
    if (this.attributesSet.has(gitDir)) return;
    await mkdir(join(gitDir, 'info'), { recursive: true });
    await writeFile(join(gitDir, 'info', 'attributes'), '* -export-ignore -export-subst\n');
    this.attributesSet.add(gitDir);
  }

  /**
   * The tree of `rev` to read (render, parse pipelines), not to edit: one of a few trees kept
   * between revisions, moved to `rev` by writing only the files that differ (TreeCopy: the two
   * trees compared by their ids, objects read through the mirror's long-lived object reader, no
   * git process), so a commit to one pipeline of hundreds writes its few files, not thousands.
   * Files the revision lacks are deleted, and a file changed on disk since it was written is
   * written again. Nothing writes in these trees: renders only read, and `extract` gives edits
   * (previews) a tree of their own. The caller gives it back with `release`.
   */
  async checkout(rev: string): Promise<string> {
    return (await this.checkoutChanges(rev)).dir;
  }

  /**
   * `checkout`, and with `since`, the paths that differ between `since` and `rev` (added,
   * removed, changed: the net change, as `git diff-tree -r` gives it), from their trees: when
   * the tree moved held `since`, what it wrote; else the two trees compared (no checkout).
   * `changed` is null when the mirror has no commit `since` (a history rewritten away): ask git.
   */
  async checkoutChanges(rev: string, since?: string): Promise<{ dir: string; changed: string[] | null }> {
    const [commit, base] = await Promise.all([
      this.commitOf(rev),
      since === undefined ? undefined : this.mirror.commit(since).catch(() => undefined),
    ]);
    const { dir, held, moved } = await this.checkoutTree(rev, commit.tree);
    if (!base) return { dir, changed: null };
    if (held === base.tree) return { dir, changed: moved.map((c) => c.path) };
    try {
      const changes = await diffTrees(treeReader(this.mirror.objects, this.trees), base.tree, commit.tree);
      return { dir, changed: changes.map((c) => c.path) };
    } catch {
      return { dir, changed: null };
    }
  }

  /** The commit `rev` (a full id) in the mirror; a typed error when it is not there. */
  private async commitOf(rev: string): Promise<CommitHeader> {
    const commit = await this.mirror.commit(rev).catch((e: unknown) => {
      throw new FlotillaError('planner.extract-failed', `cannot read ${rev}: ${messageOf(e)}`, {
        disposition: 'retry',
      });
    });
    if (!commit)
      throw new FlotillaError(
        'planner.extract-failed',
        `cannot check out ${rev}: no such commit in the mirror`,
        {
          disposition: 'retry',
        },
      );
    return commit;
  }

  private async checkoutTree(
    rev: string,
    treeId: string,
  ): Promise<{ dir: string; held: string | undefined; moved: TreeChange[] }> {
    let tree = this.kept.find((t) => !t.busy);
    if (!tree) {
      const dir = await mkdtemp(join(this.scratch, `tree-${rev.slice(0, 12)}-`));
      tree = { copy: new TreeCopy(dir), busy: true };
      if (this.kept.length < KEPT_TREES) this.kept.push(tree);
    }
    tree.busy = true;
    const held = tree.copy.tree;
    try {
      const moved = await tree.copy.moveTo(this.mirror.objects, treeId, this.trees);
      return { dir: tree.copy.dir, held, moved };
    } catch (e) {
      // Whatever state it is in now is unknown: it is not used again.
      const at = this.kept.indexOf(tree);
      if (at >= 0) this.kept.splice(at, 1);
      await rm(tree.copy.dir, { recursive: true, force: true });
      if (e instanceof FlotillaError && e.code === 'planner.extract-failed') throw e;
      // Permanent for this revision, and the caller reports it: kept as it is.
      if (isGitError(e, 'git.object-too-large')) throw e;
      throw new FlotillaError('planner.extract-failed', `cannot check out ${rev}: ${messageOf(e)}`, {
        disposition: 'retry',
      });
    }
  }

  async release(dir: string): Promise<void> {
    const tree = this.kept.find((t) => t.copy.dir === dir);
    if (tree) {
      tree.busy = false;
      return;
    }
    await rm(dir, { recursive: true, force: true });
  }

  /** Ends the mirror's object reader (the planner is stopping). */
  async close(): Promise<void> {
    await this.mirror.close();
  }
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
