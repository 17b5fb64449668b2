import { backoffDelay } from '@flotilla/async';
import { messageOf } from '@flotilla/errors';
import { type GitAuthor, Workspace } from '@flotilla/git';
import type { Deployment, PromotionView } from './projection.ts';

/**
 * The git note on a config commit: where it is deployed and how that went, one line per cluster
 * (as Flux v1 did), so `git log --notes=flotilla` answers "where is this commit running?".
 */
export function formatNote(
  revision: string,
  deployments: Iterable<Deployment>,
  promotion?: PromotionView,
): string {
  const lines = [`flotilla: deployments of ${revision}`];
  const sorted = [...deployments].sort((a, b) => (a.cluster < b.cluster ? -1 : 1));
  for (const d of sorted) {
    const parts = [`cluster=${d.cluster}`];
    if (d.stage) parts.push(`stage=${d.stage}`);
    if (d.planId) parts.push(`plan=${d.planId}`);
    if (d.digest) parts.push(`digest=${d.digest}`);
    if (d.result) parts.push(`result=${d.result}`);
    if (d.appliedAt) parts.push(`applied-at=${d.appliedAt}`);
    if (d.health) parts.push(`health=${d.health}`);
    parts.push(`updated=${d.updatedAt}`);
    lines.push(parts.join(' '));
  }
  if (promotion?.committed) {
    const approvedBy = promotion.committed.approvedBy.join(',') || '-';
    lines.push(
      `promotion=${promotion.promotionId} from=${promotion.fromStage ?? '?'} to=${promotion.toStage} approved-by=${approvedBy} source=${promotion.committed.sourceRevision}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

export interface ConfigNotesOptions {
  url: string;
  branch: string;
  dir: string;
  ref: string;
  author: GitAuthor;
  debounceMs: number;
  retryMaxMs: number;
  /** The note text for a revision, from the current index; null when there is nothing to say. */
  render: (revision: string) => string | null;
  log: { warn(obj: object, msg: string): void };
  onOutcome?: (outcome: 'written' | 'pushed' | 'missing-commit' | 'failed', pending: number) => void;
}

/**
 * Keeps notes on the config repo's commits up to date, in the background: revisions touched by
 * new records are marked dirty, written after a short debounce, and the notes ref is pushed.
 * Failures never hold up the audit log (the log is the record; notes are a view of it).
 */
export class ConfigNotes {
  private readonly dirty = new Set<string>();
  /** How often a revision's commit could not be found; given up after a few rounds. */
  private readonly misses = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private failures = 0;
  private stopped = false;

  private constructor(
    private readonly ws: Workspace,
    private readonly opts: ConfigNotesOptions,
  ) {}

  static async open(opts: ConfigNotesOptions): Promise<ConfigNotes> {
    const ws = await Workspace.open({
      url: opts.url,
      branch: opts.branch,
      dir: opts.dir,
      author: opts.author,
    });
    const notes = new ConfigNotes(ws, opts);
    await ws.fetchNotes({ ref: opts.ref, strategy: 'ours' }).catch((err) => {
      opts.log.warn({ err: messageOf(err) }, 'could not fetch config notes; will merge on push');
    });
    return notes;
  }

  get pending(): number {
    return this.dirty.size;
  }

  touch(revisions: Iterable<string>): void {
    for (const r of revisions) this.dirty.add(r);
    if (this.dirty.size > 0) this.schedule(this.opts.debounceMs);
  }

  private schedule(ms: number): void {
    if (this.timer || this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.running = this.flush().finally(() => {
        this.running = undefined;
      });
    }, ms);
  }

  /** Writes and pushes every dirty note now. */
  async flush(): Promise<void> {
    if (this.running) await this.running;
    const batch = [...this.dirty];
    if (batch.length === 0) return;
    this.dirty.clear();
    let pulled = false;
    const retry: string[] = [];
    for (const rev of batch) {
      const text = this.opts.render(rev);
      if (!text) continue;
      try {
        await this.ws.addNote(rev, text, { ref: this.opts.ref });
        this.opts.onOutcome?.('written', this.dirty.size);
      } catch (err) {
        // The commit is not in our clone yet (or not on the branch): fetch once, then try again.
        if (!pulled) {
          pulled = true;
          try {
            await this.ws.pull();
            await this.ws.addNote(rev, text, { ref: this.opts.ref });
            this.opts.onOutcome?.('written', this.dirty.size);
            continue;
          } catch {}
        }
        this.opts.log.warn(
          { revision: rev, err: messageOf(err) },
          'cannot note config commit (not on the branch?)',
        );
        this.opts.onOutcome?.('missing-commit', this.dirty.size);
        retry.push(rev);
      }
    }
    try {
      await this.ws.pushNotes({ ref: this.opts.ref, strategy: 'ours' });
      this.failures = 0;
      this.opts.onOutcome?.('pushed', this.dirty.size);
    } catch (err) {
      this.failures++;
      this.opts.log.warn(
        { err: messageOf(err), attempt: this.failures },
        'pushing config notes failed; will retry',
      );
      this.opts.onOutcome?.('failed', this.dirty.size);
      // Written notes stay in the local notes ref; re-render them on the next round anyway.
      for (const rev of batch) this.dirty.add(rev);
    }
    // Missing commits are retried a few times later (the watcher may report a commit before we can fetch it).
    for (const rev of retry) {
      const n = (this.misses.get(rev) ?? 0) + 1;
      if (n < 5) {
        this.misses.set(rev, n);
        this.dirty.add(rev);
      } else this.misses.delete(rev);
    }
    if (this.dirty.size > 0)
      this.schedule(
        backoffDelay(Math.max(this.failures, 1), {
          baseMs: this.opts.debounceMs,
          maxMs: this.opts.retryMaxMs,
        }),
      );
  }

  async readNote(revision: string): Promise<string | null> {
    return this.ws.readNote(revision, { ref: this.opts.ref });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.running) await this.running;
    if (this.dirty.size > 0) await this.flush().catch(() => undefined);
  }
}
