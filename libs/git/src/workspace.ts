import { existsSync } from 'node:fs';
import { appendFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, normalize, sep } from 'node:path';
import { backoffDelay, SerialQueue } from '@flotilla/async';
import { type GitCredentials, splitUrlCredentials } from './credentials.ts';
import { GitError, isGitError } from './errors.ts';
import { boundedTransfer, type RunOptions, runGit, runGitStatus } from './git-runner.ts';
import { MAINTENANCE_ARGS, MAINTENANCE_EVERY, NO_AUTO_MAINTENANCE } from './maintenance.ts';
import { redactText, redactUrl } from './redact.ts';
import { readHeadTarget, readRefFast } from './refs.ts';
import { type SignatureVerification, type VerifyOptions, verifyCommitSignature } from './signature.ts';
import { parseTrailerLog, TRAILER_LOG_FORMAT, TrailerIndex } from './trailer-index.ts';
import { formatCommitMessage } from './trailers.ts';

/** Between rebases after a lost push race: short and fully jittered, so racing writers fall out of step. */
const REBASE_BACKOFF = { baseMs: 50, maxMs: 800, jitter: 1 };

export interface GitAuthor {
  name: string;
  email: string;
}

export interface WorkspaceOptions {
  url: string;
  branch: string;
  /** Working directory of the clone; reused (with its unpushed commits) when it already holds one. */
  dir: string;
  credentials?: GitCredentials;
  /** Default author and committer of commits. */
  author: GitAuthor;
  /**
   * fsync objects, refs and index when committing (`core.fsync=all`), so a commit that returned
   * survives a crash. On by default: the audit log acks events only once their commit is durable.
   */
  fsync?: boolean;
  timeoutMs?: number;
  /** The most one fetch may bring, default 1 GiB (see Mirror's `maxFetchBytes`). */
  maxFetchBytes?: number;
}

export interface CommitOptions {
  message: string;
  trailers?: Record<string, string>;
  author?: GitAuthor;
  /** Author date (committer date stays now). */
  date?: Date;
  allowEmpty?: boolean;
}

export interface PushResult {
  /** Branch head now on the remote. */
  head: string;
  /** How many times local commits were rebased onto a newer remote head. */
  rebases: number;
}

export type NotesMergeStrategy = 'cat_sort_uniq' | 'union' | 'ours' | 'theirs';

export interface NoteOptions {
  /** Notes ref, default `refs/notes/flotilla`. */
  ref?: string;
  /** `overwrite` (default) replaces an existing note; `append` adds a paragraph. */
  mode?: 'overwrite' | 'append';
}

export const DEFAULT_NOTES_REF = 'refs/notes/flotilla';

/**
 * A working clone of one branch for services that write (planner, audit-writer): files, commits
 * with trailers, push that rebases and retries when another writer got there first, and notes.
 */
export class Workspace {
  readonly url: string;
  readonly branch: string;
  readonly dir: string;
  private readonly credentials: GitCredentials;
  private readonly queue = new SerialQueue();
  /**
   * True while the work tree and index are known to equal HEAD: set by a reset to the remote and by
   * a commit (which stages everything), cleared by every write through this class. Unknown (false)
   * on open, since a crash may have left anything behind. It lets {@link resetToRemote} skip the
   * fetch, reset and clean when the remote head is the local one.
   */
  private pristine = false;
  /**
   * True while every file written since the work tree was last pristine existed then, so is
   * tracked (a pristine tree is HEAD's, `git clean` took the rest): `git commit --all` stages all
   * of it, and the separate `git add --all` is not needed. The planner's image updates and
   * promotions rewrite existing files only.
   */
  private onlyTrackedWritten = false;
  /**
   * The remote branch head as this workspace last saw it: fetched by a verified reset, or pushed
   * by itself. Null when unknown (on open, and while a push or pull is under way or failed). It is
   * a belief, not a fact: another writer may have pushed since. See {@link resetToRemote}.
   */
  private knownRemote: string | null = null;
  /** Trailer keys → commits of HEAD's history, so an idempotency lookup needs no `git log`. */
  private readonly trailerIndex = new TrailerIndex();
  private commitsSinceMaintenance = 0;
  /** Git processes this workspace has started: what a commit costs, for tests and benchmarks. */
  readonly stats = { processes: 0 };
  private readonly counted = () => {
    this.stats.processes++;
  };

