import { createHash } from 'node:crypto';
import type { FlotillaEvent } from '@flotilla/events';
import { canonicalJson } from '@flotilla/manifests';
import { eventName, type Summary, summarize } from './summary.ts';

// Canonical JSON has one home (@flotilla/manifests: sorted keys, RFC 8785 for JSON data); the
// audit chain depends on it byte for byte, so it is re-exported here for verifiers.
export { canonicalJson };

/** prevHash of the very first record. */
export const GENESIS_HASH = `sha256:${'0'.repeat(64)}`;

export interface AuditRecord extends Summary {
  /** Position in the log, 1-based, contiguous across files. */
  seq: number;
  id: string;
  type: string;
  /** Short event name (`PlanCreated`), for people reading the file. */
  event: string;
  /** When the event happened (producer clock). */
  time: string;
  /**
   * When the audit writer chained it: as it arrived (staged while the previous commit ran), or
   * when its batch was built again. Decides the day file; at most a batch's wait before its commit.
   */
  recordedAt: string;
  source: string;
  actor: string;
  subject?: string;
  correlationid: string;
  causationid?: string;
  data: unknown;
  /**
   * Sequence of the event in the JetStream event stream (absent in logs written before it was
   * recorded). Lets gaps be found: a stream sequence that never became a record.
   */
  streamSeq?: number;
  prevHash: string;
  /** sha256 over the canonical JSON of every other field (prevHash included). */
  hash: string;
}

export type UnhashedRecord = Omit<AuditRecord, 'hash'>;

export function sha256(text: string): string {
  return `sha256:${createHash('sha256').update(text).digest('hex')}`;
}

export function hashRecord(record: UnhashedRecord | AuditRecord): string {
  const { hash: _ignored, ...rest } = record as AuditRecord;
  return sha256(canonicalJson(rest));
}

/**
 * Builds the next record of the chain for an event. Pure: same inputs, same bytes.
 *
 * The record's line (`recordLine`) is made here too, from the same canonicalised members: the
 * hashed text and the line differ only by the `hash` member, so each field is canonicalised once
 * instead of twice (canonical JSON was the writer's largest CPU cost per event).
 */
export function buildRecord(
  event: FlotillaEvent,
  at: { seq: number; prevHash: string; recordedAt: Date; streamSeq?: number | undefined },
): AuditRecord {
  const { record, line } = buildRecordLine(event, at);
  lines.set(record, line);
  return record;
}

/**
 * `buildRecord` with the record's line handed back beside it, for the writer, which writes the
 * line at once (no WeakMap entry per record for the garbage collector to trace).
 */
export function buildRecordLine(
  event: FlotillaEvent,
  at: { seq: number; prevHash: string; recordedAt: Date | string; streamSeq?: number | undefined },
): { record: AuditRecord; line: string } {
  const unhashed: UnhashedRecord = {
    seq: at.seq,
    id: event.id,
    type: event.type,
    event: eventName(event.type),
    time: event.time,
    recordedAt: typeof at.recordedAt === 'string' ? at.recordedAt : at.recordedAt.toISOString(),
    source: event.source,
    actor: event.actor,
    correlationid: event.correlationid,
    ...summarize(event),
    data: event.data ?? null,
    prevHash: at.prevHash,
  };
  if (event.subject !== undefined) unhashed.subject = event.subject;
  if (event.causationid !== undefined) unhashed.causationid = event.causationid;
  if (at.streamSeq !== undefined) unhashed.streamSeq = at.streamSeq;
  // What canonicalJson writes for an object: its defined members, keys sorted, `"key":value`.
  // The members before `hash` and after it, so the line is the hashed text with it inserted.
  const before: string[] = [];
  const after: string[] = [];
  for (const key of Object.keys(unhashed).sort()) {
    const v = (unhashed as unknown as Record<string, unknown>)[key];
    if (v !== undefined) (key < 'hash' ? before : after).push(`${JSON.stringify(key)}:${canonicalJson(v)}`);
  }
  const head = before.join(',');
  const tail = after.join(',');
  const sep = head && tail ? ',' : '';
  const hash = sha256(`{${head}${sep}${tail}}`);
  const record: AuditRecord = { ...unhashed, hash };
  const member = `"hash":${JSON.stringify(hash)}`;
  return { record, line: `{${head ? `${head},` : ''}${member}${tail ? `,${tail}` : ''}}\n` };
}

