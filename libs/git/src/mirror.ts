import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { SerialQueue } from '@flotilla/async';
import { type CommitInfo, LOG_FORMAT, normalisePaths, parseLog } from './commit-log.ts';
import { type GitCredentials, splitUrlCredentials } from './credentials.ts';
import { GitError, isGitError } from './errors.ts';
import { boundedTransfer, type RunOptions, runGit, runGitStatus } from './git-runner.ts';
import { MAINTENANCE_ARGS, MAINTENANCE_EVERY, NO_AUTO_MAINTENANCE } from './maintenance.ts';
import { type GitObject, ObjectReader } from './object-reader.ts';
import { redactUrl } from './redact.ts';
import { readRefFast } from './refs.ts';
import { type SignatureVerification, type VerifyOptions, verifyCommitSignature } from './signature.ts';
import { type CommitHeader, MalformedObjectError, parseCommit } from './tree-objects.ts';

export interface MirrorOptions {
  /** Remote URL (https, ssh, git, file). Credentials embedded in it are moved into `credentials`. */
  url: string;
  /** Root directory of the cache; each mirror lives in its own sub-directory derived from the URL. */
  cacheDir: string;
  credentials?: GitCredentials;
  /** Kill a git process that produces no output for this long (default 120 s). */
  timeoutMs?: number;
  /** The largest object the object reader reads (see ObjectReaderOptions.maxObjectBytes). */
  maxObjectBytes?: number;
  /**
   * The most one clone or fetch may bring (its incoming pack), default 1 GiB: past it git is
   * stopped and the transfer fails with `git.fetch-too-large` (see IncomingPackLimit).
   */
  maxFetchBytes?: number;
}

export interface FetchResult {
  /** Branch head after the fetch. */
  head: string;
  /** Branch head in the cache before the fetch (null on first fetch). */
  previous: string | null;
  /** True when the cache was found corrupt and cloned again. */
  recloned: boolean;
}

/** A path-safe, collision-free directory name for a URL: readable slug plus a hash. */
export function mirrorDirName(url: string): string {
  const slug =
    url
      .replace(/\.git\/?$/, '')
      .split(/[/:]/)
      .filter(Boolean)
      .pop()
      ?.replace(/[^A-Za-z0-9._-]/g, '_')
      .slice(0, 40) ?? 'repo';
  return `${slug}-${createHash('sha256').update(url).digest('hex').slice(0, 16)}.git`;
}

/**
 * A bare mirror of one remote in a cache directory. The watcher checks `remoteHead()` (ls-remote,
 * no objects transferred) and only calls `fetch()` when the head moved.
 */
export class Mirror {
  readonly url: string;
  readonly dir: string;
  private readonly credentials: GitCredentials;
  private readonly timeoutMs: number;
  private readonly queue = new SerialQueue();
  private verified = false;
  /** Per branch, the head the last fetch of this instance left (its objects are all there). */
  private readonly fetched = new Map<string, string>();
  private fetchesSinceMaintenance = 0;
  /** Git processes this mirror has started: what a check costs, for metrics and benchmarks. */
  readonly stats = { processes: 0 };
  private readonly counted = () => {
    this.stats.processes++;
  };
  /** Objects read through one long-lived git process (see ObjectReader); started at the first read. */
  readonly objects: ObjectReader;

  constructor(private readonly options: MirrorOptions) {
    const { url, credentials } = splitUrlCredentials(options.url, options.credentials);
    this.url = url;
    this.credentials = credentials;
    this.timeoutMs = options.timeoutMs ?? 120_000;
    this.dir = join(options.cacheDir, mirrorDirName(url));
    this.objects = new ObjectReader({
      gitDir: this.dir,
      timeoutMs: this.timeoutMs,
      onProcess: this.counted,
      ...(options.maxObjectBytes !== undefined ? { maxObjectBytes: options.maxObjectBytes } : {}),
    });
  }

  /** Ends the object reader's process. */
  async close(): Promise<void> {
    await this.objects.close();
  }

  /** The URL safe to log. */
  get displayUrl(): string {
    return redactUrl(this.url);
  }