  private constructor(private readonly options: WorkspaceOptions) {
    const { url, credentials } = splitUrlCredentials(options.url, options.credentials);
    this.url = url;
    this.credentials = credentials;
    this.branch = options.branch;
    this.dir = options.dir;
  }

  /**
   * Opens the clone in `dir`, creating it if needed. A branch that does not exist on the remote yet
   * (an empty audit repo) starts as an unborn branch and is created by the first push.
   */
  static async open(options: WorkspaceOptions): Promise<Workspace> {
    const ws = new Workspace(options);
    await ws.init();
    return ws;
  }

  get displayUrl(): string {
    return redactUrl(this.url);
  }

  private identityEnv(author: GitAuthor = this.options.author, date?: Date): Record<string, string> {
    const env: Record<string, string> = {
      GIT_AUTHOR_NAME: author.name,
      GIT_AUTHOR_EMAIL: author.email,
      GIT_COMMITTER_NAME: this.options.author.name,
      GIT_COMMITTER_EMAIL: this.options.author.email,
    };
    if (date) env.GIT_AUTHOR_DATE = `@${Math.floor(date.getTime() / 1000)} +0000`;
    return env;
  }

  private local(op: string, extra: Partial<RunOptions> = {}): RunOptions {
    return {
      cwd: this.dir,
      env: this.identityEnv(),
      config: [
        NO_AUTO_MAINTENANCE,
        ...(this.options.fsync === false ? [] : ['core.fsync=all', 'core.fsyncMethod=fsync']),
      ],
      timeoutMs: this.options.timeoutMs ?? 120_000,
      op,
      onProcess: this.counted,
      ...extra,
    };
  }

  private remote(op: string): RunOptions {
    return this.local(op, { url: this.url, credentials: this.credentials });
  }

  /**
   * A fetch: it brings at most `maxFetchBytes`. Only fetches are bounded; a push or ls-remote
   * brings nothing, and the bound's prlimit and sh would only add two processes to the write path.
   */
  private fetching(): RunOptions {
    const remote = this.remote('fetch');
    const bounded = boundedTransfer(join(this.dir, '.git'), this.options.maxFetchBytes);
    return { ...remote, config: [...bounded.config, ...(remote.config ?? [])], incoming: bounded.incoming };
  }

  private async init(): Promise<void> {
    if (!existsSync(join(this.dir, '.git'))) {
      await mkdir(this.dir, { recursive: true });
      await runGit(['init', '--quiet', `--initial-branch=${this.branch}`], this.local('init'));
      await runGit(['remote', 'add', 'origin', this.url], this.local('remote'));
      if (await this.remoteBranchExists()) {
        await this.fetchBranch();
        await runGit(
          ['reset', '--quiet', '--hard', `refs/remotes/origin/${this.branch}`],
          this.local('reset'),
        );
      }
      return;
    }
    const origin = (await runGit(['config', '--get', 'remote.origin.url'], this.local('config'))).trim();
    if (origin !== this.url) {
      throw new GitError('git.invalid-argument', `${this.dir} is a clone of another remote`, {
        details: { dir: this.dir },
      });
    }
    // A rebase interrupted by a crash would block every later commit.
    if (
      existsSync(join(this.dir, '.git', 'rebase-merge')) ||
      existsSync(join(this.dir, '.git', 'rebase-apply'))
    ) {
      await runGitStatus(['rebase', '--abort'], this.local('rebase'), [0, 1, 128]);
    }
    if ((await this.head()) === null) {
      await runGit(['symbolic-ref', 'HEAD', `refs/heads/${this.branch}`], this.local('symbolic-ref'));
    } else {
      await runGit(['checkout', '--quiet', '-B', this.branch], this.local('checkout'));
    }
  }

  private async remoteBranchExists(): Promise<boolean> {
    return (await this.remoteHead()) !== null;
  }

  /** The branch's head on the remote (ls-remote: no objects move), null when it does not exist. */
  async remoteHead(): Promise<string | null> {
    const ref = `refs/heads/${this.branch}`;
    const out = await runGit(['ls-remote', '--heads', 'origin', ref], this.remote('ls-remote'));
    for (const line of out.split('\n')) {
      const [sha, name] = line.split('\t');
      if (name === ref && sha) return sha;
    }
    return null;
  }

