import type { AuditRecord } from './chain.ts';

/**
 * What the query API answers from: every record (history), plus the state the log implies
 * (what is where, who approved what, which config commit reached production). Built by
 * replaying records in seq order, at start from the repo and then from each committed batch.
 */

// biome-ignore lint/suspicious/noExplicitAny: payloads were validated against the catalog when recorded.
type Data = Record<string, any>;

export interface WhereEntry {
  cluster: string;
  stage?: string;
  plan?: { planId: string; revision: string; digest: string; at: string; seq: number };
  apply?: {
    planId?: string;
    revision?: string;
    digest?: string;
    result: 'started' | 'succeeded' | 'failed';
    at: string;
    code?: string;
    seq: number;
  };
  /** Last successfully applied revision and digest. */
  applied?: { planId: string; revision: string; digest: string; at: string; seq: number };
  health?: { status: string; revision: string; at: string; seq: number };
}

export interface Approval {
  approver: string;
  at: string;
  comment?: string;
  seq: number;
}

export interface PromotionView {
  promotionId: string;
  fromStage?: string;
  toStage: string;
  revision?: string;
  images?: string[];
  proposedAt?: string;
  requestedApprovers?: string[];
  approvals: Approval[];
  rejections: Array<{ by: string; at: string; reason: string; kind: string; seq: number }>;
  committed?: { commit: string; sourceRevision: string; approvedBy: string[]; at: string; seq: number };
}

export interface CommitInfo {
  repo: string;
  sha: string;
  author: { name: string; email: string };
  committer: { name: string; email: string };
  authoredAt: string;
  message: string;
  signature: string;
  seq: number;
}

export interface PlanInfo {
  planId: string;
  cluster: string;
  stage: string;
  repo: string;
  revision: string;
  digest: string;
  at: string;
  seq: number;
  applyStartedAt?: string;
  applyFinishedAt?: string;
  result?: 'started' | 'succeeded' | 'failed';
  code?: string;
  message?: string;
  health?: string;
  evidence: number[];
}

export interface Deployment {
  cluster: string;
  stage?: string;
  planId?: string;
  digest?: string;
  result?: string;
  appliedAt?: string;
  health?: string;
  updatedAt: string;
}

export interface HistoryFilter {
  cluster?: string;
  stage?: string;
  type?: string;
  actor?: string;
  app?: string;
  repo?: string;
  revision?: string;
  since?: string;
  until?: string;
  limit?: number;
}

export class AuditIndex {
  readonly records: AuditRecord[] = [];
  readonly where = new Map<string, WhereEntry>();
  readonly promotions = new Map<string, PromotionView>();
  readonly commits = new Map<string, CommitInfo>();
  readonly plans = new Map<string, PlanInfo>();
  readonly rollbacks = new Map<
    string,
    { stage: string; toRevision: string; fromRevision?: string; by: string; reason?: string; at: string }
  >();
  private readonly promotionByCommit = new Map<string, string>();
  /** Config revision → cluster → deployment (the git note of that revision). */
  readonly deployments = new Map<string, Map<string, Deployment>>();

  apply(records: Iterable<AuditRecord>): Set<string> {
    const touched = new Set<string>();
    for (const r of records) {
      this.records.push(r);
      const rev = this.applyOne(r);
      if (rev) touched.add(rev);
    }
    return touched;
  }