  private local(op: string, extra: Partial<RunOptions> = {}): RunOptions {
    return {
      cwd: this.dir,
      env: { GIT_DIR: this.dir },
      timeoutMs: this.timeoutMs,
      op,
      onProcess: this.counted,
      ...extra,
    };
  }

  private remote(op: string, cwd: string, env: Record<string, string> = {}): RunOptions {
    return {
      cwd,
      env,
      url: this.url,
      credentials: this.credentials,
      timeoutMs: this.timeoutMs,
      op,
      onProcess: this.counted,
    };
  }

  /** A clone or fetch into `gitDir`: bounded by maxFetchBytes, every transfer kept as a pack. */
  private transfer(op: string, cwd: string, gitDir: string, config: string[] = []): RunOptions {
    const bounded = boundedTransfer(gitDir, this.options.maxFetchBytes);
    return {
      ...this.remote(op, cwd, op === 'clone' ? {} : { GIT_DIR: gitDir }),
      config: [...bounded.config, ...config],
      incoming: bounded.incoming,
    };
  }

  /**
   * Clones the mirror if it is missing, or verifies it (once per instance, or when `verify` is set):
   * a cache that is not a bare repo of this URL, has a broken HEAD or fails a connectivity check is
   * removed and cloned again.
   */
  ensure(opts: { verify?: boolean } = {}): Promise<{ recloned: boolean; cloned: boolean }> {
    return this.queue.run(() => this.ensureUnlocked(opts.verify ?? false));
  }

  private async ensureUnlocked(forceVerify: boolean): Promise<{ recloned: boolean; cloned: boolean }> {
    if (!existsSync(this.dir)) {
      await this.clone();
      return { recloned: false, cloned: true };
    }
    if (this.verified && !forceVerify) return { recloned: false, cloned: false };
    const problem = await this.check();
    if (problem === undefined) {
      this.verified = true;
      return { recloned: false, cloned: false };
    }
    await rm(this.dir, { recursive: true, force: true });
    await this.clone();
    return { recloned: true, cloned: true };
  }

  /** Returns a description of what is wrong with the cache, or undefined when it is sound. */
  private async check(): Promise<string | undefined> {
    try {
      const bare = (await runGit(['rev-parse', '--is-bare-repository'], this.local('rev-parse'))).trim();
      if (bare !== 'true') return 'not a bare repository';
      const origin = (await runGit(['config', '--get', 'remote.origin.url'], this.local('config'))).trim();
      if (origin !== this.url) return 'remote URL changed';
      // HEAD must be a symbolic ref; on an unborn branch it points nowhere yet, which is fine.
      await runGit(['symbolic-ref', 'HEAD'], this.local('symbolic-ref'));
      await runGit(['fsck', '--connectivity-only', '--no-dangling', '--no-progress'], this.local('fsck'));
      return undefined;
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    }
  }

  private async clone(): Promise<void> {
    this.fetched.clear();
    // Its process would go on reading the replaced directory's files.
    await this.objects.reset();
    await mkdir(this.options.cacheDir, { recursive: true });
    // Clone beside the final place and rename, so a crash mid-clone never leaves a half cache.
    const tmp = `${this.dir}.tmp-${randomBytes(4).toString('hex')}`;
    try {
      await runGit(
        ['clone', '--bare', '--no-tags', '--quiet', this.url, tmp],
        this.transfer('clone', this.options.cacheDir, tmp),
      );
      await rm(this.dir, { recursive: true, force: true });
      await rename(tmp, this.dir);
      this.verified = true;
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      throw err;
    }
  }

  /** Head of `branch` on the remote, via ls-remote (no objects transferred); null if it does not exist. */
  async remoteHead(branch: string): Promise<string | null> {
    await mkdir(this.options.cacheDir, { recursive: true });
    const ref = `refs/heads/${branch}`;
    const out = await runGit(
      ['ls-remote', '--heads', this.url, ref],
      this.remote('ls-remote', this.options.cacheDir),
    );
    for (const line of out.split('\n')) {
      const [sha, name] = line.split('\t');
      if (name === ref && sha) return sha;
    }
    return null;
  }

  /** The head of `branch` this mirror's last fetch brought in (known complete), if any. */
  lastFetched(branch: string): string | undefined {
    return this.fetched.get(branch);
  }

