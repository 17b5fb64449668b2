import { messageOf } from '@flotilla/errors';
import type { NoteVerifier } from '@flotilla/trust';
import {
  type AuditFile,
  type ChainAnchor,
  ChainWalk,
  type Parsed,
  type ParsedLog,
  parseLog,
  type VerifyProblem,
  type VerifyResult,
} from './chain.ts';
import { type Checkpoint, type CheckpointEntry, verifyCheckpoint } from './checkpoint.ts';

/** A checkpoint from somewhere: the audit repo, the JetStream checkpoint stream, an auditor's file. */
export interface KeptCheckpoint {
  /** Where it came from, for messages (`repo:checkpoints/2026/11/30.jsonl:4`, `kept:/tmp/cp.txt`). */
  source: string;
  entry: CheckpointEntry;
}

export interface SignedVerifyResult extends VerifyResult {
  /** Checkpoints whose signature verified. */
  checkpoints: number;
  /** The newest verified checkpoint (the size the log is proven up to). */
  latest?: Checkpoint & { source: string };
}

/**
 * Verifies an audit log against signed checkpoints: the chain must be intact (verifyChain), every
 * record a checkpoint signs must be the one in the log (a rewritten and re-hashed chain differs
 * at its first changed record, which is named), and the newest checkpoint must cover the whole
 * log. Needs only the writer's public key; the repo's own trailers are not trusted. Pure.
 */
export function verifyLog(input: {
  /** The day files, or already parsed. */
  files: AuditFile[] | ParsedLog;
  checkpoints: KeptCheckpoint[];
  verifiers: readonly NoteVerifier[];
  /** The log's origin line; checkpoints of another log are refused. */
  origin?: string;
  anchor?: ChainAnchor;
}): SignedVerifyResult {
  const log = Array.isArray(input.files) ? parseLog(input.files) : input.files;
  const v = new LogVerifier(input);
  for (const e of log.entries) v.push(e);
  return v.finish(log.files);
}

/**
 * Every record hash the checkpoints sign, by seq: 32 raw bytes and the index of the first
 * checkpoint that signed it. About 36 bytes a record, where a Map of hash strings held ~1 KiB.
 */
class SignedHashes {
  private raw = Buffer.alloc(0);
  /** Checkpoint index + 1 per seq; 0: no checkpoint signs it. */
  private owner = new Uint32Array(0);
  /** Seqs far beyond the dense range (only a checkpoint with an odd size): kept apart. */
  private readonly sparse = new Map<number, { hash: string; owner: number }>();

  /** Dense storage grows with the log it covers, never by a jump to one huge seq. */
  private dense(seq: number): boolean {
    if (seq < this.owner.length) return true;
    if (seq > this.owner.length * 2 + 1_048_576) return false;
    const size = Math.max(seq + 1, this.owner.length * 2, 1024);
    const owner = new Uint32Array(size);
    owner.set(this.owner);
    const raw = Buffer.alloc(size * 32);
    this.raw.copy(raw);
    this.owner = owner;
    this.raw = raw;
    return true;
  }

  /** The index of the checkpoint that signed `seq` first, or undefined. */
  ownerOf(seq: number): number | undefined {
    if (seq >= this.owner.length) return this.sparse.get(seq)?.owner;
    const o = this.owner[seq]!;
    return o === 0 ? undefined : o - 1;
  }

  hashOf(seq: number): string {
    if (seq >= this.owner.length) return this.sparse.get(seq)?.hash ?? '';
    return `sha256:${this.raw.toString('hex', seq * 32, seq * 32 + 32)}`;
  }

  set(seq: number, hash: string, checkpoint: number): void {
    if (!this.dense(seq)) {
      this.sparse.set(seq, { hash, owner: checkpoint });
      return;
    }
    this.raw.write(hash.slice(7), seq * 32, 32, 'hex');
    this.owner[seq] = checkpoint + 1;
  }
}

/**
 * `verifyLog` one parsed line at a time (in chain order), so `verifyAuditDir` can read a log of
 * any size one day file at a time: the checkpoints are checked first, then each record in place is
 * compared with the hash a checkpoint signed for it as it goes by.
 */
export class LogVerifier {
  private readonly walk: ChainWalk;
  private readonly signed = new SignedHashes();
  private readonly sources: Array<{ source: string; checkpoint: Checkpoint }> = [];
  private latest: (Checkpoint & { source: string }) | undefined;
  private bad: VerifyProblem | undefined;
  private rewritten: VerifyProblem | undefined;
  private readonly count: number;

