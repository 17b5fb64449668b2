import { existsSync } from 'node:fs';
import { readdir, readFile, stat, truncate, unlink } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { messageOf, retryable } from '@flotilla/errors';
import type { FlotillaEvent } from '@flotilla/events';
import { formatCommitMessage, type GitAuthor, isGitError, Workspace } from '@flotilla/git';
import type { NoteSigner, NoteVerifier } from '@flotilla/trust';
import {
  type AuditFile,
  type AuditRecord,
  buildRecordLine,
  type ChainAnchor,
  ChainWalk,
  DAY_FILE,
  dayFile,
  fileLines,
  GENESIS_HASH,
  nextSegment,
  parseAuditFile,
  type VerifyResult,
} from './chain.ts';
import { type CheckpointEntry, checkpointLine, signCheckpoint } from './checkpoint.ts';
import { commitFiles, commitTrailers, discardUncommitted, removeStaleLocks } from './git-local.ts';
import { type KeptCheckpoint, LogVerifier, type SignedVerifyResult } from './verify-log.ts';

export const TRAILER_FIRST = 'Audit-First-Seq';
export const TRAILER_LAST = 'Audit-Last-Seq';
export const TRAILER_HASH = 'Audit-Last-Hash';

/** The newest signed checkpoint (a signed note), rewritten by every commit. */
export const CHECKPOINT_FILE = 'checkpoint';
/** Every checkpoint with its batch's record hashes, one JSON line per commit, by UTC day. */
export const CHECKPOINT_DIR = 'checkpoints';

/** An event and where it sits in the event stream. */
export interface Incoming {
  event: FlotillaEvent;
  streamSeq?: number | undefined;
}

/**
 * An event `AuditRepo.stage` already chained: its record and line built on the tip of the
 * records staged before it, while an earlier batch was still being committed. `append` uses
 * them when they still continue the committed chain, and builds them again when not.
 */
export interface Staged extends Incoming {
  built?: { record: AuditRecord; line: string };
}

export interface AuditRepoOptions {
  url: string;
  branch: string;
  dir: string;
  author: GitAuthor;
  timeoutMs?: number;
  /**
   * Fetch and rebase onto the remote branch before loading (a new leader whose clone is behind).
   * An unreachable remote is tolerated: the local clone is then the most recent copy we can get.
   */
  syncWithRemote?: boolean;
  log?: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void };
  /** Sign a checkpoint with every commit (off only to measure what signing costs). */
  checkpoint?: { signer: NoteSigner; origin: string };
  /**
   * A log file this size or larger is closed and the next batch starts the day's next segment
   * (`nextSegment`): every commit stores the file it appends to again, so this bounds a commit's
   * cost. Default 1 MiB (`DEFAULT_SEGMENT_MAX_BYTES`).
   */
  segmentMaxBytes?: number;
}

/**
 * A commit stores its segment again (half the size on average) and the tree listing the day's
 * segments (~46 bytes a segment, twice: the log and `checkpoints/`). For a day of D bytes their
 * sum is least near sqrt(92 D): about 0.75 MiB for a day of 100 events/s (~6 GB), 3.3 MiB for
 * 2,000 events/s all day; a delivery pipeline's days are nearer the first (the 4 MiB before
 * stored 4× as much segment per commit there).
 */
export const DEFAULT_SEGMENT_MAX_BYTES = 1024 * 1024;

/** Day files of an audit work tree, relative paths in chain order. */
export async function listDayFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string, depth: number): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      if (e.name === '.git') continue;
      const p = join(d, e.name);
      // YYYY/MM/DD.jsonl and a busy day's segments, YYYY/MM/DD/NNNNNN.jsonl.
      if (e.isDirectory() && depth < 3) await walk(p, depth + 1);
      else if (e.isFile()) {
        const rel = relative(dir, p).split(sep).join('/');
        if (DAY_FILE.test(rel)) out.push(rel);
      }
    }
  };
  if (existsSync(dir)) await walk(dir, 0);
  return out.sort();
}

