import type {
  ClusterStatus,
  ImageRef,
  PipelineList,
  PipelineStatus,
  PromotionStatus,
  StageStatus,
} from '@flotilla/api';
import { ago, renderTable, short } from './table.ts';

/** The planner's `GET /api/v1/stages` answer: the contract in @flotilla/api, which the planner registers. */
export type ImageRefWire = ImageRef;
export type ClusterWire = ClusterStatus;
export type PromotionWire = PromotionStatus;
export type StageWire = StageStatus;
export type StatusWire = PipelineStatus;

/** Per cluster: objects whose drift is not (yet) corrected, from the audit log; undefined = unknown. */
export type DriftByCluster = Map<string, number> | undefined;

export interface StatusRow {
  stage: string;
  cluster: string;
  revision: string;
  images: string;
  sync: string;
  health: string;
  drift: string;
  pending: string;
}

export function imageText(images: readonly ImageRefWire[]): string {
  if (images.length === 0) return '-';
  return images
    .map((i) => {
      const name = i.name ?? i.repository.split('/').pop() ?? i.repository;
      return `${name}${i.tag ? `:${i.tag}` : ''}@${short(i.digest, 12)}`;
    })
    .join(', ');
}

/** Where a cluster stands against what the planner asked of it. */
export function syncText(c: ClusterWire): string {
  if (c.lastRenderError) return 'render-failed';
  if (!c.desired) return 'no-plan';
  if (c.lastError && (!c.applied || c.lastError.at >= c.applied.at)) return `failed (${c.lastError.code})`;
  if (!c.applied) return 'pending';
  if (c.applied.bundleDigest && c.applied.bundleDigest !== c.desired.bundleDigest) return 'out-of-sync';
  if (!c.applied.bundleDigest && c.applied.revision !== c.desired.revision) return 'out-of-sync';
  return 'synced';
}

function healthText(c: ClusterWire): string {
  if (!c.health) return 'unknown';
  const stale = c.desired && c.health.bundleDigest && c.health.bundleDigest !== c.desired.bundleDigest;
  return stale ? `${c.health.status} (old plan)` : c.health.status;
}

function pendingText(s: StageWire): string {
  if (s.promotions.length === 0) return s.locked ? `locked by ${s.locked.by}` : '-';
  const parts = s.promotions.map((p) =>
    p.status === 'awaiting' ? `${p.id} awaiting approval` : `${p.id} ${p.status}`,
  );
  if (s.locked) parts.push(`locked by ${s.locked.by}`);
  return parts.join('; ');
}

export function statusRows(status: StatusWire, drift: DriftByCluster): StatusRow[] {
  const rows: StatusRow[] = [];
  for (const s of status.stages) {
    const clusters = s.clusters.length > 0 ? s.clusters : [null];
    for (const c of clusters) {
      const drifted = c ? drift?.get(c.name) : undefined;
      rows.push({
        stage: `${s.name}${s.locked ? ' (locked)' : ''}`,
        cluster: c?.name ?? '-',
        revision: short(c?.applied?.revision ?? c?.desired?.revision ?? s.revision, 12),
        images: imageText(s.images),
        sync: c ? syncText(c) : '-',
        health: c ? healthText(c) : '-',
        drift: !c || drift === undefined ? '?' : drifted ? `${drifted} drifted` : 'none',
        pending: pendingText(s),
      });
    }
  }
  return rows;
}