  /** Applies one record; returns the config revision whose deployment note changed, if any. */
  private applyOne(r: AuditRecord): string | undefined {
    const d = (r.data ?? {}) as Data;
    switch (r.event) {
      case 'GitCommitDetected':
        this.commits.set(d.sha, {
          repo: d.repo,
          sha: d.sha,
          author: d.author,
          committer: d.committer,
          authoredAt: d.authoredAt,
          message: d.message,
          signature: d.signature?.status,
          seq: r.seq,
        });
        return undefined;
      case 'PlanCreated': {
        const plan: PlanInfo = {
          planId: d.planId,
          cluster: d.cluster,
          stage: d.stage,
          repo: d.repo,
          revision: d.revision,
          digest: d.bundle?.digest,
          at: r.time,
          seq: r.seq,
          evidence: [r.seq],
        };
        this.plans.set(d.planId, plan);
        const w = this.whereOf(d.cluster);
        w.stage = d.stage;
        w.plan = { planId: d.planId, revision: d.revision, digest: plan.digest, at: r.time, seq: r.seq };
        this.deploy(d.revision, d.cluster, r.time, {
          stage: d.stage,
          planId: d.planId,
          digest: plan.digest,
          result: 'planned',
        });
        return d.revision;
      }
      case 'ApplyStarted':
      case 'ApplySucceeded':
      case 'ApplyFailed': {
        const result = r.result as 'started' | 'succeeded' | 'failed';
        const plan = d.planId ? this.plans.get(d.planId) : undefined;
        const revision: string | undefined = d.revision ?? plan?.revision;
        const digest: string | undefined = d.bundleDigest ?? plan?.digest;
        const w = this.whereOf(d.cluster);
        w.apply = {
          result,
          at: r.time,
          seq: r.seq,
          ...(d.planId ? { planId: d.planId } : {}),
          ...(revision ? { revision } : {}),
          ...(digest ? { digest } : {}),
          ...(d.code ? { code: d.code } : {}),
        };
        const finishedAt =
          result === 'succeeded' && d.startedAt
            ? new Date(Date.parse(d.startedAt) + (d.durationMs ?? 0)).toISOString()
            : r.time;
        if (result === 'succeeded' && d.planId && revision && digest) {
          w.applied = { planId: d.planId, revision, digest, at: finishedAt, seq: r.seq };
        }
        if (plan) {
          plan.evidence.push(r.seq);
          plan.result = result;
          if (result === 'started') plan.applyStartedAt = r.time;
          else {
            plan.applyStartedAt ??= d.startedAt ?? r.time;
            plan.applyFinishedAt = finishedAt;
            if (d.code) plan.code = d.code;
            if (d.message) plan.message = d.message;
          }
        }
        if (!revision) return undefined;
        this.deploy(revision, d.cluster, r.time, {
          ...(plan ? { stage: plan.stage } : {}),
          ...(d.planId ? { planId: d.planId } : {}),
          ...(digest ? { digest } : {}),
          result,
          ...(result !== 'started' ? { appliedAt: finishedAt } : {}),
        });
        return revision;
      }
      case 'HealthChanged': {
        const w = this.whereOf(d.cluster);
        w.health = { status: d.status, revision: d.revision, at: r.time, seq: r.seq };
        for (const plan of this.plans.values()) {
          if (
            plan.cluster === d.cluster &&
            plan.revision === d.revision &&
            (!d.planId || d.planId === plan.planId)
          ) {
            plan.health = d.status;
            plan.evidence.push(r.seq);
          }
        }
        this.deploy(d.revision, d.cluster, r.time, { health: d.status });
        return d.revision;
      }
      case 'PromotionProposed': {
        const p = this.promotionOf(d.promotionId, d.toStage);
        Object.assign(p, {
          fromStage: d.fromStage,
          revision: d.revision,
          images: r.images,
          proposedAt: p.proposedAt ?? r.time,
        });
        return undefined;
      }
      case 'PromotionAwaitingApproval': {
        const p = this.promotionOf(d.promotionId, d.toStage);
        Object.assign(p, {
          fromStage: d.fromStage,
          requestedApprovers: d.approvers,
          images: p.images ?? r.images,
        });
        return undefined;
      }
      case 'PromotionApproved':
        this.promotionOf(d.promotionId, d.toStage).approvals.push({
          approver: d.approver,
          at: r.time,
          seq: r.seq,
          ...(d.comment ? { comment: d.comment } : {}),
        });
        return undefined;
      case 'PromotionRejected':
        this.promotionOf(d.promotionId, d.toStage).rejections.push({
          by: d.by,
          at: r.time,
          reason: d.reason,
          kind: d.kind,
          seq: r.seq,
        });
        return undefined;
      case 'PromotionCommitted': {
        const p = this.promotionOf(d.promotionId, d.toStage);
        p.fromStage = d.fromStage;
        p.images = r.images ?? p.images;
        p.committed = {
          commit: d.commit,
          sourceRevision: d.sourceRevision,
          approvedBy: d.approvedBy ?? [],
          at: r.time,
          seq: r.seq,
        };
        this.promotionByCommit.set(d.commit, d.promotionId);
        return d.commit;
      }
      case 'RollbackCommitted':
        this.rollbacks.set(d.commit, {
          stage: d.stage,
          toRevision: d.toRevision,
          by: d.by,
          at: r.time,
          ...(d.fromRevision ? { fromRevision: d.fromRevision } : {}),
          ...(d.reason ? { reason: d.reason } : {}),
        });
        return undefined;
      default:
        return undefined;
    }
  }

