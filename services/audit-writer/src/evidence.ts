import { FlotillaError } from '@flotilla/errors';
import type { NoteVerifier } from '@flotilla/trust';
import { parseNote } from '@flotilla/trust';
import { type AuditRecord, canonicalJson, hashRecord, sha256 } from './chain.ts';
import { type CheckpointEntry, parseCheckpoint, verifyCheckpoint } from './checkpoint.ts';
import { type ProductionChange, productionChanges } from './export.ts';
import { AuditIndex, approverIsNotAuthor } from './projection.ts';

/**
 * How a change reached production, as SOC 2 change management classifies it: `standard`
 * (through the pipeline, approved by someone other than its author), `emergency` (break-glass:
 * separation of duties waived, reviewed afterwards), `rollback` (back to a known-good revision).
 */
export type ChangeClass = 'standard' | 'emergency' | 'rollback';

export interface EvidenceChange extends ProductionChange {
  classification: ChangeClass;
  /** An approval exists and was given before the deployment started. */
  approved: boolean;
  /** The held-change approval (ChangeApproved) of a direct edit, emergency or not. */
  changeApproval?: {
    changeId: string;
    approver: string;
    kind: 'standard' | 'emergency';
    reason?: string;
    at: string;
  };
  /** The planner's signature over the plan (what the applier verified before applying). */
  planSignature?: { alg: string; keyId: string; value: string };
  /** Image digests deployed (from the promotion), the immutable identity of what ran. */
  imageDigests: string[];
}

/**
 * Which exported fields hold what, so the receiver can handle them (GDPR: identities are personal
 * data; free text can hold anything and is reviewed before wider sharing).
 */
export const FIELD_CLASSES: Record<string, 'identity' | 'free-text' | 'change' | 'proof'> = {
  commitAuthor: 'identity',
  changeAuthor: 'identity',
  approvers: 'identity',
  rollbackBy: 'identity',
  'changeApproval.approver': 'identity',
  'records[].actor': 'identity',
  'records[].data (authors, committers, emails)': 'identity',
  commitMessage: 'free-text',
  rollbackReason: 'free-text',
  'changeApproval.reason': 'free-text',
  applyError: 'free-text',
  changeId: 'change',
  classification: 'change',
  changeType: 'change',
  cluster: 'change',
  stage: 'change',
  configRepo: 'change',
  configCommit: 'change',
  sourceRevision: 'change',
  promotionId: 'change',
  images: 'change',
  imageDigests: 'change',
  approvedAt: 'change',
  approved: 'change',
  approvedBeforeDeploy: 'change',
  approverIsNotAuthor: 'change',
  applyResult: 'change',
  applyStartedAt: 'change',
  applyFinishedAt: 'change',
  health: 'change',
  planDigest: 'proof',
  planSignature: 'proof',
  commitSignature: 'proof',
  evidenceSeqs: 'proof',
  records: 'proof',
  checkpoints: 'proof',
};

export interface EvidenceMetadata {
  kind: 'flotilla.change-evidence.v1';
  period: { since: string | null; until: string | null };
  stages: string[];
  /** The change asked for (commit, promotion, plan or change id), when one was. */
  selector: string | null;
  generatedAt: string;
  recordCount: number;
  counts: Record<ChangeClass, number>;
  query: string;
  fieldClasses: typeof FIELD_CLASSES;
  /** The log the package was cut from: every embedded record is proven against `checkpoints`. */
  auditLog: { records: number; headSeq: number; headHash: string | null };
  /** sha256 over the canonical JSON of `{ metadata (without sha256), changes, records, checkpoints }`. */
  sha256: string;
}

export interface EvidencePackage {
  metadata: EvidenceMetadata;
  changes: EvidenceChange[];
  /** The audit records every change cites (by seq), whole, so their hashes can be recomputed. */
  records: AuditRecord[];
  /** Signed checkpoints whose batches list the records' hashes (the inclusion proof). */
  checkpoints: CheckpointEntry[];
}

