import type { ClusterDetail, ClusterHeldChange } from '@flotilla/api';
import type { AuditRecordWire } from './audit-client.ts';
import { type FieldDiff, redactDiffs } from './redact.ts';

// The page's types are the console API's schemas (libs/api), which Fastify serializes the answer by.
export type { ClusterDetail };
export type HeldChange = ClusterHeldChange;

type Data = Record<string, unknown>;

/** The object-level diff of a held change, one row per object. */
export function heldObjects(diff: unknown): HeldChange['objects'] {
  const d = (diff ?? {}) as Partial<Record<'added' | 'removed' | 'changed', unknown>>;
  const rows: HeldChange['objects'] = [];
  for (const change of ['added', 'removed', 'changed'] as const) {
    const list = d[change];
    if (Array.isArray(list)) for (const object of list) rows.push({ object: String(object), change });
  }
  return rows.sort((a, b) => a.object.localeCompare(b.object) || a.change.localeCompare(b.change));
}
const str = (v: unknown) => (typeof v === 'string' ? v : undefined);

/** One cluster's page, from its audit records (oldest first, as `/history?cluster=` returns them). */
export function clusterDetail(cluster: string, records: readonly AuditRecordWire[]): ClusterDetail {
  const detail: ClusterDetail = {
    cluster,
    plan: null,
    apply: null,
    health: null,
    drift: [],
    held: [],
    errors: [],
  };
  const held = new Map<string, HeldChange>();
  const drift = new Map<string, ClusterDetail['drift'][number] | null>();
  for (const r of [...records].sort((a, b) => a.seq - b.seq)) {
    const d = (r.data ?? {}) as Data;
    if (str(d.cluster) !== cluster) continue;
    switch (r.event) {
      case 'PlanCreated': {
        const sig = d.signature as { keyId?: string } | undefined;
        const bundle = d.bundle as { objects?: number; digest?: string } | undefined;
        detail.plan = {
          planId: String(d.planId),
          revision: String(d.revision),
          bundleDigest: bundle?.digest ?? '',
          sequence: Number(d.sequence ?? 0),
          keyId: sig?.keyId ?? null,
          objects: typeof bundle?.objects === 'number' ? bundle.objects : null,
          at: r.time,
        };
        break;
      }
      case 'ApplySucceeded':
        detail.apply = {
          result: 'succeeded',
          planId: str(d.planId) ?? null,
          at: r.time,
          counts: d.counts as NonNullable<ClusterDetail['apply']>['counts'] & object,
          durationMs: Number(d.durationMs ?? 0),
          ...(Array.isArray(d.warnings) && d.warnings.length > 0
            ? { warnings: d.warnings as NonNullable<NonNullable<ClusterDetail['apply']>['warnings']> }
            : {}),
        };
        break;
      case 'ApplyFailed':
        detail.apply = {
          result: 'failed',
          planId: str(d.planId) ?? null,
          at: r.time,
          code: String(d.code),
          message: String(d.message),
          problems: (d.objects as Array<{ object: string; code?: string; reason: string }>) ?? [],
        };
        detail.errors.unshift({
          event: r.event,
          code: String(d.code),
          message: String(d.message),
          at: r.time,
        });
        break;
      case 'RenderFailed':
        detail.errors.unshift({
          event: r.event,
          code: String(d.code),
          message: String(d.message),
          at: r.time,
          ...(str(d.file) ? { file: str(d.file) } : {}),
          ...(typeof d.line === 'number' ? { line: d.line } : {}),
        });
        break;
      case 'HealthChanged':
        detail.health = {
          status: String(d.status),
          at: r.time,
          revision: String(d.revision),
          objects: (d.objects as NonNullable<ClusterDetail['health']>['objects']) ?? [],
        };
        break;
      case 'DriftDetected': {
        const object = String(d.object);
        drift.set(object, {
          object,
          at: r.time,
          policy: String(d.policy ?? 'report'),
          diffs: redactDiffs(object, (d.diffs as FieldDiff[]) ?? []),
        });
        break;
      }
      case 'DriftCorrected':
        drift.set(String(d.object), null);
        break;
      case 'ChangeAwaitingApproval': {
        const commits = (d.commits as Array<{ author?: { name?: string; email?: string } }>) ?? [];
        held.set(String(d.changeId), {
          changeId: String(d.changeId),
          stage: String(d.stage),
          revision: String(d.revision),
          fromRevision: str(d.fromRevision) ?? null,
          bundleDigest: String(d.bundleDigest ?? ''),
          at: r.time,
          objects: heldObjects(d.diff),
          authors: [...new Set(commits.map((c) => c.author?.email ?? c.author?.name ?? '?'))],
          approvers: ((d.approvers as unknown[]) ?? []).map(String),
          refusals: [],
        });
        break;
      }
      case 'ChangeApprovalRefused':
        held.get(String(d.changeId))?.refusals.push({
          by: String(d.by),
          code: String(d.code),
          reason: String(d.reason),
          at: r.time,
        });
        break;
      case 'ChangeApproved':
        held.delete(String(d.changeId));
        break;
    }
  }
  detail.drift = [...drift.values()].filter((x) => x !== null);
  detail.held = [...held.values()].reverse();
  detail.errors = detail.errors.slice(0, 20);
  return detail;
}