  /** Head of `branch` in the cache, null if not fetched yet. */
  async localHead(branch: string): Promise<string | null> {
    if (!existsSync(this.dir)) return null;
    const r = await runGitStatus(
      ['rev-parse', '--verify', '--quiet', `refs/heads/${branch}^{commit}`],
      this.local('rev-parse'),
      [0, 1, 128],
    );
    return r.code === 0 ? r.stdout.trim() : null;
  }

  /**
   * Incremental fetch of one branch (forced, so a rewritten history is taken as is; the old commits
   * stay in the object store for `isAncestor`). A corrupt cache is cloned again once.
   */
  fetch(branch: string): Promise<FetchResult> {
    return this.queue.run(async () => {
      const ensured = await this.ensureUnlocked(false);
      let recloned = ensured.recloned;
      // A cache cloned by this call had nothing before it: the whole branch is new to the caller.
      let previous = ensured.cloned ? null : await this.localHeadSafe(branch);
      try {
        await this.fetchUnlocked(branch);
      } catch (err) {
        if (!isGitError(err, 'git.corrupt-cache')) throw err;
        await rm(this.dir, { recursive: true, force: true });
        await this.clone();
        recloned = true;
        previous = null;
        await this.fetchUnlocked(branch);
      }
      // The fetch just wrote this ref (its objects are in): read it from the files.
      const head = (await readRefFast(this.dir, `refs/heads/${branch}`)) ?? (await this.localHead(branch));
      if (!head) throw new GitError('git.ref-not-found', `branch ${branch} not found in ${this.displayUrl}`);
      this.fetched.set(branch, head);
      return { head, previous, recloned };
    });
  }

  /**
   * Fetches the one commit `sha` (a push's new head, named by a signed webhook) into `branch`,
   * without asking the remote for its refs first: one process instead of ls-remote + fetch. The
   * ref is moved only as a fast-forward (git refuses anything else), so a stale or replayed id
   * can never move the branch back; a server that does not serve unadvertised ids (protocol v0
   * without allowReachableSHA1InWant), a non-fast-forward or a missing cache throw, and the
   * caller asks the remote instead.
   */
  fetchCommit(branch: string, sha: string): Promise<{ from: string | undefined }> {
    if (!/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(sha))
      return Promise.reject(new GitError('git.invalid-argument', `not a commit id: ${sha}`));
    return this.queue.run(async () => {
      if (!existsSync(this.dir))
        throw new GitError('git.ref-not-found', `no mirror of ${this.displayUrl} yet`);
      if (++this.fetchesSinceMaintenance >= MAINTENANCE_EVERY) {
        this.fetchesSinceMaintenance = 0;
        await runGit(MAINTENANCE_ARGS, this.local('maintenance'));
      }
      // What the fetch fast-forwarded from, read in this queue right before it (no process): a
      // caller holding a commit it saw earlier learns here, not from a read taken before
      // another fetch moved the branch, whether `sha` descends from it.
      const fast = await readRefFast(this.dir, `refs/heads/${branch}`);
      const from = fast !== undefined && fast === this.fetched.get(branch) ? fast : undefined;
      await runGit(
        ['fetch', '--no-tags', '--quiet', '--update-head-ok', this.url, `${sha}:refs/heads/${branch}`],
        this.transfer('fetch', this.dir, this.dir, [NO_AUTO_MAINTENANCE]),
      );
      this.fetched.set(branch, sha);
      return { from };
    });
  }

  /**
   * The head before a fetch, for the caller's range. When the ref file still holds what this
   * mirror's last fetch left there, that commit is known to be complete: no git process. Anything
   * else is asked of git (`^{commit}` checks the object is there); null when unknown.
   */
  private async localHeadSafe(branch: string): Promise<string | null> {
    try {
      const fast = await readRefFast(this.dir, `refs/heads/${branch}`);
      if (fast !== undefined && fast === this.fetched.get(branch)) return fast;
      return await this.localHead(branch);
    } catch {
      return null;
    }
  }