  private whereOf(cluster: string): WhereEntry {
    let w = this.where.get(cluster);
    if (!w) {
      w = { cluster };
      this.where.set(cluster, w);
    }
    return w;
  }

  private promotionOf(id: string, toStage: string): PromotionView {
    let p = this.promotions.get(id);
    if (!p) {
      p = { promotionId: id, toStage, approvals: [], rejections: [] };
      this.promotions.set(id, p);
    }
    return p;
  }

  private deploy(revision: string, cluster: string, at: string, patch: Partial<Deployment>): void {
    let byCluster = this.deployments.get(revision);
    if (!byCluster) {
      byCluster = new Map();
      this.deployments.set(revision, byCluster);
    }
    const current = byCluster.get(cluster) ?? { cluster, updatedAt: at };
    // A new plan for the same revision starts a new deployment: forget the old apply result.
    if (patch.result === 'planned') {
      delete current.appliedAt;
      delete current.health;
    }
    byCluster.set(cluster, { ...current, ...patch, updatedAt: at });
  }

  promotionForCommit(commit: string): PromotionView | undefined {
    const id = this.promotionByCommit.get(commit);
    return id ? this.promotions.get(id) : undefined;
  }

  /** Stage of a cluster as its plans say (for filtering events that carry only the cluster). */
  stageOfCluster(cluster: string): string | undefined {
    return this.where.get(cluster)?.stage;
  }

  history(f: HistoryFilter): AuditRecord[] {
    const limit = Math.min(Math.max(f.limit ?? 1000, 1), 10_000);
    const shortOrFull = f.type;
    const out: AuditRecord[] = [];
    for (const r of this.records) {
      if (f.since && r.time < f.since) continue;
      if (f.until && r.time >= f.until) continue;
      if (shortOrFull && r.event !== shortOrFull && r.type !== shortOrFull) continue;
      if (f.cluster && r.cluster !== f.cluster) continue;
      if (f.stage && r.stage !== f.stage && !(r.cluster && this.stageOfCluster(r.cluster) === f.stage))
        continue;
      if (f.actor && r.actor !== f.actor && !r.approvers?.includes(f.actor) && r.by !== f.actor) continue;
      if (f.app && !r.apps?.includes(f.app)) continue;
      if (f.repo && r.repo !== f.repo) continue;
      if (f.revision && r.revision !== f.revision && r.commit !== f.revision) continue;
      out.push(r);
      if (out.length >= limit) break;
    }
    return out;
  }
}

/**
 * Whether an approver is a different person from the commit author. Identities come from
 * different systems (`user:alice` vs `Alice <alice@example.com>`), so compare the bare name
 * against the author's name, email and email local part, case-insensitively.
 */
export function approverIsNotAuthor(approver: string, author: { name: string; email: string }): boolean {
  const bare = approver.replace(/^[a-z]+:/, '').toLowerCase();
  const email = author.email.toLowerCase();
  const candidates = [author.name.toLowerCase(), email, email.split('@')[0] ?? ''];
  return !candidates.includes(bare);
}
