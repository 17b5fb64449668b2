import { createHash } from 'node:crypto';
import { carryAttempts, PollLoop, SerialQueue, type Trigger } from '@flotilla/async';
import type { Bus, Versioned } from '@flotilla/bus';
import { FlotillaError, messageOf } from '@flotilla/errors';
import {
  childTraceparent,
  type EventDefinition,
  GitCommitDetected,
  GitCommitRejected,
  GitHistoryRewritten,
  GitSourceFailed,
  parseTraceparent,
} from '@flotilla/events';
import {
  type CommitInfo,
  GitError,
  type Mirror,
  type SignatureVerification,
  signatureRejectionMessage,
  TRACEPARENT_TRAILER,
  trailerValue,
} from '@flotilla/git';
import type { Logger } from '@flotilla/runtime';
import type { Static, TObject } from '@sinclair/typebox';
import type { Cursor, CursorStore } from './cursor.ts';
import type { HostLimiter } from './host-limiter.ts';
import type { WatcherMetrics } from './metrics.ts';
import type { WatchedRepo } from './repo.ts';

export type { Trigger };

export interface PollSettings {
  jitter: number;
  maxBackoffMs: number;
  failureThreshold: number;
  maxCommitsPerCheck: number;
}

export interface RepoWatcherDeps {
  repo: WatchedRepo;
  mirror: Mirror;
  bus: Bus;
  cursors: CursorStore;
  limiter: HostLimiter;
  metrics: WatcherMetrics;
  logger: Logger;
  poll: PollSettings;
}

export interface CheckResult {
  result: 'unchanged' | 'changed' | 'blocked';
  head: string;
  published: number;
  gitProcesses: number;
}

const ID_MAX = 128;

/** A webhook that asked for a check. */
interface WebhookHint {
  receivedAt: number;
  /** The branch head its signed payload named (webhooks.ts trustedAfter). */
  after?: string;
  /** Checks already failed with this hint: a webhook's check is retried soon, a bounded number of times. */
  attempt?: number;
}

const MAX_WEBHOOK_ATTEMPTS = 4;

/**
 * The head to fetch by id for checks asked for by webhooks: the newest webhook's, when it named
 * one. Webhooks coalesced into one check arrive in push order, so the last is the newest head; a
 * webhook without one (or none at all: a poll) means asking the remote.
 */
function pushedHead(hints: readonly WebhookHint[]): string | undefined {
  let last: WebhookHint | undefined;
  for (const h of hints) if (!last || h.receivedAt >= last.receivedAt) last = h;
  return last?.after;
}

/** Deterministic event ids: a re-publish after a crash is dropped by JetStream's duplicate window. */
export function eventId(kind: string, repo: string, ...parts: string[]): string {
  const id = [kind, repo, ...parts].join('-');
  if (id.length <= ID_MAX) return id;
  const h = createHash('sha256').update(repo).digest('hex').slice(0, 16);
  return [kind, h, ...parts].join('-').slice(0, ID_MAX);
}

/**
 * One owned repo/branch: the shared poll loop (jittered interval, a webhook checks at once, failures
 * back off and are reported) around this watcher's check. A check is a list of small steps that
 * stop at the first error: ls-remote (an unchanged head ends it: no fetch), fetch, ancestry,
 * commits, signatures, publish, cursor.
 */
export class RepoWatcher {
  private readonly checks = new SerialQueue();
  /**
   * Hints are the webhooks that asked for this check: when each arrived (push-to-event latency is
   * measured from the first) and the branch head its signed payload named, if it did.
   */
  private readonly loop: PollLoop<WebhookHint>;