/** Lines of the records `buildRecord` made, so appending one does not canonicalise it again. */
const lines = new WeakMap<AuditRecord, string>();

/** One record per line; the line is the record's own canonical JSON. */
export function recordLine(record: AuditRecord): string {
  return lines.get(record) ?? `${canonicalJson(record)}\n`;
}

/** `YYYY/MM/DD.jsonl` (UTC) of a moment: the first file of its day. */
export function dayFile(at: Date): string {
  const iso = at.toISOString();
  return `${iso.slice(0, 4)}/${iso.slice(5, 7)}/${iso.slice(8, 10)}.jsonl`;
}

/**
 * A day's later files, `YYYY/MM/DD/000001.jsonl` on. Git stores a whole file again (hashed and
 * compressed) with every commit that appends to it, so a commit's cost grew with the size of its
 * day file (about 75 ms per MB on the loaded bench box) until a busy day made every commit take
 * seconds. The writer moves on to the next segment once one is full. The names sort in chain
 * order: `DD.jsonl` < `DD/000001.jsonl` < `DD/000002.jsonl` < the next day's.
 */
export function nextSegment(file: string): string {
  const first = /^(\d{4}\/\d{2}\/\d{2})\.jsonl$/.exec(file);
  if (first) return `${first[1]}/000001.jsonl`;
  const later = /^(\d{4}\/\d{2}\/\d{2})\/(\d{6})\.jsonl$/.exec(file);
  if (!later) throw new Error(`not an audit log file: ${file}`);
  const n = Number(later[2]);
  // Past the last name that sorts right the segment just keeps growing (a million full ones).
  return n >= 999_999 ? file : `${later[1]}/${String(n + 1).padStart(6, '0')}.jsonl`;
}

/** An audit log file: a day's first file or one of its later segments. */
export const DAY_FILE = /^\d{4}\/\d{2}\/\d{2}(?:\.jsonl|\/\d{6}\.jsonl)$/;

/** Day files in chain order (the names sort chronologically). */
export function sortDayFiles(paths: string[]): string[] {
  return paths.filter((p) => DAY_FILE.test(p)).sort();
}

// ---- verification --------------------------------------------------------------------------

export interface AuditFile {
  /** Path relative to the audit repo, e.g. `2026/11/26.jsonl`. */
  path: string;
  text: string;
}

export type ProblemKind =
  | 'malformed'
  | 'edited'
  | 'removed'
  | 'reordered'
  | 'truncated'
  /** Consistent chain, but not the one a signed checkpoint vouched for (rewritten and re-hashed). */
  | 'rewritten'
  /** Records no signed checkpoint covers (or no checkpoint at all). */
  | 'unsigned'
  /** A kept checkpoint is forged, malformed, for another log, or two checkpoints disagree. */
  | 'bad-checkpoint';

export interface VerifyProblem {
  kind: ProblemKind;
  file: string;
  /** 1-based line in `file`. */
  line: number;
  /** seq found on that line (absent when the line does not parse). */
  seq?: number;
  expectedSeq?: number;
  message: string;
}

export interface VerifyResult {
  ok: boolean;
  files: number;
  records: number;
  /** Last record of an intact chain (or of the intact prefix). */
  head?: { seq: number; hash: string };
  problem?: VerifyProblem;
}

/** The last record a commit vouches for (commit trailers); catches removal of the newest lines. */
export interface ChainAnchor {
  seq: number;
  hash: string;
}

/**
 * What verification keeps of a record: its place in the chain, not its content. The content is
 * hashed as the line is read and dropped, so a million-record log verifies in bounded memory.
 */
export type ChainRecord = Pick<AuditRecord, 'seq' | 'id' | 'hash' | 'prevHash'>;

export interface Parsed {
  file: string;
  line: number;
  record?: ChainRecord;
  /** The record's content still hashes to its `hash`. */
  hashOk?: boolean;
  error?: string;
}

