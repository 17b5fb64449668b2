import type { ChangeFailureMarker, LeadTimeRelease, LeadTimes } from '@flotilla/api';
import type { AuditRecordWire } from './audit-client.ts';

// The figures' types are the console API's schemas (libs/api), which Fastify serializes the answer by.
export type { LeadTimes };
export type Release = LeadTimeRelease;
export type Marker = ChangeFailureMarker;

/** Audit event types the computation reads. */
export const LEAD_TIME_EVENTS = [
  'ImageTagDetected',
  'ImageUpdateCommitted',
  'PromotionCommitted',
  'ApplySucceeded',
  'ApplyFailed',
  'HealthChanged',
  'RollbackCommitted',
] as const;

type Data = Record<string, unknown>;

/**
 * DORA "lead time for changes" per release and stage: from the image push (its detection by
 * the registry-watcher) to the first successful apply, in a cluster of that stage, of the config
 * commit that brought the digest there. Rollbacks, failed applies and degraded health are
 * change-failure markers. Pure: records (any order) and the cluster → stage map in, figures out.
 */
export function leadTimes(
  records: readonly AuditRecordWire[],
  stageOfCluster: ReadonlyMap<string, string>,
  stageOrder: readonly string[],
): LeadTimes {
  const sorted = [...records].sort((a, b) => a.seq - b.seq);
  const releases = new Map<string, Release>();
  /** config commit → stage and the digests it brought there. */
  const commits = new Map<string, { stage: string; digests: string[] }>();
  const markers: Marker[] = [];
  for (const r of sorted) {
    const d = (r.data ?? {}) as Data;
    switch (r.event) {
      case 'ImageTagDetected': {
        const digest = String(d.digest);
        if (!releases.has(digest))
          releases.set(digest, {
            digest,
            image: String(d.image),
            tag: typeof d.tag === 'string' ? d.tag : null,
            pushedAt: r.time,
            stages: {},
          });
        break;
      }
      case 'ImageUpdateCommitted':
        commits.set(String(d.commit), { stage: String(d.stage), digests: [String(d.digest)] });
        break;
      case 'PromotionCommitted':
        commits.set(String(d.commit), {
          stage: String(d.toStage),
          digests: ((d.images as Array<{ digest: string }>) ?? []).map((i) => i.digest),
        });
        break;
      case 'ApplySucceeded': {
        const stage = stageOfCluster.get(String(d.cluster));
        const commit = commits.get(String(d.revision));
        if (!stage || !commit || commit.stage !== stage) break;
        for (const digest of commit.digests) {
          const rel = releases.get(digest);
          if (!rel || rel.stages[stage]) continue;
          rel.stages[stage] = {
            at: r.time,
            leadMs: Math.max(0, Date.parse(r.time) - Date.parse(rel.pushedAt)),
          };
        }
        break;
      }
      case 'ApplyFailed': {
        const stage = stageOfCluster.get(String(d.cluster));
        if (stage)
          markers.push({ kind: 'apply-failed', stage, at: r.time, detail: `${d.cluster}: ${d.code}` });
        break;
      }
      case 'HealthChanged': {
        const stage = stageOfCluster.get(String(d.cluster));
        if (stage && d.status === 'degraded')
          markers.push({ kind: 'degraded', stage, at: r.time, detail: `${d.cluster} degraded` });
        break;
      }
      case 'RollbackCommitted':
        markers.push({
          kind: 'rollback',
          stage: String(d.stage),
          at: r.time,
          detail: `rolled back to ${String(d.toRevision).slice(0, 12)} by ${d.by}`,
        });
        break;
    }
  }
  return {
    stages: [...stageOrder],
    // Releases that never reached a stage are pushes the policy skipped: leave them out.
    releases: [...releases.values()].filter((r) => Object.keys(r.stages).length > 0),
    markers,
  };
}