export interface EvidenceOptions {
  since?: string;
  until?: string;
  stages: string[];
  selector?: string;
  now?: Date;
}

type Data = Record<string, unknown>;

/** Does `c` match a selector: its commit (or prefix), source revision, promotion, plan or change id? */
function selects(c: EvidenceChange, selector: string): boolean {
  const s = selector.toLowerCase();
  const shaLike = /^[0-9a-f]{7,40}$/.test(s);
  return (
    (shaLike && (c.configCommit.startsWith(s) || (c.sourceRevision ?? '').startsWith(s))) ||
    c.promotionId === selector ||
    c.changeId === selector ||
    c.changeApproval?.changeId === selector
  );
}

/**
 * The evidence package for the production changes in a period (or one change): each change with
 * its commit, author, approvals, plan digest and signature, apply result and classification,
 * plus the audit records it rests on and the signed checkpoints that prove those records are in
 * the log. `verifyEvidence` checks it offline with the writer's public key alone.
 */
export function buildEvidence(
  records: readonly AuditRecord[],
  checkpoints: readonly CheckpointEntry[],
  opts: EvidenceOptions,
): EvidencePackage {
  const index = new AuditIndex();
  index.apply(records);
  const bySeq = new Map(records.map((r) => [r.seq, r]));
  const approvals = new Map<string, AuditRecord>();
  for (const r of records)
    if (r.event === 'ChangeApproved') {
      const d = r.data as Data;
      approvals.set(`${d.cluster}@${d.revision}`, r);
    }
  let changes: EvidenceChange[] = productionChanges(index, {
    productionStages: opts.stages,
    ...(opts.since ? { since: opts.since } : {}),
    ...(opts.until ? { until: opts.until } : {}),
  }).map((c) => {
    const plan = index.plans.get(c.changeId);
    const planData = (plan ? bySeq.get(plan.seq)?.data : undefined) as Data | undefined;
    const signature = planData?.signature as EvidenceChange['planSignature'] | undefined;
    const held = approvals.get(`${c.cluster}@${c.configCommit}`);
    const out: EvidenceChange = {
      ...c,
      classification: c.changeType === 'rollback' ? 'rollback' : 'standard',
      approved: false,
      imageDigests: (c.images ?? []).map((i) => i.slice(i.lastIndexOf('@') + 1)),
      ...(signature ? { planSignature: signature } : {}),
    };
    if (held) {
      const d = held.data as Data;
      const kind = d.kind === 'emergency' ? 'emergency' : 'standard';
      out.changeApproval = {
        changeId: String(d.changeId),
        approver: String(d.approver),
        kind,
        ...(typeof d.reason === 'string' ? { reason: d.reason } : {}),
        at: held.time,
      };
      if (kind === 'emergency') out.classification = 'emergency';
      out.approvers = [...new Set([...out.approvers, String(d.approver)])];
      const authors = Array.isArray(d.authors) ? (d.authors as string[]) : [];
      out.approverIsNotAuthor = authors.every((email) =>
        approverIsNotAuthor(String(d.approver), { name: '', email }),
      );
      if (!out.approvedAt || held.time > out.approvedAt) out.approvedAt = held.time;
      const deployStart = out.applyStartedAt ?? out.applyFinishedAt;
      if (deployStart) out.approvedBeforeDeploy = out.approvedAt <= deployStart;
      out.evidenceSeqs = [...new Set([...out.evidenceSeqs, held.seq])].sort((a, b) => a - b);
    }
    out.approved = out.approvers.length > 0 && out.approvedBeforeDeploy !== false;
    return out;
  });
  if (opts.selector) changes = changes.filter((c) => selects(c, opts.selector as string));
  const cited = [...new Set(changes.flatMap((c) => c.evidenceSeqs))].sort((a, b) => a - b);
  const embedded = cited.flatMap((s) => bySeq.get(s) ?? []);
  const proofs = proofCheckpoints(embedded, checkpoints);
  const head = records[records.length - 1];
  const counts: Record<ChangeClass, number> = { standard: 0, emergency: 0, rollback: 0 };
  for (const c of changes) counts[c.classification]++;
  const meta: Omit<EvidenceMetadata, 'sha256'> = {
    kind: 'flotilla.change-evidence.v1',
    period: { since: opts.since ?? null, until: opts.until ?? null },
    stages: opts.stages,
    selector: opts.selector ?? null,
    generatedAt: (opts.now ?? new Date()).toISOString(),
    recordCount: changes.length,
    counts,
    query:
      'every PlanCreated record of the audit log for the stages, event time in [since, until), joined with the ' +
      'commit, promotion, held-change approval (ChangeApproved), rollback, apply and health records; a selector ' +
      'keeps the changes whose commit, source revision, promotion, plan or change id it names',
    fieldClasses: FIELD_CLASSES,
    auditLog: { records: records.length, headSeq: head?.seq ?? 0, headHash: head?.hash ?? null },
  };
  const body = { metadata: meta, changes, records: embedded, checkpoints: proofs };
  return { ...body, metadata: { ...meta, sha256: sha256(canonicalJson(body)) } };
}