/** Parses one day file into chain entries (each record hashed once, its content not kept). */
export function parseAuditFile(f: AuditFile, into: Parsed[] = []): Parsed[] {
  const lines = fileLines(f.text);
  for (let i = 0; i < lines.length; i++) {
    const { record, error } = parseLine(lines[i] as string);
    if (!record) into.push({ file: f.path, line: i + 1, error: error as string });
    else
      into.push({
        file: f.path,
        line: i + 1,
        record: { seq: record.seq, id: record.id, hash: record.hash, prevHash: record.prevHash },
        hashOk: lineHashOk(lines[i] as string, record),
      });
  }
  return into;
}

/**
 * `hashRecord(record) === record.hash`, for a record parsed from `line`, mostly without
 * canonicalising it again (about half of verify's time per record). The writer's line is the
 * record's canonical JSON, and the text it hashed is that line without its one top-level
 * `,"hash":"…"` member; so when the line minus that member (found exactly once) hashes to
 * `hash`, the line is what the writer wrote (sha256 collision resistance) and its content hashes
 * to it too. Anything else (a re-serialised or edited line) gets the full check: same answer.
 */
export function lineHashOk(line: string, record: AuditRecord): boolean {
  const member = `,"hash":${JSON.stringify(record.hash)}`;
  const at = line.indexOf(member);
  if (
    at > 0 &&
    at === line.lastIndexOf(member) &&
    sha256(line.slice(0, at) + line.slice(at + member.length)) === record.hash
  )
    return true;
  return hashRecord(record) === record.hash;
}

function parseLine(text: string): { record?: AuditRecord; error?: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { error: `not JSON: ${(err as Error).message}` };
  }
  const r = value as AuditRecord;
  if (
    !r ||
    typeof r !== 'object' ||
    !Number.isInteger(r.seq) ||
    typeof r.hash !== 'string' ||
    typeof r.prevHash !== 'string' ||
    typeof r.id !== 'string'
  ) {
    return { error: 'not an audit record (seq, id, prevHash, hash required)' };
  }
  return { record: r };
}

