import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { FlotillaError } from '@flotilla/errors';
import { type GitCredentials, Mirror, Workspace } from '@flotilla/git';

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
export class ConfigRepo {
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

  /** True when `rev` is in the mirror (fetching once if it is not). */
  async has(rev: string): Promise<boolean> {
    if (await this.mirror.isAncestor(rev, rev)) return true;
    await this.fetch();
    return await this.mirror.isAncestor(rev, rev);
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

  async release(dir: string): Promise<void> {
    await rm(dir, { recursive: true, force: true });
  }
}