export async function readAuditFiles(dir: string): Promise<AuditFile[]> {
  const files = await listDayFiles(dir);
  return Promise.all(files.map(async (path) => ({ path, text: await readFile(join(dir, path), 'utf8') })));
}

/** The checkpoints kept in an audit work tree (`checkpoints/YYYY/MM/DD.jsonl`), oldest first. */
export async function readRepoCheckpoints(dir: string): Promise<KeptCheckpoint[]> {
  const root = join(dir, CHECKPOINT_DIR);
  const out: KeptCheckpoint[] = [];
  for (const path of await listDayFiles(root)) {
    const text = await readFile(join(root, path), 'utf8');
    fileLines(text).forEach((line, i) => {
      const source = `repo:${CHECKPOINT_DIR}/${path}:${i + 1}`;
      try {
        out.push({ source, entry: JSON.parse(line) as CheckpointEntry });
      } catch {
        // Kept as is: verification reports it as a malformed checkpoint.
        out.push({ source, entry: { note: line } });
      }
    });
  }
  return out;
}

export interface VerifyDirOptions {
  rev?: string;
  /** Trusted checkpoint keys. Without them only the unkeyed chain is checked (legacy). */
  verifiers?: readonly NoteVerifier[];
  /** Checkpoints kept outside the repo (the checkpoint stream, an auditor's earlier copy). */
  kept?: KeptCheckpoint[];
  origin?: string;
}

/**
 * Verifies an audit clone. With keys: against every signed checkpoint (repo and kept), which
 * catches a rewrite an insider re-hashed. Without: the chain alone, anchored by the HEAD
 * commit's trailers (which such an insider can rewrite too).
 */
export async function verifyAuditDir(
  dir: string,
  opts: VerifyDirOptions = {},
): Promise<SignedVerifyResult | VerifyResult> {
  // One day file in memory at a time: each record is hashed as it is read, checked against the
  // chain and the signed checkpoints, and dropped (bench/audit-writer/verify.ts: 1M records).
  const trailers = existsSync(join(dir, '.git'))
    ? await commitTrailers(dir, opts.rev ?? 'HEAD')
    : new Map<string, string>();
  const seq = Number(trailers.get(TRAILER_LAST));
  const hash = trailers.get(TRAILER_HASH);
  const anchor: ChainAnchor | undefined =
    Number.isInteger(seq) && seq > 0 && hash ? { seq, hash } : undefined;
  const walk = opts.verifiers
    ? new LogVerifier({
        checkpoints: [...(await readRepoCheckpoints(dir)), ...(opts.kept ?? [])],
        verifiers: opts.verifiers,
        ...(opts.origin ? { origin: opts.origin } : {}),
        ...(anchor ? { anchor } : {}),
      })
    : new ChainWalk(anchor);
  let files = 0;
  for (const path of await listDayFiles(dir)) {
    for (const e of parseAuditFile({ path, text: await readFile(join(dir, path), 'utf8') })) walk.push(e);
    files++;
  }
  return walk.finish(files);
}

/** `audit: 3 records (seq 10-12)` + counts by event type, for `git log` readers. */
export function batchMessage(records: AuditRecord[]): string {
  const first = records[0]!;
  const last = records[records.length - 1]!;
  const counts = new Map<string, number>();
  for (const r of records) counts.set(r.event, (counts.get(r.event) ?? 0) + 1);
  const lines = [...counts.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([t, n]) => `${t}: ${n}`);
  const noun = records.length === 1 ? 'record' : 'records';
  const range = first.seq === last.seq ? `seq ${first.seq}` : `seq ${first.seq}-${last.seq}`;
  return `audit: ${records.length} ${noun} (${range})\n\n${lines.join('\n')}`;
}

/**
 * The audit log in its Git clone: the chain state (last seq and hash, the day file written to,
 * every recorded event id for dedupe) and the only way records get in: `append`, which writes
 * the lines, commits them (fsync'd: `commitFiles`, git-local.ts) and only then updates the state.
 */