export function renderStatus(status: StatusWire, drift: DriftByCluster, now = Date.now()): string {
  const rows = statusRows(status, drift);
  const table = renderTable(rows, [
    { header: 'STAGE', value: (r) => r.stage },
    { header: 'CLUSTER', value: (r) => r.cluster },
    { header: 'REVISION', value: (r) => r.revision },
    { header: 'IMAGES', value: (r) => r.images, max: 60 },
    { header: 'SYNC', value: (r) => r.sync },
    { header: 'HEALTH', value: (r) => r.health },
    { header: 'DRIFT', value: (r) => r.drift },
    { header: 'PENDING', value: (r) => r.pending, max: 70 },
  ]);
  const head = `pipeline ${status.pipeline} at ${short(status.revision, 12)}`;
  const awaiting = status.stages.flatMap((s) => s.promotions.filter((p) => p.status === 'awaiting'));
  const lines = [head, '', table];
  if (awaiting.length > 0) {
    lines.push('', 'awaiting approval:');
    for (const p of awaiting)
      lines.push(
        `  ${p.id}  ${p.fromStage} → ${p.toStage}  ${imageText(p.images)}  (${ago(p.createdAt, now)}; flotilla approve ${p.id})`,
      );
  }
  const failures = status.stages.flatMap((s) =>
    s.clusters.flatMap((c) =>
      c.lastRenderError
        ? [
            `  ${c.name}: ${c.lastRenderError.file}${c.lastRenderError.line ? `:${c.lastRenderError.line}` : ''} ${c.lastRenderError.message.split('\n')[0]}`,
          ]
        : c.lastError && syncText(c).startsWith('failed')
          ? [`  ${c.name}: ${c.lastError.code} ${c.lastError.message.split('\n')[0]}`]
          : [],
    ),
  );
  if (failures.length > 0) lines.push('', 'problems:', ...failures);
  if (drift === undefined) lines.push('', 'drift unknown: the audit API could not be reached');
  return lines.join('\n');
}

/** Audit records of DriftDetected / DriftCorrected, oldest first, as `/history` returns them. */
export interface DriftRecord {
  event: string;
  seq: number;
  data: { cluster: string; object: string; policy?: 'correct' | 'report' };
}

/** Objects per cluster whose newest drift record is a detection (corrections clear it). */
export function driftByCluster(records: readonly DriftRecord[]): Map<string, number> {
  const state = new Map<string, boolean>();
  for (const r of [...records].sort((a, b) => a.seq - b.seq)) {
    const key = `${r.data.cluster}\u0000${r.data.object}`;
    state.set(key, r.event === 'DriftDetected');
  }
  const out = new Map<string, number>();
  for (const [key, drifted] of state) {
    if (!drifted) continue;
    const cluster = key.split('\u0000')[0] as string;
    out.set(cluster, (out.get(cluster) ?? 0) + 1);
  }
  return out;
}

/**
 * Whether a stage's rollout is done: every cluster applied the planner's latest plan and
 * reports healthy on it. `failed` when a cluster failed to apply or went degraded on it.
 */
export function rolloutState(stage: StageWire): { done: boolean; failed?: string; summary: string } {
  let ready = 0;
  for (const c of stage.clusters) {
    const sync = syncText(c);
    if (sync.startsWith('failed') || sync === 'render-failed')
      return { done: false, failed: `${c.name}: ${sync}`, summary: `${c.name} ${sync}` };
    const onPlan =
      !!c.desired &&
      !!c.health &&
      (c.health.bundleDigest
        ? c.health.bundleDigest === c.desired.bundleDigest
        : c.health.revision === c.desired.revision);
    if (sync === 'synced' && onPlan && c.health?.status === 'degraded')
      return { done: false, failed: `${c.name}: degraded`, summary: `${c.name} degraded` };
    if (sync === 'synced' && onPlan && c.health?.status === 'healthy') ready++;
  }
  const total = stage.clusters.length;
  return { done: total > 0 && ready === total, summary: `${ready}/${total} clusters applied and healthy` };
}

/** GET /api/v1/pipelines: the pipelines in force (@flotilla/api). */
export type PipelinesWire = PipelineList;

/** `flotilla status` for a repo of several pipelines: one line each, then how to see one. */
export function renderPipelines(list: PipelinesWire): string {
  const table = renderTable(list.pipelines, [
    { header: 'PIPELINE', value: (p) => p.name },
    { header: 'OWNER', value: (p) => p.owner ?? '-', max: 30 },
    { header: 'TENANT', value: (p) => (p.tenant ? `${p.tenant.namespace}/${p.tenant.serviceAccount}` : '-') },
    { header: 'STAGES', value: (p) => p.stages.join(' → '), max: 50 },
    { header: 'CLUSTERS', value: (p) => p.clusters.join(', '), max: 50 },
    { header: 'FILE', value: (p) => p.file },
  ]);
  return [
    `${list.pipelines.length} pipelines at ${short(list.revision, 12)}`,
    '',
    table,
    '',
    'flotilla status <pipeline> shows one; --pipeline <name> picks one for approve, promote, lock, rollback',
  ].join('\n');
}
