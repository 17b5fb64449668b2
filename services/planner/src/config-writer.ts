import { FlotillaError, messageOf } from '@flotilla/errors';
import { isGitError, TRACEPARENT_TRAILER } from '@flotilla/git';
import { activeTraceContext } from '@flotilla/telemetry';
import type { ConfigRepo } from './config-repo.ts';
import type { SourceFile } from './image-refs.ts';
import { listFilesUnder, readYamlFilesUnder } from './tree-files.ts';

/** Trailer that makes a commit findable again: the idempotency key of the change it carries. */
export type CommitKey = [trailer: string, value: string];

/** A push the remote refused, told to whoever raises the event for it. */
export interface PushRejection {
  /** The change's idempotency trailer, `Trailer: value`. */
  change: string;
  code: string;
  message: string;
  /** Consecutive refusals of this change, this one included. */
  attempts: number;
}

export interface ConfigChange {
  message: string;
  trailers: Record<string, string>;
  /** Looked up before writing (already pushed by an earlier attempt?) and after a rebase. */
  key: CommitKey;
  /** The pipeline it is made for: its lease's fencing token goes into the `Flotilla-Epoch` trailer. */
  pipeline: string;
  /**
   * The trace this change belongs to (the triggering event's), written as a trailer so the
   * commit's GitCommitDetected continues it; the active span's wins when tracing is on.
   */
  traceparent?: string | undefined;
}

/** The change began on a head the remote has moved past: it is made again from the remote's. */
const staleBase = (cause?: unknown) =>
  new FlotillaError('planner.stale-base', 'the config repo moved since this change began; starting over', {
    disposition: 'retry',
    ...(cause ? { cause } : {}),
  });

const isStaleBase = (err: unknown) => err instanceof FlotillaError && err.code === 'planner.stale-base';

/**
 * The one writer of the config repo. Every change of desired state (image update, promotion,
 * rollback) is a commit with trailers pushed here: start from the remote head, find an earlier
 * attempt by its key trailer, write files, commit, push (rebasing past other writers), and
 * answer the sha as it is on the remote.
 *
 * Starting from the remote head costs no git process when the workspace's head is the one it
 * last pushed (or fetched): the head is then only believed to be the remote's, and every
 * decision taken on it is confirmed before it counts. A push confirms it (the remote takes it
 * only as a fast-forward of its own head, so the change was made on exactly the remote's state);
 * a rejected one means another writer pushed since, and the change is made again from a verified
 * reset (`change`) rather than rebased: what the change wrote, and whether an earlier attempt
 * exists, is decided on what is really there. "Nothing to change" asks the remote
 * (`confirmBase`), as every change did before.
 */
export class ConfigWriter {
  constructor(
    private readonly repo: ConfigRepo,
    /**
     * Told the sha of every commit this writer is about to push (each rebase makes a new one),
     * before the push: once the remote has it, anyone may render it, and this writer may already
     * have lost its lease.
     */
    private readonly pushed: (sha: string) => Promise<void> = async () => {},
    /** The lease's fencing token for the pipeline, checked right before the commit (throws when not held). */
    private readonly fence: (pipeline: string) => number = () => 0,
    /** Told every refused push: the caller raises an event, so a held change is never silent. */
    private readonly rejected: (r: PushRejection) => Promise<void> = async () => {},
    /**
     * Told each local commit and the files the change wrote, before its push: the caller may
     * start rendering it while the push is on its way (not awaited; must not throw).
     */
    private readonly committed: (sha: string, written: readonly string[]) => void = () => {},
  ) {}

  /** Files written or removed since the change began. */
  private readonly written = new Set<string>();

  /** Consecutive refusals per change key, reset by a successful push. */
  private readonly refusals = new Map<string, number>();

  /** Whether the current change's starting head was confirmed as the remote's. */
  private verified = true;

