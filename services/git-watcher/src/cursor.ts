import type { JsonKv, Versioned } from '@flotilla/bus';
import { FlotillaError } from '@flotilla/errors';

/** Where a repo/branch stands: kept in NATS KV so a restart or a failover neither misses nor repeats. */
export interface Cursor {
  /** Last commit handed on (emitted, or skipped as touching no watched path); null before the first. */
  sha: string | null;
  /** Remote head the last check got to; differs from `sha` only while blocked. An equal ls-remote head means nothing to do. */
  seenHead: string;
  /** Why `sha` is behind the head: a halted history rewrite, or a commit that failed the signature policy. */
  blocked?: { reason: 'history-rewritten' | 'signature'; sha: string };
  updatedAt: string;
}

export function cursorKey(repo: string, branch: string): string {
  return `${repo}@${branch}`;
}

/** Cursor reads and compare-and-set writes; a lost race means another instance now owns the repo. */
export class CursorStore {
  constructor(private readonly kv: JsonKv<Cursor>) {}

  get(repo: string, branch: string): Promise<Versioned<Cursor> | undefined> {
    return this.kv.get(cursorKey(repo, branch));
  }

  /** Writes if nobody else did since `revision` (undefined: only if absent); returns the new revision. */
  async save(repo: string, branch: string, cursor: Cursor, revision: number | undefined): Promise<number> {
    const key = cursorKey(repo, branch);
    try {
      return revision === undefined
        ? await this.kv.create(key, cursor)
        : await this.kv.update(key, cursor, revision);
    } catch (err) {
      if (err instanceof FlotillaError && err.code === 'bus.kv-conflict')
        throw new FlotillaError(
          'git-watcher.cursor-conflict',
          `cursor of ${key} was moved by another instance`,
          { disposition: 'wait', cause: err },
        );
      throw err;
    }
  }

  /** Forget a repo's position (operator reset after a halted rewrite): the next check starts at the head. */
  async reset(repo: string, branch: string): Promise<void> {
    await this.kv.delete(cursorKey(repo, branch));
  }
}