  constructor(private readonly d: RepoWatcherDeps) {
    const { repo, poll, metrics, logger } = d;
    this.loop = new PollLoop<WebhookHint>({
      intervalMs: repo.intervalMs,
      jitter: poll.jitter,
      maxBackoffMs: poll.maxBackoffMs,
      initialDelayMs: Math.min(repo.intervalMs, 1000),
      unknownCode: 'git-watcher.check-failed',
      check: async (trigger, hints) => {
        const r = await this.check(
          trigger,
          hints.length > 0 ? Math.min(...hints.map((h) => h.receivedAt)) : undefined,
          pushedHead(hints),
        );
        metrics.checks.inc({ trigger, result: r.result });
      },
      // A push the forge told us of is retried within seconds, not a poll interval later.
      carry: carryAttempts<WebhookHint>(MAX_WEBHOOK_ATTEMPTS),
      // Another instance took the repo over mid-check; its lease decides, nothing failed.
      ignore: (err) => {
        if (!(err instanceof FlotillaError && err.code === 'git-watcher.cursor-conflict')) return false;
        logger.info({ repo: repo.name }, 'cursor moved by another instance; leaving the repo to it');
        return true;
      },
      onFailure: (f, failures, trigger) => {
        metrics.checks.inc({ trigger, result: 'failed' });
        metrics.failures.inc({ code: f.code });
        logger.warn(
          { repo: repo.name, url: repo.displayUrl, code: f.code, failures, err: f.message },
          'check failed',
        );
      },
      onRecovered: (after) => logger.info({ repo: repo.name, after }, 'repository reachable again'),
      reportAfter: poll.failureThreshold,
      report: async (f, failures) => {
        try {
          await d.bus.publish(GitSourceFailed, {
            repo: repo.name,
            url: repo.displayUrl,
            code: f.code,
            message: f.message.slice(0, 4000),
            consecutiveFailures: failures,
          });
          metrics.events.inc({ type: 'GitSourceFailed' });
        } catch (err) {
          logger.error({ repo: repo.name, err: messageOf(err) }, 'could not publish GitSourceFailed');
          throw err;
        }
      },
    });
  }

  get name(): string {
    return this.d.repo.name;
  }

  get consecutiveFailures(): number {
    return this.loop.consecutiveFailures;
  }

  start(): void {
    this.loop.start();
  }

  /** Stops polling; resolves when a check in flight has finished. */
  stop(): Promise<void> {
    return this.loop.stop();
  }

  /** Checks now (a webhook); a check already running is followed by one more, never run twice at once. */
  trigger(receivedAt?: number, after?: string): Promise<void> {
    return this.loop.trigger(receivedAt !== undefined ? [{ receivedAt, ...(after ? { after } : {}) }] : []);
  }

  /**
   * One check, its git processes counted. Checks of a repo run one at a time (also one a test or
   * the benchmark calls directly) and only checks use its mirror, so the mirror's count grows by
   * exactly this check's processes (and those of another repo's checks on the same URL, whose
   * mirror it is too, when they overlap).
   */
  check(trigger: Trigger, receivedAt?: number, after?: string): Promise<CheckResult> {
    return this.checks.run(async () => {
      const before = this.d.mirror.stats.processes;
      const spent = () => this.d.mirror.stats.processes - before;
      try {
        return { ...(await this.steps(trigger, receivedAt, after)), gitProcesses: spent() };
      } finally {
        this.d.metrics.gitProcesses.inc(spent());
      }
    });
  }