  constructor(input: {
    checkpoints: KeptCheckpoint[];
    verifiers: readonly NoteVerifier[];
    origin?: string;
    anchor?: ChainAnchor;
  }) {
    this.count = input.checkpoints.length;
    this.bad = this.loadCheckpoints(input.checkpoints, input.verifiers, input.origin);
    this.walk = new ChainWalk(input.anchor, {
      ...(this.latest ? { keepIndex: this.latest.size } : {}),
      // Records past the chain's own first problem need no look: that problem comes first anyway.
      onIntact: (e) => {
        if (this.rewritten || this.bad) return;
        const seq = e.record.seq;
        const owner = this.signed.ownerOf(seq);
        if (owner === undefined) return;
        const hash = this.signed.hashOf(seq);
        if (hash === e.record.hash) return;
        const { source, checkpoint: cp } = this.sources[owner]!;
        this.rewritten = {
          kind: 'rewritten',
          file: e.file,
          line: e.line,
          seq,
          expectedSeq: seq,
          message:
            `record seq ${seq} (${e.file}:${e.line}, event ${e.record.id}) is not the record the writer signed: ` +
            `checkpoint ${cp.size} of ${cp.time} (${source}) signs hash ${hash}, the log holds ${e.record.hash}. ` +
            'It was edited, removed or replaced and the chain re-hashed after it.',
        };
      },
    });
  }

  /** 1. Every kept checkpoint must verify; together they give the signed hash of many seqs. */
  private loadCheckpoints(
    checkpoints: KeptCheckpoint[],
    verifiers: readonly NoteVerifier[],
    origin: string | undefined,
  ): VerifyProblem | undefined {
    for (const kept of checkpoints) {
      let verified: ReturnType<typeof verifyCheckpoint>;
      try {
        verified = verifyCheckpoint(kept.entry, verifiers, origin);
      } catch (err) {
        return {
          kind: 'bad-checkpoint',
          file: kept.source,
          line: 0,
          message: `checkpoint from ${kept.source} does not verify: ${messageOf(err)}`,
        };
      }
      const cp = verified.checkpoint;
      const index = this.sources.push({ source: kept.source, checkpoint: cp }) - 1;
      for (const [seq, hash] of [...verified.hashes].sort(([a], [b]) => a - b)) {
        const other = this.signed.ownerOf(seq);
        if (other !== undefined && this.signed.hashOf(seq) !== hash)
          return {
            kind: 'bad-checkpoint',
            file: kept.source,
            line: 0,
            seq,
            message: `two signed checkpoints disagree about record seq ${seq} (${this.sources[other]!.source} and ${kept.source}): the log was forked or the signing key misused`,
          };
        if (other === undefined) this.signed.set(seq, hash, index);
      }
      if (!this.latest || cp.size > this.latest.size) this.latest = { ...cp, source: kept.source };
    }
    return undefined;
  }

  push(e: Parsed): void {
    this.walk.push(e);
  }

  finish(files: number): SignedVerifyResult {
    const chain = this.walk.finish(files);
    const fail = (problem: VerifyProblem, extra: Partial<SignedVerifyResult> = {}): SignedVerifyResult => {
      const { problem: _p, ...rest } = chain;
      return { ...rest, ok: false, checkpoints: 0, ...extra, problem };
    };
    if (this.bad) return fail(this.bad);
    const latest = this.latest;
    const counted = { checkpoints: this.count, ...(latest ? { latest } : {}) };
    // 2. The first record (in chain order) that is not the one a checkpoint signed.
    if (this.rewritten) return fail(this.rewritten, counted);
    if (!chain.ok) return { ...chain, ...counted };

    // 3. Coverage: the newest checkpoint must vouch for every record, and no record it vouches for may be gone.
    const size = chain.head?.seq ?? 0;
    if (!latest) {
      if (size === 0) return { ...chain, ...counted };
      const first = this.walk.first!;
      return fail(
        {
          kind: 'unsigned',
          file: first.file,
          line: first.line,
          seq: 1,
          message: `no signed checkpoint covers this log (records 1..${size}); it cannot be told apart from a rewrite`,
        },
        counted,
      );
    }
    if (latest.size > size) {
      const last = this.walk.last;
      return fail(
        {
          kind: 'truncated',
          file: last?.file ?? '',
          line: last ? last.line + 1 : 1,
          expectedSeq: size + 1,
          message: `checkpoint ${latest.size} (${latest.source}) is signed but the log ends at seq ${size}: records ${size + 1}..${latest.size} were removed`,
        },
        counted,
      );
    }
    if (latest.size < size) {
      const e = this.walk.kept!;
      return fail(
        {
          kind: 'unsigned',
          file: e.file,
          line: e.line,
          seq: latest.size + 1,
          message: `records ${latest.size + 1}..${size} are not covered by any signed checkpoint (newest: ${latest.size} from ${latest.source}); they may have been appended by someone else`,
        },
        counted,
      );
    }
    return { ...chain, ...counted };
  }
}