/** For each record, the first checkpoint whose batch lists it; each checkpoint once. */
function proofCheckpoints(
  records: readonly AuditRecord[],
  entries: readonly CheckpointEntry[],
): CheckpointEntry[] {
  const batches = entries.flatMap((entry) => {
    if (entry.hashes === undefined) return [];
    try {
      const c = parseCheckpoint(parseNote(entry.note).body);
      return c.batch ? [{ entry, first: c.batch.first, size: c.size }] : [];
    } catch {
      return [];
    }
  });
  const used = new Set<CheckpointEntry>();
  for (const r of records) {
    const b = batches.find((x) => x.first <= r.seq && r.seq <= x.size);
    if (b) used.add(b.entry);
  }
  return entries.filter((e) => used.has(e));
}

export interface EvidenceVerification {
  ok: boolean;
  changes: number;
  records: number;
  checkpoints: number;
  problems: string[];
}

/**
 * Verifies a package offline: its self-hash, every checkpoint's signature (a trusted key) and
 * batch, every embedded record's own hash and its place in a signed batch, and that every seq a
 * change cites is embedded. Any problem is named; none means the package is what the log said.
 */
export function verifyEvidence(
  pkg: EvidencePackage,
  verifiers: readonly NoteVerifier[],
): EvidenceVerification {
  const problems: string[] = [];
  const { sha256: claimed, ...meta } = pkg.metadata;
  const body = { metadata: meta, changes: pkg.changes, records: pkg.records, checkpoints: pkg.checkpoints };
  if (sha256(canonicalJson(body)) !== claimed)
    problems.push('the package was modified after export: its sha256 does not match its content');
  const signed = new Map<number, string>();
  pkg.checkpoints.forEach((entry, i) => {
    try {
      for (const [seq, hash] of verifyCheckpoint(entry, verifiers).hashes) signed.set(seq, hash);
    } catch (e) {
      problems.push(`checkpoint ${i + 1}: ${e instanceof FlotillaError ? e.message : String(e)}`);
    }
  });
  const embedded = new Set<number>();
  for (const r of pkg.records) {
    embedded.add(r.seq);
    if (hashRecord(r) !== r.hash)
      problems.push(`record ${r.seq} (${r.event}): its content does not match its hash`);
    const proven = signed.get(r.seq);
    if (proven === undefined) problems.push(`record ${r.seq} (${r.event}): no signed checkpoint lists it`);
    else if (proven !== r.hash)
      problems.push(`record ${r.seq} (${r.event}): differs from the record the signed checkpoint lists`);
  }
  for (const c of pkg.changes)
    for (const s of c.evidenceSeqs)
      if (!embedded.has(s))
        problems.push(`change ${c.changeId} cites record ${s}, which is not in the package`);
  return {
    ok: problems.length === 0,
    changes: pkg.changes.length,
    records: pkg.records.length,
    checkpoints: pkg.checkpoints.length,
    problems,
  };
}
