import { canonicalJson, sha256 } from './chain.ts';
import { type AuditIndex, approverIsNotAuthor } from './projection.ts';

/**
 * One production change: a plan for a production-stage cluster, with everything an auditor
 * samples for change management (SOC 2 CC8.1): the config commit and its author, the approvals,
 * the deployment record and its outcome, and the audit records that prove each of them.
 */
export interface ProductionChange {
  changeId: string;
  /** `promotion` (approved through the pipeline), `rollback`, or `direct` (config committed straight to the stage). */
  changeType: 'promotion' | 'rollback' | 'direct';
  cluster: string;
  stage: string;
  configRepo: string;
  configCommit: string;
  commitAuthor?: string;
  commitMessage?: string;
  commitSignature?: string;
  /** For promotions: the author of the change being promoted (the source revision), who must not approve it. */
  changeAuthor?: string;
  promotionId?: string;
  fromStage?: string;
  sourceRevision?: string;
  images?: string[];
  approvers: string[];
  approvedAt?: string;
  approvedBeforeDeploy?: boolean;
  approverIsNotAuthor?: boolean;
  rollbackOf?: string;
  rollbackBy?: string;
  rollbackReason?: string;
  planDigest: string;
  planCreatedAt: string;
  applyResult: 'pending' | 'started' | 'succeeded' | 'failed';
  applyStartedAt?: string;
  applyFinishedAt?: string;
  applyError?: string;
  health?: string;
  /** Audit log seqs of the plan, apply and health records, and of the approval and commit records. */
  evidenceSeqs: number[];
}

export interface ExportMetadata {
  kind: 'flotilla.production-changes.v1';
  period: { since: string | null; until: string | null };
  generatedAt: string;
  productionStages: string[];
  recordCount: number;
  /** How the population was selected, for the auditor's completeness check. */
  query: string;
  /**
   * The audit log the export was derived from: its length and head hash at the time, and the
   * writer's signed checkpoint at that head (verifiable with the writer's public key alone).
   */
  auditLog: { records: number; headSeq: number; headHash: string | null; checkpoint?: string };
  /** sha256 over the canonical JSON of `{ metadata (without sha256), changes }`, or of the CSV body. */
  sha256: string;
}

export function productionChanges(
  index: AuditIndex,
  opts: { since?: string; until?: string; productionStages: string[] },
): ProductionChange[] {
  const prod = new Set(opts.productionStages);
  const out: ProductionChange[] = [];
  for (const plan of index.plans.values()) {
    if (!prod.has(plan.stage)) continue;
    if (opts.since && plan.at < opts.since) continue;
    if (opts.until && plan.at >= opts.until) continue;
    const commit = index.commits.get(plan.revision);
    const promotion = index.promotionForCommit(plan.revision);
    const rollback = index.rollbacks.get(plan.revision);
    const approvals = promotion?.approvals ?? [];
    const approvers = [
      ...new Set([...(promotion?.committed?.approvedBy ?? []), ...approvals.map((a) => a.approver)]),
    ];
    const approvedAt = approvals.map((a) => a.at).sort()[approvals.length - 1];
    const deployStart = plan.applyStartedAt ?? plan.applyFinishedAt;
    const evidence = new Set(plan.evidence);
    if (commit) evidence.add(commit.seq);
    for (const a of approvals) evidence.add(a.seq);
    if (promotion?.committed) evidence.add(promotion.committed.seq);
    const change: ProductionChange = {
      changeId: plan.planId,
      changeType: rollback ? 'rollback' : promotion ? 'promotion' : 'direct',
      cluster: plan.cluster,
      stage: plan.stage,
      configRepo: plan.repo,
      configCommit: plan.revision,
      approvers,
      planDigest: plan.digest,
      planCreatedAt: plan.at,
      applyResult: plan.result ?? 'pending',
      evidenceSeqs: [...evidence].sort((a, b) => a - b),
    };
    if (commit) {
      change.commitAuthor = `${commit.author.name} <${commit.author.email}>`;
      change.commitMessage = commit.message;
      change.commitSignature = commit.signature;
    }
    const source = promotion?.committed ? index.commits.get(promotion.committed.sourceRevision) : undefined;
    if (source) evidence.add(source.seq);
    change.evidenceSeqs = [...evidence].sort((a, b) => a - b);
    const changeAuthor = source?.author ?? commit?.author;
    if (changeAuthor) {
      change.changeAuthor = `${changeAuthor.name} <${changeAuthor.email}>`;
      if (approvers.length > 0)
        change.approverIsNotAuthor = approvers.every((a) => approverIsNotAuthor(a, changeAuthor));
    }
    if (promotion) {
      change.promotionId = promotion.promotionId;
      if (promotion.fromStage) change.fromStage = promotion.fromStage;
      if (promotion.committed) change.sourceRevision = promotion.committed.sourceRevision;
      if (promotion.images) change.images = promotion.images;
    }
    if (approvedAt) {
      change.approvedAt = approvedAt;
      if (deployStart) change.approvedBeforeDeploy = approvedAt <= deployStart;
    }
    if (rollback) {
      change.rollbackOf = rollback.fromRevision ?? '';
      change.rollbackBy = rollback.by;
      if (rollback.reason) change.rollbackReason = rollback.reason;
    }
    if (plan.applyStartedAt) change.applyStartedAt = plan.applyStartedAt;
    if (plan.applyFinishedAt) change.applyFinishedAt = plan.applyFinishedAt;
    if (plan.result === 'failed') change.applyError = [plan.code, plan.message].filter(Boolean).join(': ');
    if (plan.health) change.health = plan.health;
    out.push(change);
  }
  return out.sort((a, b) =>
    a.planCreatedAt < b.planCreatedAt ? -1 : a.planCreatedAt > b.planCreatedAt ? 1 : 0,
  );
}