export class AuditRepo {
  private seq = 0;
  private lastHash = GENESIS_HASH;
  private currentFile: string | undefined;
  private readonly ids = new Set<string>();
  private lock: Promise<unknown> = Promise.resolve();
  private checkpointNote: string | undefined;
  private signing: AuditRepoOptions['checkpoint'];
  /** Staged, not yet committed, in staging order (which is the order batches take them in). */
  private outstanding: Staged[] = [];
  private readonly stagedById = new Map<string, Staged>();
  /** The chain position after the last staged record. */
  private tip = { seq: 0, hash: GENESIS_HASH };
  /** While the state is reloaded after a failed commit: stage() queues without building. */
  private reloading = false;

  private constructor(
    readonly ws: Workspace,
    private readonly opts: AuditRepoOptions,
  ) {
    this.signing = opts.checkpoint;
  }

  /** Signs a checkpoint with every later commit (the key may live in the clone, so after open). */
  signWith(checkpoint: { signer: NoteSigner; origin: string }): void {
    this.signing = checkpoint;
  }

  /**
   * Opens (cloning when needed) the audit repo, discards what a crash left uncommitted and
   * replays the log. `onRecord` sees every recorded record in order (index rebuild).
   */
  static async open(opts: AuditRepoOptions, onRecords: (records: AuditRecord[]) => void): Promise<AuditRepo> {
    if (existsSync(join(opts.dir, '.git'))) {
      const locks = await removeStaleLocks(opts.dir);
      if (locks.length) opts.log?.warn({ locks }, 'removed stale git locks left by a crash');
    }
    const ws = await Workspace.open({
      url: opts.url,
      branch: opts.branch,
      dir: opts.dir,
      author: opts.author,
      fsync: true,
      ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}),
    });
    if (await discardUncommitted(opts.dir)) {
      opts.log?.warn(
        { dir: opts.dir },
        'discarded uncommitted audit lines left by a crash (their events are redelivered)',
      );
    }
    if (opts.syncWithRemote) {
      try {
        await ws.pull();
      } catch (err) {
        // A rebase conflict means two writers forked the log: refuse to write on top of it.
        if (isGitError(err, 'git.rebase-conflict')) throw err;
        opts.log?.warn(
          { err: messageOf(err) },
          'audit remote not reachable at start; continuing from the local clone',
        );
      }
    }
    const repo = new AuditRepo(ws, opts);
    await repo.load(onRecords);
    return repo;
  }

  get lastSeq(): number {
    return this.seq;
  }

  get headHash(): string {
    return this.lastHash;
  }

  get recordCount(): number {
    return this.seq;
  }

  has(id: string): boolean {
    return this.ids.has(id);
  }

  /** The newest signed checkpoint (signed note text), if the log has one. */
  get checkpoint(): string | undefined {
    return this.checkpointNote;
  }

  private async load(onRecords: (records: AuditRecord[]) => void): Promise<void> {
    this.seq = 0;
    this.lastHash = GENESIS_HASH;
    this.ids.clear();
    this.currentFile = undefined;
    for (const path of await listDayFiles(this.opts.dir)) {
      const text = await readFile(join(this.opts.dir, path), 'utf8');
      const records: AuditRecord[] = [];
      for (const line of fileLines(text)) {
        const r = JSON.parse(line) as AuditRecord;
        records.push(r);
        this.ids.add(r.id);
        this.seq = r.seq;
        this.lastHash = r.hash;
      }
      this.currentFile = path;
      onRecords(records);
    }
    const note = join(this.opts.dir, CHECKPOINT_FILE);
    this.checkpointNote = existsSync(note) ? await readFile(note, 'utf8') : undefined;
    this.restage();
  }

  /**
   * Chains an event ahead of its commit: its record is built now, on the tip of what is staged,
   * so that work overlaps the commit in progress instead of following it. Pass what this returns
   * to `append` (a batch is a run of staged events in staging order). An event already recorded
   * or staged gets no record here; `append` counts it as a duplicate.
   */
  stage(incoming: Incoming, at: Date = new Date()): Staged {
    const id = incoming.event.id;
    const already = this.stagedById.get(id);
    if (already) return already;
    const staged: Staged = { event: incoming.event, streamSeq: incoming.streamSeq };
    if (this.ids.has(id)) return staged;
    this.stagedById.set(id, staged);
    this.outstanding.push(staged);
    if (!this.reloading) this.build(staged, at);
    return staged;
  }

  private build(s: Staged, at: Date | string): void {
    s.built = buildRecordLine(s.event, {
      seq: this.tip.seq + 1,
      prevHash: this.tip.hash,
      recordedAt: at,
      streamSeq: s.streamSeq,
    });
    this.tip = { seq: s.built.record.seq, hash: s.built.record.hash };
  }

  /**
   * Builds every outstanding event again on the committed head (after a reload, or when a batch
   * did not continue the chain as staged). Drops those a reload found committed.
   */
  private restage(): void {
    this.tip = { seq: this.seq, hash: this.lastHash };
    const again = this.outstanding;
    this.outstanding = [];
    this.stagedById.clear();
    for (const s of again) {
      if (this.ids.has(s.event.id)) continue;
      this.stagedById.set(s.event.id, s);
      this.outstanding.push(s);
      this.build(s, s.built?.record.recordedAt ?? new Date());
    }
  }

  /** Runs `fn` while no append is in progress (verify reads a consistent tree). */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => undefined);
    return run;
  }

  /**
   * Records the events not recorded yet (dedupe by event id, also within the batch) as one
   * commit. Resolves with the new records once the commit is on disk; on failure the work tree
   * is put back to the last commit and the state reloaded, so a retry starts clean.
   *
   * Staged events (`stage`) whose records continue the committed chain are written as built;
   * otherwise (plain `Incoming`, a batch that crossed midnight, a retry after a failure) the
   * batch's records are built here, stamped `now`, and what is staged after them is rebuilt.
   */
  append(
    events: ReadonlyArray<Incoming | Staged>,
    onReload: (records: AuditRecord[]) => void,
    now: () => Date = () => new Date(),
  ): Promise<{ records: AuditRecord[]; duplicates: number; checkpoint?: CheckpointEntry }> {
    return this.exclusive(async () => {
      const fresh: Array<Incoming | Staged> = [];
      const batchIds = new Set<string>();
      for (const e of events) {
        if (this.ids.has(e.event.id) || batchIds.has(e.event.id)) continue;
        batchIds.add(e.event.id);
        fresh.push(e);
      }
      const duplicates = events.length - fresh.length;
      if (fresh.length === 0) return { records: [], duplicates };

      const signedAt = now();
      let built = this.prebuilt(fresh);
      if (!built) {
        // Built here instead: the records take the next seqs, so everything staged behind them
        // is chained again after them (and a retry of this batch finds its records built).
        let seq = this.seq;
        let prevHash = this.lastHash;
        const staged: Staged[] = [];
        built = fresh.map((e) => {
          const b = buildRecordLine(e.event, {
            seq: ++seq,
            prevHash,
            recordedAt: signedAt,
            streamSeq: e.streamSeq,
          });
          prevHash = b.record.hash;
          if (this.stagedById.get(e.event.id) === e) {
            (e as Staged).built = b;
            staged.push(e as Staged);
          }
          return b;
        });
        const inBatch = new Set<Incoming>(fresh);
        const rest = this.outstanding.filter((s) => !inBatch.has(s) && !this.ids.has(s.event.id));
        this.outstanding = [...staged, ...rest];
        this.tip = { seq, hash: prevHash };
        for (const s of rest) this.build(s, s.built?.record.recordedAt ?? signedAt);
      }
      const records = built.map((b) => b.record);
      // The records' day decides the file; day files only move forward, so a clock stepping back
      // cannot break the file order.
      const today = dayFile(new Date(records[0]!.recordedAt));
      let file = this.currentFile && this.currentFile > today ? this.currentFile : today;
      const sizeOf = async (f: string) => {
        const p = join(this.opts.dir, f);
        return existsSync(p) ? (await stat(p)).size : -1;
      };
      let sizeBefore = await sizeOf(file);
      // A full segment is closed: the batch starts the next one (a batch never spans two files).
      if (sizeBefore >= (this.opts.segmentMaxBytes ?? DEFAULT_SEGMENT_MAX_BYTES)) {
        file = nextSegment(file);
        sizeBefore = await sizeOf(file);
      }
      const full = join(this.opts.dir, file);
      try {
        // A file already in the work tree is tracked (the tree is reset to HEAD after a crash or
        // failed commit), so only new files need `git add`.
        const added: string[] = sizeBefore < 0 ? [file] : [];
        await this.ws.appendFile(file, built.map((b) => b.line).join(''));
        const last = records[records.length - 1]!;
        const files = [file];
        let checkpoint: CheckpointEntry | undefined;
        if (this.signing) {
          // One checkpoint per commit (not per record), signed in the same commit as its records:
          // no moment where the repo holds unsigned ones.
          ({ entry: checkpoint } = signCheckpoint(
            {
              origin: this.signing.origin,
              time: signedAt,
              hashes: records.map((r) => r.hash),
              firstSeq: records[0]!.seq,
            },
            this.signing.signer,
          ));
          const kept = `${CHECKPOINT_DIR}/${file}`;
          if (!existsSync(join(this.opts.dir, kept))) added.push(kept);
          if (!existsSync(join(this.opts.dir, CHECKPOINT_FILE))) added.push(CHECKPOINT_FILE);
          await this.ws.appendFile(kept, checkpointLine(checkpoint));
          await this.ws.writeFile(CHECKPOINT_FILE, checkpoint.note);
          files.push(kept, CHECKPOINT_FILE);
        }
        await commitFiles(
          this.opts.dir,
          files,
          formatCommitMessage(batchMessage(records), {
            [TRAILER_FIRST]: String(records[0]!.seq),
            [TRAILER_LAST]: String(last.seq),
            [TRAILER_HASH]: last.hash,
          }),
          this.opts.author,
          added,
        );
        this.seq = last.seq;
        this.lastHash = last.hash;
        this.currentFile = file;
        if (checkpoint) this.checkpointNote = checkpoint.note;
        for (const r of records) this.ids.add(r.id);
        for (const id of batchIds) this.stagedById.delete(id);
        this.outstanding = this.outstanding.filter((s) => !this.ids.has(s.event.id));
        return { records, duplicates, ...(checkpoint ? { checkpoint } : {}) };
      } catch (err) {
        await this.recover(full, sizeBefore, onReload);
        throw retryable('audit.commit-failed', `committing ${records.length} audit records failed`, {
          cause: err,
        });
      }
    });
  }

  /**
   * The batch's staged records when they continue the committed chain as built (seq, link) and
   * share one UTC day; undefined when the batch must be built again.
   */
  private prebuilt(
    fresh: ReadonlyArray<Incoming | Staged>,
  ): Array<{ record: AuditRecord; line: string }> | undefined {
    const out: Array<{ record: AuditRecord; line: string }> = [];
    let seq = this.seq;
    let prevHash = this.lastHash;
    let day: string | undefined;
    for (const e of fresh) {
      const b = (e as Staged).built;
      if (!b || b.record.seq !== seq + 1 || b.record.prevHash !== prevHash) return undefined;
      const d = b.record.recordedAt.slice(0, 10);
      if (day !== undefined && d !== day) return undefined;
      day = d;
      seq = b.record.seq;
      prevHash = b.record.hash;
      out.push(b);
    }
    return out;
  }

  private async recover(full: string, sizeBefore: number, onReload: (records: AuditRecord[]) => void) {
    try {
      // The commit may or may not have happened: let git decide what is committed.
      await removeStaleLocks(this.opts.dir);
      await discardUncommitted(this.opts.dir);
    } catch (err) {
      this.opts.log?.warn({ err }, 'could not reset the audit work tree; truncating by hand');
      if (sizeBefore < 0) await unlink(full).catch(() => undefined);
      else await truncate(full, sizeBefore).catch(() => undefined);
    }
    const reloaded: AuditRecord[] = [];
    const before = this.seq;
    // Events staged meanwhile wait unbuilt: the chain's head is not known until the reload ends.
    this.reloading = true;
    try {
      await this.load((rs) => reloaded.push(...rs));
    } finally {
      this.reloading = false;
    }
    onReload(reloaded.filter((r) => r.seq > before));
  }
}