  private async steps(
    trigger: Trigger,
    receivedAt?: number,
    after?: string,
  ): Promise<Omit<CheckResult, 'gitProcesses'>> {
    const { repo, mirror, limiter, cursors } = this.d;
    let current = after !== undefined ? await cursors.get(repo.name, repo.branch) : undefined;
    // 1a. A signed push payload named the new head: that commit alone is fetched (no ls-remote),
    // and taken only as a fast-forward of the last commit seen. A head already seen (the
    // planner's own push, reported by it and by the forge) costs no git process at all.
    let head: string | undefined;
    let fastForward = false;
    if (after !== undefined) {
      if (current && current.value.seenHead === after)
        return { result: 'unchanged', head: after, published: 0 };
      const base = current?.value.sha ?? null;
      this.d.metrics.fetches.inc();
      // fetchCommit moves the mirror's branch only as a fast-forward: when it moved from the last
      // commit seen, `after` descends from it, and no merge-base process has to say so. What it
      // moved from is read in the mirror's queue: another repo on the same URL shares the mirror,
      // and its fetch may have moved the branch (even to a rewritten history) since this check began.
      const fetched = await limiter
        .run(repo.host, () => mirror.fetchCommit(repo.branch, after))
        .catch((err: unknown) => {
          // Not served by SHA, not a fast-forward of the mirror's branch, or not there: ask the remote.
          this.d.logger.info(
            { repo: repo.name, after, err: messageOf(err) },
            'pushed head not fetched by id',
          );
          return null;
        });
      const fromBase = base !== null && fetched?.from === base;
      if (
        fetched &&
        (base === null || base === after || fromBase || (await mirror.isAncestor(base, after)))
      ) {
        head = after;
        fastForward = base !== null && base !== after;
      }
    }
    if (head === undefined) {
      // 1b. Cheap head check: ls-remote transfers no objects. An unchanged head ends the check here.
      const remoteHead = await limiter.run(repo.host, () => mirror.remoteHead(repo.branch));
      if (!remoteHead)
        throw new GitError('git.ref-not-found', `branch ${repo.branch} not found in ${repo.displayUrl}`);
      current = await cursors.get(repo.name, repo.branch);
      if (current && current.value.seenHead === remoteHead)
        return { result: 'unchanged', head: remoteHead, published: 0 };

      // 2. Incremental fetch of the one branch.
      this.d.metrics.fetches.inc();
      head = (await limiter.run(repo.host, () => mirror.fetch(repo.branch))).head;
    }
    const state = new CursorWriter(cursors, repo, current);

    // 3. Which commits are new.
    let commits: CommitInfo[];
    let rewritten = false;
    const base = current?.value.sha ?? null;
    if (base === null) {
      // First sight: the head alone stands for the current state (the whole history is not news).
      commits = await mirror.commitsBetween(null, `${head}^!`, { paths: repo.paths });
    } else if (base === head) {
      await state.save({ sha: base, seenHead: head });
      return { result: 'changed', head, published: 0 };
    } else if (fastForward || (await mirror.isAncestor(base, head))) {
      commits = await mirror.commitsBetween(base, head, { paths: repo.paths });
    } else {
      // 4. Force-push: the last seen commit is not in the new history.
      const action = repo.historyRewrite;
      await this.publish(
        GitHistoryRewritten,
        { repo: repo.name, branch: repo.branch, previousSha: base, newSha: head, action },
        eventId('git-rewrite', repo.name, base.slice(0, 12), head.slice(0, 12)),
      );
      if (action === 'halt') {
        await state.save({ sha: base, seenHead: head, blocked: { reason: 'history-rewritten', sha: head } });
        this.d.logger.warn(
          { repo: repo.name, previous: base, head },
          'history rewritten; halted at the last seen commit',
        );
        return { result: 'blocked', head, published: 1 };
      }
      // Continue from the new head: the commits of the new line since the fork point. None when the
      // branch was reset to an older commit: the rewrite event itself says where the head is now.
      rewritten = true;
      commits = await mirror
        .commitsBetween(base, head, { paths: repo.paths })
        .catch(() => mirror.commitsBetween(null, `${head}^!`, { paths: repo.paths }));
    }

    // A head that moved always brings at least one commit; an empty answer means git's output was
    // lost, and advancing the cursor on it would silently skip commits. Try again next time.
    if (commits.length === 0 && !rewritten)
      throw new FlotillaError(
        'git-watcher.empty-range',
        `no commits read between ${base ?? 'start'} and ${head}`,
        {
          disposition: 'retry',
        },
      );

    // 5. Emit, oldest first, moving the cursor as we go.
    const limited = commits.slice(0, this.d.poll.maxCommitsPerCheck);
    const reachedHead = limited.length === commits.length;
    let published = 0;
    let sha = base;
    for (const c of limited) {
      const signature = await this.verify(c.sha);
      if (repo.signature.policy === 'require' && signature.status !== 'good') {
        const already = current?.value.blocked?.reason === 'signature' && current.value.blocked.sha === c.sha;
        if (!already) {
          await this.publish(
            GitCommitRejected,
            {
              repo: repo.name,
              branch: repo.branch,
              sha: c.sha,
              code: `git.signature-${signature.status}`,
              message: signatureRejectionMessage(signature),
              ...(sha ? { lastGoodSha: sha } : {}),
            },
            eventId('git-reject', repo.name, c.sha),
          );
          published++;
        }
        await state.save({ sha, seenHead: head, blocked: { reason: 'signature', sha: c.sha } });
        this.d.logger.warn(
          { repo: repo.name, sha: c.sha, status: signature.status },
          'commit rejected by signature policy',
        );
        return { result: 'blocked', head, published };
      }
      if (c.relevant) {
        await this.publish(
          GitCommitDetected,
          {
            repo: repo.name,
            url: repo.displayUrl,
            branch: repo.branch,
            sha: c.sha,
            parents: c.parents,
            author: { name: c.author.name, email: c.author.email },
            committer: { name: c.committer.name, email: c.committer.email },
            authoredAt: c.author.time.toISOString(),
            committedAt: c.committer.time.toISOString(),
            message: c.message.slice(0, 16_384),
            paths: c.changedPaths.slice(0, 5000),
            signature: {
              status: repo.signature.policy === 'off' ? 'unchecked' : signature.status,
              ...(signature.signer ? { signer: signature.signer } : {}),
              ...(signature.key ? { key: signature.key } : {}),
            },
            trigger,
          },
          eventId('git', repo.name, c.sha),
          `git:${c.author.email || c.author.name}`,
          traceOfCommit(c.message),
        );
        published++;
        if (trigger === 'webhook' && receivedAt !== undefined)
          this.d.metrics.pushToEvent.observe((Date.now() - receivedAt) / 1000);
        sha = c.sha;
        // Saved after every event: a crash re-publishes at most one (and JetStream drops that duplicate).
        await state.save({ sha, seenHead: reachedHead && c === limited[limited.length - 1] ? head : sha });
      } else sha = c.sha;
    }
    // Commits touching no watched path still move the cursor.
    const last = limited[limited.length - 1]?.sha ?? head;
    await state.save({ sha: last, seenHead: reachedHead ? head : last }, true);
    return { result: 'changed', head, published };
  }

