import { messageOf } from '@flotilla/errors';
import type { NoteVerifier } from '@flotilla/trust';
import {
  type AuditFile,
  type ChainAnchor,
  type Parsed,
  type ParsedLog,
  type VerifyProblem,
  type VerifyResult,
  verifyChain,
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
  /** The day files, or already parsed (verifyAuditDir reads them one at a time). */
  files: AuditFile[] | ParsedLog;
  checkpoints: KeptCheckpoint[];
  verifiers: readonly NoteVerifier[];
  /** The log's origin line; checkpoints of another log are refused. */
  origin?: string;
  anchor?: ChainAnchor;
}): SignedVerifyResult {
  const out: { entries?: Parsed[] } = {};
  const chain = verifyChain(input.files, input.anchor, out);
  const entries = out.entries ?? [];
  const fail = (problem: VerifyProblem, extra: Partial<SignedVerifyResult> = {}): SignedVerifyResult => {
    const { problem: _p, ...rest } = chain;
    return { ...rest, ok: false, checkpoints: 0, ...extra, problem };
  };

  // 1. Every kept checkpoint must verify; together they give the signed hash of many seqs.
  const signed = new Map<number, { hash: string; source: string; checkpoint: Checkpoint }>();
  let latest: (Checkpoint & { source: string }) | undefined;
  for (const kept of input.checkpoints) {
    let verified: ReturnType<typeof verifyCheckpoint>;
    try {
      verified = verifyCheckpoint(kept.entry, input.verifiers, input.origin);
    } catch (err) {
      return fail({
        kind: 'bad-checkpoint',
        file: kept.source,
        line: 0,
        message: `checkpoint from ${kept.source} does not verify: ${messageOf(err)}`,
      });
    }
    const cp = verified.checkpoint;
    for (const [seq, hash] of [...verified.hashes].sort(([a], [b]) => a - b)) {
      const other = signed.get(seq);
      if (other && other.hash !== hash)
        return fail({
          kind: 'bad-checkpoint',
          file: kept.source,
          line: 0,
          seq,
          message: `two signed checkpoints disagree about record seq ${seq} (${other.source} and ${kept.source}): the log was forked or the signing key misused`,
        });
      if (!other) signed.set(seq, { hash, source: kept.source, checkpoint: cp });
    }
    if (!latest || cp.size > latest.size) latest = { ...cp, source: kept.source };
  }
  const counted = { checkpoints: input.checkpoints.length, ...(latest ? { latest } : {}) };

  // 2. The first record (in chain order) that is not the one a checkpoint signed. Records past
  // the chain's own first problem need no look: that problem comes first anyway.
  const intact = chain.head?.seq ?? 0;
  for (let i = 0; i < intact; i++) {
    const e = entries[i]!;
    const want = signed.get(i + 1);
    if (want && e.record && want.hash !== e.record.hash) {
      const cp = want.checkpoint;
      return fail(
        {
          kind: 'rewritten',
          file: e.file,
          line: e.line,
          seq: e.record.seq,
          expectedSeq: i + 1,
          message:
            `record seq ${i + 1} (${e.file}:${e.line}, event ${e.record.id}) is not the record the writer signed: ` +
            `checkpoint ${cp.size} of ${cp.time} (${want.source}) signs hash ${want.hash}, the log holds ${e.record.hash}. ` +
            'It was edited, removed or replaced and the chain re-hashed after it.',
        },
        counted,
      );
    }
  }
  if (!chain.ok) return { ...chain, ...counted };

  // 3. Coverage: the newest checkpoint must vouch for every record, and no record it vouches for may be gone.
  const size = chain.head?.seq ?? 0;
  if (!latest) {
    if (size === 0) return { ...chain, ...counted };
    const first = entries[0]!;
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
    const last = entries[entries.length - 1];
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
    const e = entries[latest.size]!;
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