export const CSV_COLUMNS: Array<keyof ProductionChange> = [
  'changeId',
  'changeType',
  'cluster',
  'stage',
  'configRepo',
  'configCommit',
  'commitAuthor',
  'commitSignature',
  'commitMessage',
  'changeAuthor',
  'promotionId',
  'fromStage',
  'sourceRevision',
  'images',
  'approvers',
  'approvedAt',
  'approvedBeforeDeploy',
  'approverIsNotAuthor',
  'rollbackOf',
  'rollbackBy',
  'rollbackReason',
  'planDigest',
  'planCreatedAt',
  'applyResult',
  'applyStartedAt',
  'applyFinishedAt',
  'applyError',
  'health',
  'evidenceSeqs',
];

function csvCell(v: unknown): string {
  if (v === undefined || v === null) return '';
  const s = Array.isArray(v) ? v.join(';') : String(v);
  // Quote anything a spreadsheet could misread; neutralise formula prefixes (CSV injection).
  const safe = /^[=+\-@\t\r]/.test(s) ? `'${s}` : s;
  return /[",\n\r;']/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}

export function toCsv(changes: ProductionChange[]): string {
  const rows = [CSV_COLUMNS.join(',')];
  for (const c of changes) rows.push(CSV_COLUMNS.map((k) => csvCell(c[k])).join(','));
  return `${rows.join('\r\n')}\r\n`;
}

export interface ExportInput {
  since?: string;
  until?: string;
  productionStages: string[];
  auditLog: ExportMetadata['auditLog'];
  now?: Date;
}

export function buildExport(
  index: AuditIndex,
  input: ExportInput,
): { metadata: ExportMetadata; changes: ProductionChange[]; csv: string } {
  const changes = productionChanges(index, input);
  const meta: Omit<ExportMetadata, 'sha256'> = {
    kind: 'flotilla.production-changes.v1',
    period: { since: input.since ?? null, until: input.until ?? null },
    generatedAt: (input.now ?? new Date()).toISOString(),
    productionStages: input.productionStages,
    recordCount: changes.length,
    query:
      'every PlanCreated record of the audit log whose stage is a production stage and whose event time is in [since, until), ' +
      'joined with GitCommitDetected (author), PromotionApproved/PromotionCommitted (approvers), RollbackCommitted, ' +
      'ApplyStarted/ApplySucceeded/ApplyFailed (by planId) and HealthChanged (by cluster and revision)',
    auditLog: input.auditLog,
  };
  const csv = toCsv(changes);
  return {
    metadata: { ...meta, sha256: sha256(canonicalJson({ metadata: meta, changes })) },
    changes,
    csv,
  };
}

/** Checks an export's self-hash (what an auditor re-runs on the file they were given). */
export function verifyExportHash(doc: { metadata: ExportMetadata; changes: ProductionChange[] }): boolean {
  const { sha256: claimed, ...meta } = doc.metadata;
  return sha256(canonicalJson({ metadata: meta, changes: doc.changes })) === claimed;
}
