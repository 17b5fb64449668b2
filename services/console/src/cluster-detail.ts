import type { AuditRecordWire } from './audit-client.ts';
import { type FieldDiff, redactDiffs } from './redact.ts';

export interface ClusterDetail {
  cluster: string;
  plan: {
    planId: string;
    revision: string;
    bundleDigest: string;
    sequence: number;
    keyId: string | null;
    objects: number | null;
    at: string;
  } | null;
  apply: {
    result: 'succeeded' | 'failed';
    planId: string | null;
    at: string;
    counts?: { total: number; applied: number; unchanged: number; pruned: number };
    durationMs?: number;
    code?: string;
    message?: string;
    problems?: Array<{ object: string; code?: string; reason: string }>;
  } | null;
  health: {
    status: string;
    at: string;
    revision: string;
    /** Objects that are not current (the applier reports only those). */
    objects: Array<{ object: string; status: string; message: string }>;
  } | null;
  /** Objects whose newest drift record is a detection, with their (redacted) field changes. */
  drift: Array<{ object: string; at: string; policy: string; diffs: FieldDiff[] }>;
  /** Newest first: apply and render failures with their codes. */
  errors: Array<{ event: string; code: string; message: string; at: string; file?: string; line?: number }>;
}

type Data = Record<string, unknown>;
const str = (v: unknown) => (typeof v === 'string' ? v : undefined);

/** One cluster's page, from its audit records (oldest first, as `/history?cluster=` returns them). */
export function clusterDetail(cluster: string, records: readonly AuditRecordWire[]): ClusterDetail {
  const detail: ClusterDetail = { cluster, plan: null, apply: null, health: null, drift: [], errors: [] };
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
    }
  }
  detail.drift = [...drift.values()].filter((x) => x !== null);
  detail.errors = detail.errors.slice(0, 20);
  return detail;
}
