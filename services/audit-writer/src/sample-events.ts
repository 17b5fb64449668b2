import { catalog, createEvent, type EventDefinition, type FlotillaEvent } from '@flotilla/events';
import { sampleSource, samples } from '@flotilla/events/samples';
import { type AuditRecord, buildRecord, GENESIS_HASH } from './chain.ts';

/**
 * One event per catalog entry, from the catalog's samples, with deterministic ids and times
 * (fixtures and tests). `tag` keeps ids unique across tests sharing a stream.
 */
export function sampleEvents(
  tag = 'fixture',
  start = Date.parse('2026-11-26T10:00:00.000Z'),
): FlotillaEvent[] {
  return catalog.map((def, i) =>
    createEvent(def as EventDefinition, (samples as unknown as Record<string, never>)[def.name]!, {
      source: sampleSource(def),
      actor: def.name.startsWith('Promotion') ? 'user:alice' : `service:${def.producers[0]}`,
      id: `${tag}-${i + 1}-${def.name}`,
      time: new Date(start + i * 1000),
      correlationid: `${tag}-corr`,
    }),
  );
}

/**
 * The events of one production promotion as the services would publish them: Bob's commit in
 * dev, Alice's approval, the planner's promotion commit, the prod plan, its apply and health.
 */
export function promotionEvents(opts: {
  tag: string;
  sourceSha: string;
  commitSha: string;
  cluster?: string;
  stage?: string;
  start?: number;
}): FlotillaEvent[] {
  const { tag, sourceSha, commitSha } = opts;
  const cluster = opts.cluster ?? 'prod-eu';
  const stage = opts.stage ?? 'prod';
  const start = opts.start ?? Date.parse('2026-11-26T12:00:00.000Z');
  const digest = `sha256:${'c'.repeat(64)}`;
  const images = [{ ...samples.PromotionCommitted.images[0]! }];
  const planId = `${cluster}-${tag}`;
  const promotionId = `p-${tag}`;
  let t = 0;
  const at = () => new Date(start + 1000 * t++);
  let n = 0;
  const ctx = (actor: string, source = 'flotilla://planner/test') => ({
    source,
    actor,
    id: `${tag}-promo-${++n}`,
    time: at(),
    correlationid: `${tag}-promo`,
  });
  const byName: Record<string, EventDefinition> = Object.fromEntries(catalog.map((d) => [d.name, d]));
  const ev = (name: string, data: unknown, c: ReturnType<typeof ctx>) =>
    createEvent(byName[name]!, data as never, c) as FlotillaEvent;
  return [
    ev(
      'GitCommitDetected',
      {
        ...samples.GitCommitDetected,
        sha: sourceSha,
        author: { name: 'Bob', email: 'bob@example.com' },
        committer: { name: 'Bob', email: 'bob@example.com' },
        message: 'web: bump to 1.4.7 (JIRA-12)',
      },
      ctx('git:bob@example.com', 'flotilla://git-watcher/test'),
    ),
    ev(
      'PromotionAwaitingApproval',
      { promotionId, fromStage: 'uat', toStage: stage, approvers: ['alice'], images },
      ctx('service:planner'),
    ),
    ev(
      'PromotionApproved',
      { promotionId, toStage: stage, approver: 'user:alice', comment: 'CAB-7' },
      ctx('user:alice'),
    ),
    ev(
      'PromotionCommitted',
      {
        promotionId,
        fromStage: 'uat',
        toStage: stage,
        commit: commitSha,
        sourceRevision: sourceSha,
        images,
        approvedBy: ['user:alice'],
      },
      ctx('user:alice'),
    ),
    ev(
      'GitCommitDetected',
      {
        ...samples.GitCommitDetected,
        sha: commitSha,
        parents: [sourceSha],
        author: { name: 'Flotilla Planner', email: 'planner@flotilla.invalid' },
        committer: { name: 'Flotilla Planner', email: 'planner@flotilla.invalid' },
        message: `promote web to ${stage}`,
        paths: [`clusters/${cluster}/web.yaml`],
      },
      ctx('service:planner', 'flotilla://git-watcher/test'),
    ),
    ev(
      'PlanCreated',
      {
        ...samples.PlanCreated,
        planId,
        cluster,
        stage,
        revision: commitSha,
        path: `clusters/${cluster}`,
        bundle: { ...samples.PlanCreated.bundle, digest },
      },
      ctx('user:alice'),
    ),
    ev(
      'ApplyStarted',
      { cluster, planId, revision: commitSha, bundleDigest: digest, objects: 3 },
      ctx('user:alice', 'flotilla://cluster-applier/test'),
    ),
    ev(
      'ApplySucceeded',
      {
        ...samples.ApplySucceeded,
        cluster,
        planId,
        revision: commitSha,
        bundleDigest: digest,
        startedAt: new Date(start + 6000).toISOString(),
        durationMs: 1500,
      },
      ctx('user:alice', 'flotilla://cluster-applier/test'),
    ),
    ev(
      'HealthChanged',
      {
        cluster,
        planId,
        revision: commitSha,
        bundleDigest: digest,
        status: 'Current',
        previous: 'InProgress',
        objects: [],
      },
      ctx('user:alice', 'flotilla://cluster-applier/test'),
    ),
  ];
}

/**
 * `events` as the writer records them from an empty log: seq from 1, each linked to the one
 * before, recorded a second apart from `start` (and with `streamSeq` = seq when asked).
 */
export function chainRecords(
  events: FlotillaEvent[],
  start: number,
  opts: { streamSeq?: boolean } = {},
): AuditRecord[] {
  let prevHash = GENESIS_HASH;
  return events.map((event, i) => {
    const r = buildRecord(event, {
      seq: i + 1,
      prevHash,
      recordedAt: new Date(start + i * 1000),
      ...(opts.streamSeq ? { streamSeq: i + 1 } : {}),
    });
    prevHash = r.hash;
    return r;
  });
}