/** Splits a day file into lines; a missing final newline still counts as a line. */
export function fileLines(text: string): string[] {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/** Day files parsed in chain order (path order), ready for verifyChain / verifyLog. */
export interface ParsedLog {
  files: number;
  entries: Parsed[];
}

export function parseLog(files: AuditFile[]): ParsedLog {
  const ordered = [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const entries: Parsed[] = [];
  for (const f of ordered) parseAuditFile(f, entries);
  return { files: ordered.length, entries };
}

/**
 * Recomputes the chain over the day files in order and reports the first record that was
 * edited (its hash no longer matches, or its link to the previous record is broken), removed
 * (a seq is missing), or reordered (a seq appears out of place). Pure.
 */
export function verifyChain(
  files: AuditFile[] | ParsedLog,
  anchor?: ChainAnchor,
  /** Receives the parsed lines, in chain order. */
  out?: { entries?: Parsed[] },
): VerifyResult {
  const log = Array.isArray(files) ? parseLog(files) : files;
  if (out) out.entries = log.entries;
  const walk = new ChainWalk(anchor);
  for (const e of log.entries) walk.push(e);
  return walk.finish(log.files);
}

/** A parsed line whose record is in place in the chain. */
export type IntactEntry = Parsed & { record: ChainRecord };

/**
 * `verifyChain` one line at a time, in chain order: keeps the chain's head, the first problem
 * and a few lines it may have to name, never the lines themselves, so a log of any size verifies
 * in the memory of one day file (the caller reads and drops them).
 */
export class ChainWalk {
  /** Lines seen (records and malformed lines). */
  count = 0;
  first: Parsed | undefined;
  last: Parsed | undefined;
  private expectedSeq = 1;
  private prevHash = GENESIS_HASH;
  private head: { seq: number; hash: string } | undefined;
  private problem: VerifyProblem | undefined;
  /** A seq out of place: where the seq due there turns up later decides reordered vs removed. */
  private misplaced: { at: Parsed; seq: number; expectedSeq: number; dueAt?: Parsed } | undefined;
  /** The first line holding the anchored seq. */
  private anchored: Parsed | undefined;
  /** The line at index `opts.keepIndex` (0-based), for a caller that must name it afterwards. */
  kept: Parsed | undefined;

  constructor(
    private readonly anchor?: ChainAnchor,
    private readonly opts: {
      /** Each record found in place, in order (before any problem). */
      onIntact?: (e: IntactEntry) => void;
      keepIndex?: number;
    } = {},
  ) {}

  push(e: Parsed): void {
    if (this.count === this.opts.keepIndex) this.kept = e;
    this.count++;
    this.first ??= e;
    this.last = e;
    const r = e.record;
    if (r && this.anchor && !this.anchored && r.seq === this.anchor.seq) this.anchored = e;
    if (this.misplaced) {
      if (!this.misplaced.dueAt && r?.seq === this.misplaced.expectedSeq) this.misplaced.dueAt = e;
      return;
    }
    if (this.problem) return;
    const expectedSeq = this.expectedSeq;
    const at = { file: e.file, line: e.line };
    if (!r) {
      this.problem = {
        kind: 'malformed',
        ...at,
        expectedSeq,
        message: `line is not a valid record: ${e.error}`,
      };
      return;
    }
    if (!e.hashOk) {
      this.problem = {
        kind: 'edited',
        ...at,
        seq: r.seq,
        expectedSeq,
        message: `record seq ${r.seq} was edited: its content no longer matches its hash`,
      };
      return;
    }
    if (r.seq !== expectedSeq) {
      this.misplaced = { at: e, seq: r.seq, expectedSeq };
      return;
    }
    if (r.prevHash !== this.prevHash) {
      this.problem = {
        kind: 'edited',
        ...at,
        seq: r.seq,
        expectedSeq,
        message: `record seq ${r.seq} does not link to seq ${r.seq - 1}: one of them was rewritten and re-hashed`,
      };
      return;
    }
    this.prevHash = r.hash;
    this.head = { seq: r.seq, hash: r.hash };
    this.expectedSeq++;
    this.opts.onIntact?.(e as IntactEntry);
  }

  finish(files: number): VerifyResult {
    const result = (problem?: VerifyProblem): VerifyResult => ({
      ok: !problem,
      files,
      records: this.count,
      ...(this.head ? { head: this.head } : {}),
      ...(problem ? { problem } : {}),
    });
    if (this.problem) return result(this.problem);
    const m = this.misplaced;
    if (m) {
      const at = { file: m.at.file, line: m.at.line };
      const where = m.dueAt;
      if (where || m.seq < m.expectedSeq) {
        return result({
          kind: 'reordered',
          ...at,
          seq: m.seq,
          expectedSeq: m.expectedSeq,
          message: where
            ? `record seq ${m.seq} is out of order: seq ${m.expectedSeq} belongs here but is at ${where.file}:${where.line}`
            : `record seq ${m.seq} is out of order: expected seq ${m.expectedSeq}`,
        });
      }
      const missing = m.seq - m.expectedSeq;
      return result({
        kind: 'removed',
        ...at,
        seq: m.seq,
        expectedSeq: m.expectedSeq,
        message:
          missing === 1
            ? `record seq ${m.expectedSeq} was removed (it belongs just before this line)`
            : `records seq ${m.expectedSeq}..${m.seq - 1} were removed (they belong just before this line)`,
      });
    }
    const anchor = this.anchor;
    if (anchor && anchor.seq > 0) {
      const last = this.last;
      const lastSeq = this.head?.seq ?? 0;
      if (lastSeq < anchor.seq) {
        return result({
          kind: 'truncated',
          file: last?.file ?? '',
          line: last ? last.line + 1 : 1,
          expectedSeq: lastSeq + 1,
          message: `the log ends at seq ${lastSeq} but the last commit records seq ${anchor.seq}: records ${lastSeq + 1}..${anchor.seq} were removed`,
        });
      }
      const e = this.anchored;
      if (e?.record && e.record.hash !== anchor.hash) {
        return result({
          kind: 'edited',
          file: e.file,
          line: e.line,
          seq: anchor.seq,
          expectedSeq: anchor.seq,
          message: `record seq ${anchor.seq} differs from the one its commit recorded (hash ${anchor.hash})`,
        });
      }
    }
    return result();
  }
}