  private async fetchUnlocked(branch: string): Promise<void> {
    // Housekeeping once every MAINTENANCE_EVERY fetches, not after each (see maintenance.ts).
    if (++this.fetchesSinceMaintenance >= MAINTENANCE_EVERY) {
      this.fetchesSinceMaintenance = 0;
      await runGit(MAINTENANCE_ARGS, this.local('maintenance'));
    }
    await runGit(
      [
        'fetch',
        '--no-tags',
        '--quiet',
        '--update-head-ok',
        this.url,
        `+refs/heads/${branch}:refs/heads/${branch}`,
      ],
      this.transfer('fetch', this.dir, this.dir, [NO_AUTO_MAINTENANCE]),
    );
  }

  /**
   * Commits in `oldSha..newSha`, oldest first (all of `newSha`'s history when `oldSha` is null).
   * Changed paths are against the first parent, renames as delete + add so moves out of a watched
   * directory count; with `paths`, they are filtered and commits touching none are `relevant: false`.
   */
  async commitsBetween(
    oldSha: string | null,
    newSha: string,
    opts: { paths?: readonly string[] } = {},
  ): Promise<CommitInfo[]> {
    const paths = normalisePaths(opts.paths);
    const range = oldSha ? `${oldSha}..${newSha}` : newSha;
    const out = await runGit(
      [
        'log',
        '--reverse',
        '-z',
        '--name-only',
        '--no-renames',
        '--diff-merges=first-parent',
        '--no-show-signature',
        `--format=${LOG_FORMAT}`,
        range,
        '--',
      ],
      this.local('log'),
    );
    return parseLog(out, paths);
  }

  /**
   * The tree and parents of commit `sha` in the cache, through the object reader (no process of
   * its own); undefined when the cache has no commit of that id.
   */
  async commit(sha: string): Promise<CommitHeader | undefined> {
    let o: GitObject | null;
    try {
      o = await this.objects.readObject(sha);
    } catch (e) {
      if (isGitError(e, 'git.invalid-argument')) return undefined;
      throw e;
    }
    if (o?.type !== 'commit') return undefined;
    try {
      return parseCommit(o.data);
    } catch (e) {
      if (e instanceof MalformedObjectError)
        throw new GitError('git.corrupt-cache', `commit ${sha}: ${e.message}`);
      throw e;
    }
  }

  /**
   * Whether `ancestor` is reachable from `descendant`. False also when `ancestor` is not in the
   * cache at all (after a re-clone, a force-pushed-away commit is gone): either way history was rewritten.
   */
  async isAncestor(ancestor: string, descendant: string): Promise<boolean> {
    const r = await runGitStatus(
      ['merge-base', '--is-ancestor', ancestor, descendant],
      this.local('merge-base'),
      [0, 1, 128],
    );
    return r.code === 0;
  }

  /**
   * Whether `sha` is on the first-parent chain of `branch` in the cache. The walk goes from the
   * branch head along first parents and stops at `sha`'s parents, so it costs the commits since
   * `sha`, not the whole history.
   */
  async onFirstParentHistory(sha: string, branch: string): Promise<boolean> {
    if (!/^[0-9a-f]{40}$/.test(sha)) return false;
    const head = await this.localHead(branch);
    if (!head || !(await this.isAncestor(sha, head))) return false;
    const out = await runGit(
      ['rev-list', '--first-parent', `refs/heads/${branch}`, '--not', `${sha}^@`],
      this.local('rev-list'),
    );
    return out.split('\n').includes(sha);
  }

  verifyCommitSignature(sha: string, opts: VerifyOptions = {}): Promise<SignatureVerification> {
    return verifyCommitSignature(sha, this.local('verify-commit'), opts);
  }

  /** Content of `path` at `rev`, or null if the file does not exist there. */
  async readFile(rev: string, path: string): Promise<string | null> {
    const r = await runGitStatus(['cat-file', 'blob', `${rev}:${path}`], this.local('cat-file'), [0, 128]);
    return r.code === 0 ? r.stdout : null;
  }

  /** Files (paths) at `rev`, optionally under a directory. */
  async listFiles(rev: string, dir?: string): Promise<string[]> {
    const out = await runGit(
      ['ls-tree', '-r', '-z', '--name-only', rev, ...(dir ? ['--', dir] : [])],
      this.local('ls-tree'),
    );
    return out.split('\0').filter(Boolean);
  }
}