  private async fetchBranch(): Promise<void> {
    await runGit(
      [
        'fetch',
        '--quiet',
        '--no-tags',
        'origin',
        `+refs/heads/${this.branch}:refs/remotes/origin/${this.branch}`,
      ],
      this.fetching(),
    );
  }

  private resolve(path: string): string {
    const rel = normalize(path);
    if (isAbsolute(rel) || rel === '..' || rel.startsWith(`..${sep}`) || rel.split(sep)[0] === '.git') {
      throw new GitError('git.invalid-argument', `path ${JSON.stringify(path)} is outside the work tree`);
    }
    return join(this.dir, rel);
  }

  /** Content of a file in the work tree, or null if it does not exist. */
  async readFile(path: string): Promise<string | null> {
    try {
      return await readFile(this.resolve(path), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  async writeFile(path: string, content: string): Promise<void> {
    const full = this.resolve(path);
    this.written(full);
    await mkdir(dirname(full), { recursive: true });
    await writeFile(full, content);
  }

  async appendFile(path: string, content: string): Promise<void> {
    const full = this.resolve(path);
    this.written(full);
    await mkdir(dirname(full), { recursive: true });
    await appendFile(full, content);
  }

  /** Before a write to `full`: the tree is no longer pristine, and a new file needs `git add`. */
  private written(full: string): void {
    if (!this.pristine && !this.onlyTrackedWritten) return;
    this.onlyTrackedWritten = existsSync(full) && (this.pristine || this.onlyTrackedWritten);
    this.pristine = false;
  }

  async removeFile(path: string): Promise<void> {
    // A removal keeps onlyTrackedWritten: `git commit --all` stages deletions of tracked files.
    if (this.pristine) this.onlyTrackedWritten = true;
    this.pristine = false;
    await rm(this.resolve(path), { force: true, recursive: true });
  }

  /** Current local head, null on an unborn branch. */
  async head(): Promise<string | null> {
    // Read from the ref files when HEAD is on a branch (not mid-rebase): no git process.
    const gitDir = join(this.dir, '.git');
    const target = await readHeadTarget(gitDir);
    const fast = target ? await readRefFast(gitDir, target) : undefined;
    if (fast) return fast;
    const r = await runGitStatus(
      ['rev-parse', '--verify', '--quiet', 'HEAD'],
      this.local('rev-parse'),
      [0, 1, 128],
    );
    return r.code === 0 ? r.stdout.trim() : null;
  }

  /**
   * Stages every change in the work tree and commits it with `Key: value` trailers. Returns the new
   * sha, or null when there was nothing to commit (and `allowEmpty` is not set). With `fsync` on
   * (default) the objects and the ref are on disk when this returns.
   */
  commit(opts: CommitOptions): Promise<string | null> {
    return this.queue.run(async () => {
      const message = formatCommitMessage(opts.message, opts.trailers);
      // Only tracked files written: `git commit --all` stages them itself, one process in all.
      const all = this.pristine || this.onlyTrackedWritten;
      if (!all) await runGit(['add', '--all'], this.local('add'));
      const before = await this.head();
      // One or two git processes in the usual case: `git commit` itself says when there is
      // nothing to commit (exit 1, no new head); only then is the change compared with HEAD, to
      // tell that apart from a failure.
      const args = [
        'commit',
        '--quiet',
        '--no-verify',
        '--cleanup=verbatim',
        ...(all ? ['--all'] : []),
        ...(opts.allowEmpty ? ['--allow-empty'] : []),
        '-F',
        '-',
      ];
      const options = this.local('commit', { env: this.identityEnv(opts.author, opts.date), input: message });
      const r = await runGitStatus(args, options, [0, 1]);
      if (r.code === 1) {
        // `commit --all` stages into an index of its own and leaves the real one as it was when
        // it fails: only the work tree against HEAD tells "nothing to commit" from a refusal (a
        // hook exits 1 too).
        const diffArgs = all ? ['diff', '--quiet', 'HEAD', '--'] : ['diff', '--cached', '--quiet'];
        const diff = await runGitStatus(diffArgs, this.local('diff'), [0, 1]);
        if (diff.code === 0 && before !== null && (await this.head()) === before) {
          this.pristine = true;
          return null;
        }
        throw new GitError(
          'git.command-failed',
          `git commit failed: ${redactText(r.stderr || r.stdout).trim()}`,
        );
      }
      const head = await this.head();
      if (!head || head === before) throw new GitError('git.command-failed', 'commit produced no head');
      this.pristine = true;
      // The trailers are the message's last paragraph, as git parses them; without any (or with a
      // `---` line git might take for a patch divider) the next lookup asks git instead.
      if (opts.trailers && Object.keys(opts.trailers).length > 0 && !/^---$/m.test(opts.message))
        this.trailerIndex.committed(before, head, opts.trailers);
      if (++this.commitsSinceMaintenance >= MAINTENANCE_EVERY) {
        this.commitsSinceMaintenance = 0;
        // Packs loose objects when git's own thresholds say so (gc detaches into the background).
        await runGit(MAINTENANCE_ARGS, this.local('maintenance'));
      }
      return head;
    });
  }

  /** Fetches the branch and rebases local commits onto it (nothing is lost; conflicts → typed error). */
  pull(): Promise<void> {
    return this.queue.run(() => this.pullUnlocked());
  }

  private async pullUnlocked(): Promise<void> {
    this.knownRemote = null;
    if (!(await this.remoteBranchExists())) return;
    await this.fetchBranch();
    const upstream = `refs/remotes/origin/${this.branch}`;
    if ((await this.head()) === null) {
      await runGit(['reset', '--quiet', '--hard', upstream], this.local('reset'));
      return;
    }
    try {
      await runGit(['rebase', '--quiet', upstream], this.local('rebase'));
    } catch (err) {
      await runGitStatus(['rebase', '--abort'], this.local('rebase'), [0, 1, 128]);
      throw new GitError('git.rebase-conflict', `local commits do not rebase onto ${this.branch}`, {
        cause: err,
        details: { url: this.displayUrl, branch: this.branch },
      });
    }
  }

  /**
   * Discards local changes and commits: the work tree becomes the remote branch. When the remote
   * head is the local one and nothing was written since the last commit or reset, that is already
   * so: one `ls-remote` instead of four processes.
   *
   * `trustKnownHead`: when the local head is the remote head as this workspace last saw it (its
   * own last push, or its last verified reset) and nothing was written since, start from it
   * without asking the remote: no process at all. The answer says `verified: false` then, and the
   * caller must not act on the work tree alone: only a push (which the remote accepts only as a
   * fast-forward of what it has, i.e. only if the head was still the remote's) or
   * {@link remoteHead} confirms it. The planner starts every change here; its pushes are the
   * confirmation, and a rejected one means it starts over from a verified reset.
   */
  resetToRemote(opts: { trustKnownHead?: boolean } = {}): Promise<{ verified: boolean }> {
    return this.queue.run(async () => {
      if (
        opts.trustKnownHead &&
        this.pristine &&
        this.knownRemote !== null &&
        (await this.head()) === this.knownRemote
      )
        return { verified: false };
      const remote = await this.remoteHead();
      if (remote === null) return { verified: true };
      if (this.pristine && (await this.head()) === remote) {
        this.knownRemote = remote;
        return { verified: true };
      }
      this.pristine = false;
      this.onlyTrackedWritten = false;
      this.knownRemote = null;
      await this.fetchBranch();
      await runGit(['reset', '--quiet', '--hard', `refs/remotes/origin/${this.branch}`], this.local('reset'));
      await runGit(['clean', '-fdq'], this.local('clean'));
      this.pristine = true;
      // What was fetched: the ls-remote answer, or a head pushed since (newer, and just as fresh).
      this.knownRemote = await this.head();
      return { verified: true };
    });
  }

  /**
   * Forgets the remote head this workspace believed in, so the next {@link resetToRemote} asks
   * the remote (after a push was rejected because the remote moved, or the head turned out stale).
   */
  forgetRemoteHead(): void {
    this.knownRemote = null;
  }

  /**
   * Pushes the branch. When another writer pushed first (non-fast-forward), fetches, rebases the
   * local commits onto the new head and tries again, up to `retries` times; then `git.non-fast-forward`.
   *
   * `beforePush` is told the head about to be pushed, before each attempt (a rebase makes a new
   * one): whoever must know a commit as its own has to know it before the remote has it, since
   * the writer may be stopped (or lose its lease) the moment the push returns.
   */
  push(opts: { retries?: number; beforePush?: (head: string) => Promise<void> } = {}): Promise<PushResult> {
    const retries = opts.retries ?? 5;
    return this.queue.run(async () => {
      let rebases = 0;
      this.knownRemote = null;
      for (;;) {
        try {
          const head = await this.head();
          if (!head) throw new GitError('git.invalid-argument', 'nothing to push on an unborn branch');
          await opts.beforePush?.(head);
          await runGit(['push', '--quiet', 'origin', `HEAD:refs/heads/${this.branch}`], this.remote('push'));
          // The remote took it as a fast-forward: its head is ours now.
          this.knownRemote = head;
          return { head, rebases };
        } catch (err) {
          if (!isGitError(err, 'git.non-fast-forward')) throw err;
          if (rebases >= retries) {
            throw new GitError(
              'git.non-fast-forward',
              `push to ${this.branch} still rejected after ${rebases} rebases`,
              {
                cause: err,
                details: { url: this.displayUrl, branch: this.branch, rebases },
              },
            );
          }
          rebases++;
          // Jitter so writers racing each other do not collide again in lockstep.
          await new Promise((r) => setTimeout(r, backoffDelay(rebases - 1, REBASE_BACKOFF)));
          await this.pullUnlocked();
        }
      }
    });
  }

  /** Number of local commits not on the remote yet (the audit writer's push lag). */
  async unpushedCount(): Promise<number> {
    if ((await this.head()) === null) return 0;
    const upstream = `refs/remotes/origin/${this.branch}`;
    const has = await runGitStatus(
      ['rev-parse', '--verify', '--quiet', upstream],
      this.local('rev-parse'),
      [0, 1, 128],
    );
    const range = has.code === 0 ? `${upstream}..HEAD` : 'HEAD';
    return Number((await runGit(['rev-list', '--count', range], this.local('rev-list'))).trim());
  }

  /**
   * Newest commit on the local branch carrying trailer `key: value` (idempotency keys), or null.
   * Answered from the trailer index: one full `git log` the first time a key is asked for, then
   * no process while the head is the one indexed or one the workspace committed on top of it; a
   * head moved otherwise (reset, rebase) costs one `git log old...new`. `maxCount` (and a value
   * the index is unsure of) scans as before: `git log --grep` narrows, the trailer is then
   * checked exactly.
   */
  findCommitByTrailer(key: string, value: string, opts: { maxCount?: number } = {}): Promise<string | null> {
    return this.queue.run(async () => {
      const head = await this.head();
      if (head === null) return null;
      if (opts.maxCount) return await this.scanForTrailer(key, value, opts.maxCount);
      await this.indexTrailers(head, key);
      const known = this.trailerIndex.lookup(key, value);
      if (known !== undefined) return known;
      const found = await this.scanForTrailer(key, value);
      this.trailerIndex.settle(key, value, found);
      return found;
    });
  }

  /** Brings the trailer index to `head` and makes it cover `key`. */
  private async indexTrailers(head: string, key: string): Promise<void> {
    const index = this.trailerIndex;
    const keys = [...new Set([...index.indexedKeys(), key.toLowerCase()])];
    if (index.head !== null && index.head !== head) {
      try {
        const out = await runGit(
          ['log', '--left-right', `--format=${TRAILER_LOG_FORMAT}`, `${index.head}...${head}`, '--'],
          this.local('log'),
        );
        index.move(head, parseTrailerLog(out));
      } catch {
        // The old head is gone (pruned): start over.
        index.clear();
      }
    }
    if (index.head === head && index.indexes(key)) return;
    const out = await runGit(['log', `--format=${TRAILER_LOG_FORMAT}`, head, '--'], this.local('log'));
    index.rebuild(head, keys, parseTrailerLog(out));
  }

  private async scanForTrailer(key: string, value: string, maxCount?: number): Promise<string | null> {
    const out = await runGit(
      [
        'log',
        '--fixed-strings',
        '--regexp-ignore-case',
        `--grep=${key}: ${value}`,
        ...(maxCount ? [`--max-count=${maxCount}`] : []),
        `--format=%H%x1f%(trailers:key=${key},valueonly,separator=%x1f)%x1e`,
        'HEAD',
        '--',
      ],
      this.local('log'),
    );
    for (const record of out.split('\x1e')) {
      const [sha, ...values] = record.trim().split('\x1f');
      if (sha && values.some((v) => v.trim() === value)) return sha;
    }
    return null;
  }

  /** Trailers of a commit, in order (repeated keys keep every value), parsed as the index's are. */
  async trailers(rev: string): Promise<Array<[string, string]>> {
    const out = await runGit(['log', '-1', `--format=${TRAILER_LOG_FORMAT}`, rev, '--'], this.local('log'));
    return parseTrailerLog(out)[0]?.trailers ?? [];
  }

  verifyCommitSignature(sha: string, opts: VerifyOptions = {}): Promise<SignatureVerification> {
    return verifyCommitSignature(sha, this.local('verify-commit'), opts);
  }

  // ---- git notes -------------------------------------------------------------------------------

  /** Adds (or replaces, or appends to) the note on a commit; returns nothing, durable like commits. */
  addNote(sha: string, text: string, opts: NoteOptions = {}): Promise<void> {
    const ref = opts.ref ?? DEFAULT_NOTES_REF;
    const args =
      opts.mode === 'append'
        ? ['notes', `--ref=${ref}`, 'append', '-F', '-', sha]
        : ['notes', `--ref=${ref}`, 'add', '--force', '-F', '-', sha];
    return this.queue.run(async () => {
      await runGit(args, this.local('notes', { input: text.endsWith('\n') ? text : `${text}\n` }));
    });
  }

  /** The note on a commit, or null. */
  async readNote(sha: string, opts: { ref?: string } = {}): Promise<string | null> {
    const ref = opts.ref ?? DEFAULT_NOTES_REF;
    const r = await runGitStatus(['notes', `--ref=${ref}`, 'show', sha], this.local('notes'), [0, 1]);
    return r.code === 0 ? r.stdout.replace(/\n$/, '') : null;
  }

  /**
   * Fetches the remote notes ref and merges it into the local one (`cat_sort_uniq` by default:
   * line-oriented notes from several writers combine without conflicts).
   */
  fetchNotes(opts: { ref?: string; strategy?: NotesMergeStrategy } = {}): Promise<void> {
    return this.queue.run(() => this.fetchNotesUnlocked(opts.ref ?? DEFAULT_NOTES_REF, opts.strategy));
  }

  private async fetchNotesUnlocked(
    ref: string,
    strategy: NotesMergeStrategy = 'cat_sort_uniq',
  ): Promise<void> {
    const tracking = `refs/notes-remote/origin/${ref.replace(/^refs\/notes\//, '')}`;
    const exists = await runGit(['ls-remote', 'origin', ref], this.remote('ls-remote'));
    if (!exists.trim()) return;
    await runGit(['fetch', '--quiet', '--no-tags', 'origin', `+${ref}:${tracking}`], this.fetching());
    const local = await runGitStatus(
      ['rev-parse', '--verify', '--quiet', ref],
      this.local('rev-parse'),
      [0, 1, 128],
    );
    if (local.code !== 0) {
      await runGit(['update-ref', ref, tracking], this.local('update-ref'));
      return;
    }
    await runGit(
      ['notes', `--ref=${ref}`, 'merge', '--quiet', `--strategy=${strategy}`, tracking],
      this.local('notes'),
    );
  }

  /** Pushes the notes ref; when another writer pushed notes first, fetches, merges and retries. */
  pushNotes(opts: { ref?: string; strategy?: NotesMergeStrategy; retries?: number } = {}): Promise<void> {
    const ref = opts.ref ?? DEFAULT_NOTES_REF;
    const retries = opts.retries ?? 5;
    return this.queue.run(async () => {
      for (let attempt = 0; ; attempt++) {
        try {
          await runGit(['push', '--quiet', 'origin', `${ref}:${ref}`], this.remote('push'));
          return;
        } catch (err) {
          if (!isGitError(err, 'git.non-fast-forward') || attempt >= retries) throw err;
          await new Promise((r) => setTimeout(r, backoffDelay(attempt, REBASE_BACKOFF)));
          await this.fetchNotesUnlocked(ref, opts.strategy);
        }
      }
    });
  }
}