  private async verify(
    sha: string,
  ): Promise<SignatureVerification | { status: 'unchecked'; signer?: undefined; key?: undefined }> {
    const sig = this.d.repo.signature;
    if (sig.policy === 'off') return { status: 'unchecked' };
    return await this.d.mirror.verifyCommitSignature(sha, {
      ...(sig.allowedSignersFile ? { allowedSignersFile: sig.allowedSignersFile } : {}),
      ...(sig.gpgHome ? { gpgHome: sig.gpgHome } : {}),
    });
  }

  private async publish<S extends TObject>(
    def: EventDefinition<string, S>,
    data: Static<S>,
    id: string,
    actor?: string,
    traceparent?: string,
  ): Promise<void> {
    await this.d.bus.publish(def, data, {
      id,
      ...(actor ? { actor } : {}),
      ...(traceparent ? { traceparent } : {}),
    });
    this.d.metrics.events.inc({ type: def.name });
  }
}

/**
 * A commit the planner wrote names the trace of the operation behind it; its GitCommitDetected
 * continues that trace. The trailer is untrusted text (anyone can write one): only a well-formed
 * traceparent is used, and it grants nothing beyond joining a trace.
 */
function traceOfCommit(message: string): string | undefined {
  const value = trailerValue(message, TRACEPARENT_TRAILER);
  return parseTraceparent(value) ? childTraceparent(value) : undefined;
}

/** Cursor writes with compare-and-set on the revision read at the start of the check. */
class CursorWriter {
  private revision: number | undefined;
  private last: string | undefined;

  constructor(
    private readonly store: CursorStore,
    private readonly repo: WatchedRepo,
    current: Versioned<Cursor> | undefined,
  ) {
    this.revision = current?.revision;
  }

  /** With `dedupe`, a write identical to the previous one is skipped (the final save after the loop). */
  async save(c: Omit<Cursor, 'updatedAt'>, dedupe = false): Promise<void> {
    const key = JSON.stringify(c);
    if (dedupe && key === this.last) return;
    this.last = key;
    this.revision = await this.store.save(
      this.repo.name,
      this.repo.branch,
      { ...c, updatedAt: new Date().toISOString() },
      this.revision,
    );
  }
}