  /**
   * Runs one change (`begin` … `commitAndPush`). Begun on a head the remote had moved past, it
   * runs once more, from the remote's head (verified then, so once is enough). The function must
   * have no effect before its push or `confirmBase` other than writing the work tree.
   */
  async change<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (!isStaleBase(err)) throw err;
      return await fn();
    }
  }

  /**
   * Starts a change from the remote head; returns the commit of an earlier attempt, if any (found
   * in the local history, on a head confirmed as the remote's: else `planner.stale-base`, and
   * `change` starts over). `verify`: ask the remote first, for a caller that acts on "no earlier
   * attempt" without pushing.
   */
  async begin(key: CommitKey, opts: { verify?: boolean } = {}): Promise<string | null> {
    const ws = this.repo.workspace;
    this.written.clear();
    this.verified = (await ws.resetToRemote({ trustKnownHead: opts.verify !== true })).verified;
    const earlier = await ws.findCommitByTrailer(key[0], key[1]);
    // An earlier attempt is acted on with no push to confirm it, so its commit must still be on
    // the remote: a rewritten branch (force-push) no longer holds what the believed head does.
    // Only a change found done pays the ls-remote.
    if (earlier !== null) await this.confirmBase();
    return earlier;
  }

  /**
   * Confirms the change's starting head is still the remote's, before acting on "nothing to
   * change" (no push will confirm it). Throws `planner.stale-base` when it is not: `change`
   * starts over.
   */
  async confirmBase(): Promise<void> {
    if (this.verified) return;
    const ws = this.repo.workspace;
    const [remote, local] = await Promise.all([ws.remoteHead(), ws.head()]);
    if (remote === local) {
      this.verified = true;
      return;
    }
    ws.forgetRemoteHead();
    throw staleBase();
  }

  /** The YAML files below the given cluster paths in the work tree (what a change rewrites). */
  yamlFilesUnder(paths: readonly string[]): Promise<SourceFile[]> {
    return readYamlFilesUnder(this.repo.workspace.dir, paths);
  }

  filesUnder(path: string): Promise<string[]> {
    return listFilesUnder(this.repo.workspace.dir, path);
  }

  writeFile(path: string, text: string): Promise<void> {
    this.written.add(path);
    return this.repo.workspace.writeFile(path, text);
  }

  removeFile(path: string): Promise<void> {
    this.written.add(path);
    return this.repo.workspace.removeFile(path);
  }

  /**
   * Commits the work tree and pushes; returns the sha as it is on the remote (after rebases), or
   * null when the work tree has no change.
   */
  async commitAndPush(change: ConfigChange): Promise<string | null> {
    const ws = this.repo.workspace;
    // A planner paused past its lease must not push when it resumes; the epoch trailer says which
    // tenure (of the leader, or of the pipeline's lease when sharded) wrote the commit.
    const epoch = this.fence(change.pipeline);
    const traceparent = activeTraceContext()?.traceparent ?? change.traceparent;
    const local = await ws.commit({
      message: change.message,
      trailers: {
        ...change.trailers,
        'Flotilla-Epoch': String(epoch),
        ...(traceparent ? { [TRACEPARENT_TRAILER]: traceparent } : {}),
      },
    });
    if (!local) {
      await this.confirmBase();
      return null;
    }
    this.committed(local, [...this.written]);
    const change_ = change.key.join(': ');
    let pushed: Awaited<ReturnType<typeof ws.push>>;
    try {
      // On an unconfirmed head a rejection means the remote moved: start over, do not rebase.
      // Our own commit is recorded before the remote has it: recorded after, a planner that lost its
      // lease (or was killed) right after the push would leave a commit its successor cannot tell
      // from a human's ungated edit, and the successor would hold the stage on it. A recorded commit
      // that never lands is harmless: nothing renders a sha the remote does not have.
      const beforePush = (head: string) => this.pushed(head);
      pushed = await ws.push(this.verified ? { beforePush } : { retries: 0, beforePush });
    } catch (err) {
      if (!this.verified && isGitError(err, 'git.non-fast-forward')) throw staleBase(err);
      // Branch protection, a pre-receive hook, or losing every rebase race: the change is held (the
      // caller's `wait` keeps the triggering message) and retried with backoff until it lands.
      if (!isGitError(err, 'git.push-rejected') && !isGitError(err, 'git.non-fast-forward')) throw err;
      const attempts = (this.refusals.get(change_) ?? 0) + 1;
      this.refusals.set(change_, attempts);
      if (this.refusals.size > 1000) this.refusals.delete(this.refusals.keys().next().value as string);
      await this.rejected({ change: change_, code: err.code, message: messageOf(err), attempts });
      throw new FlotillaError(
        'planner.push-held',
        `push of ${change_} refused (${err.code}, attempt ${attempts}); the change is held and retried`,
        { disposition: 'wait', cause: err },
      );
    }
    this.refusals.delete(change_);
    const sha = pushed.rebases === 0 ? local : await ws.findCommitByTrailer(...change.key);
    if (!sha)
      throw new FlotillaError('planner.commit-lost', `pushed commit ${change.key.join(': ')} not found`, {
        disposition: 'retry',
      });
    return sha;
  }
}

/** Files were rewritten but git saw no change: a bug in the rewrite, not worth retrying. */
export const nothingToCommit = () =>
  new FlotillaError('planner.nothing-to-commit', 'nothing to commit', { disposition: 'stall' });
