/**
 * `git log` format for {@link parseTrailerLog}: side mark (`<`/`>` with `--left-right`), sha, then
 * the commit's trailers as git itself parses them (`only`: trailer lines, `unfold`: one line each).
 */
export const TRAILER_LOG_FORMAT =
  '%m%H%x1f%(trailers:only,unfold,separator=%x1f,key_value_separator=%x1d)%x1e';

export interface LoggedTrailers {
  /** `<` for a commit only the left side of `a...b` reaches, else `>` (or `-`, a boundary). */
  side: string;
  sha: string;
  trailers: Array<[key: string, value: string]>;
}

/** Parses `git log --format=TRAILER_LOG_FORMAT` output, newest first as git wrote it. Pure. */
export function parseTrailerLog(out: string): LoggedTrailers[] {
  const commits: LoggedTrailers[] = [];
  for (const record of out.split('\x1e')) {
    const text = record.replace(/^\s+/, '');
    if (!text) continue;
    const [head = '', ...fields] = text.replace(/\n$/, '').split('\x1f');
    const side = '<>-'.includes(head.charAt(0)) ? head.charAt(0) : '>';
    const sha = '<>-'.includes(head.charAt(0)) ? head.slice(1) : head;
    if (!/^[0-9a-f]{40,64}$/.test(sha)) continue;
    const trailers: Array<[string, string]> = [];
    for (const kv of fields) {
      const at = kv.indexOf('\x1d');
      if (at > 0) trailers.push([kv.slice(0, at), kv.slice(at + 1).trim()]);
    }
    commits.push({ side, sha, trailers });
  }
  return commits;
}

/**
 * Which commit of one head's history carries trailer `key: value`, for the keys asked about so
 * far: the answer `git log --grep` gives, without a git process per question. A commit id names
 * its whole history, so the index is exact for {@link head} and only ever moves with it: commits
 * added on top are added (ours at commit time, others from `git log old..new`); commits that left
 * the history (a reset past unpushed commits, a rebase) take their values out, and a value that
 * may still be carried by an older commit is marked unsure, answered by a scan when asked.
 * Pure bookkeeping; the workspace runs git.
 */
export class TrailerIndex {
  /** The head whose history is indexed, for every key in `keys`; null: nothing indexed. */
  head: string | null = null;
  /** Lower-cased key → value → newest commit carrying it. */
  private readonly keys = new Map<string, Map<string, string>>();
  /** `key\0value` pairs a commit that left the history carried: an older one may carry them too. */
  private readonly unsure = new Set<string>();

  static slot(key: string, value: string): string {
    return `${key.toLowerCase()}\0${value}`;
  }

  indexes(key: string): boolean {
    return this.keys.has(key.toLowerCase());
  }

  /** The keys indexed, as the full scan that rebuilds them must cover. */
  indexedKeys(): string[] {
    return [...this.keys.keys()];
  }

  /**
   * The newest commit carrying `key: value` in {@link head}'s history: a sha, null (none), or
   * undefined when the index cannot say (key not indexed, or the value is unsure).
   */
  lookup(key: string, value: string): string | null | undefined {
    const values = this.keys.get(key.toLowerCase());
    if (!values || this.unsure.has(TrailerIndex.slot(key, value))) return undefined;
    return values.get(value) ?? null;
  }

  /** What a scan for one unsure value found (null: nothing), so it is not asked again. */
  settle(key: string, value: string, sha: string | null): void {
    this.unsure.delete(TrailerIndex.slot(key, value));
    const values = this.keys.get(key.toLowerCase());
    if (!values) return;
    if (sha) values.set(value, sha);
    else values.delete(value);
  }

  /** Replaces everything with a full scan of `head`'s history (newest first) for `keys`. */
  rebuild(head: string, keys: readonly string[], commits: readonly LoggedTrailers[]): void {
    this.keys.clear();
    this.unsure.clear();
    for (const k of keys) this.keys.set(k.toLowerCase(), new Map());
    // Newest first: the first commit seen with a value is the one to answer.
    for (const c of commits)
      for (const [k, v] of c.trailers) {
        const values = this.keys.get(k.toLowerCase());
        if (values && !values.has(v)) values.set(v, c.sha);
      }
    this.head = head;
  }

  /**
   * Moves to `head` given `git log --left-right old...head` (newest first): `>` commits joined the
   * history, `<` commits left it.
   */
  move(head: string, commits: readonly LoggedTrailers[]): void {
    for (const c of commits) {
      if (c.side !== '<') continue;
      for (const [k, v] of c.trailers) {
        const values = this.keys.get(k.toLowerCase());
        if (values?.get(v) !== c.sha) continue;
        values.delete(v);
        this.unsure.add(TrailerIndex.slot(k, v));
      }
    }
    // Oldest first, so the newest commit carrying a value is the one left standing.
    for (const c of [...commits].reverse()) {
      if (c.side === '<' || c.side === '-') continue;
      for (const [k, v] of c.trailers) {
        const values = this.keys.get(k.toLowerCase());
        if (!values) continue;
        values.set(v, c.sha);
        this.unsure.delete(TrailerIndex.slot(k, v));
      }
    }
    this.head = head;
  }

  /**
   * A commit made on top of {@link head} with these trailers (exactly as written: the workspace's
   * own message format puts them in a paragraph of their own, which git parses as trailers).
   * False when the index was not at its parent: the next lookup catches up through git.
   */
  committed(parent: string | null, sha: string, trailers: Readonly<Record<string, string>>): boolean {
    if (this.head === null || this.head !== parent) return false;
    this.move(sha, [{ side: '>', sha, trailers: Object.entries(trailers) }]);
    return true;
  }

  clear(): void {
    this.head = null;
    this.keys.clear();
    this.unsure.clear();
  }
}
