import { createHash } from 'node:crypto';
import type { PipelineStatus } from '@flotilla/api';
import type { Bus } from '@flotilla/bus';
import {
  ChangeApprovalRefused,
  ChangeApproved,
  type FlotillaEvent,
  keyedTraceparent,
  OperationRefused,
  PromotionRejected,
  RollbackCommitted,
  StageLockChanged,
} from '@flotilla/events';
import {
  type ChangeCommit,
  canApprove,
  changePeople,
  commitsBy,
  findStage,
  hasRole,
  hasRoleIn,
  type Identity,
  isStageOperator,
  type Pipeline,
  previousStage,
  type Role,
  type Stage,
} from '@flotilla/policy';
import { type HeldChange, touchesStage } from './change-gate.ts';
import type { ConfigRepo } from './config-repo.ts';
import type { ConfigWriter } from './config-writer.ts';
import type { HealthView } from './health-view.ts';
import { sameContent } from './health-view.ts';
import { DEFAULT_IDEMPOTENCY_TTL_MS, hasLiveRequest, type RequestStamp } from './idempotency.ts';
import { type OperationFailure, refused } from './operation-error.ts';
import type { PipelineScope } from './pipeline-scope.ts';
import type { PlannerFaults, Promotions } from './promotions.ts';
import { imagesAt, runsAll } from './stage-images.ts';
import {
  type ClusterState,
  type PendingRollback,
  type PlannerState,
  type PromotionRecord,
  rememberRequest,
  type StageRequest,
  type StageState,
} from './state.ts';

/** An approval as the API answers it (without the change and request kept beside it). */
type ApprovalAnswer = Omit<NonNullable<ClusterState['approvedChange']>, 'change' | 'request'>;

/** What operations need from the planner that runs them. */
export interface OperationsHost {
  /**
   * Runs `fn` in the planner's queue with the pipeline in force; refuses with `unavailable` on a
   * standby or before a valid pipeline was rendered.
   */
  exclusive<T>(fn: (pipeline: Pipeline) => Promise<T>): Promise<T>;
  /** Runs `fn` in the planner's queue, active or not (reads of recorded state). */
  queued<T>(fn: () => Promise<T>): Promise<T>;
  /** Re-runs promotion rules (after an unlock). */
  evaluate(): Promise<void>;
  /** After a commit was pushed: render it without waiting for the git-watcher (continuing `cause`). */
  afterPush(cause?: FlotillaEvent): Promise<void>;
  lastRenderedRevision(): string | null;
  /** Commits the planner pushed itself (promotions, rollbacks, image updates). */
  ownCommits(): ReadonlySet<string>;
  /** Issues the held plan of `cluster` (after its approval was recorded and announced). */
  issueHeld(stage: Stage, cluster: Stage['clusters'][number]): Promise<void>;
}

export interface OperationsDeps {
  scope: PipelineScope;
  host: OperationsHost;
  bus: Bus;
  repo: ConfigRepo;
  state: PlannerState;
  writer: ConfigWriter;
  health: HealthView;
  promotions: Promotions;
  /** Crash-test injection points (test/crashing-planner.ts); never set in production. */
  faults?: PlannerFaults;
  /** How long an Idempotency-Key is answered with its recorded decision (idempotency.ts). */
  idempotencyTtlMs?: number;
}

const actorOf = (identity: Identity) => `user:${identity.name}`;

/**
 * A rollback request's id (its commit's Flotilla-Request trailer, its event's id): the same
 * request (pipeline, stage, target, requester) within one lock period of the stage is the same
 * decision, so a retry after a crash finds the commit already pushed and its event is stored once.
 * The API has no idempotency key; the lock period stands in for it (a rollback locks the stage,
 * so rolling back to the same target again needs an unlock first, which starts a new period).
 */
export function rollbackRequestId(
  idPrefix: string,
  stage: string,
  target: string,
  actor: string,
  lockChangedAt = '',
): string {
  const h = createHash('sha256')
    .update([idPrefix, stage, target, actor, lockChangedAt].join('\n'))
    .digest('hex');
  return `rollback-${idPrefix}${stage}-${h.slice(0, 16)}`;
}

/**
 * A client's idempotency key (`Idempotency-Key`) as the planner records it: bound to the pipeline,
 * the operation, its target and who sent it, so the same key from another person, or for
 * another operation, is another request. Saved in the same KV write as the decision it made, so
 * a retry after a crash (or a lost answer) finds the decision and answers it again.
 */
export function requestTag(idPrefix: string, op: string, target: string, actor: string, key: string): string {
  const h = createHash('sha256').update([idPrefix, op, target, actor, key].join('\n')).digest('hex');
  return `req-${h.slice(0, 32)}`;
}

/** The request tags a record keeps (newest last): enough for any client's retries. */
const REQUESTS_KEPT = 20;
type Requests = NonNullable<PromotionRecord['requests']>;
const remember = (list: Requests | undefined, tag: string | undefined, at: string): Requests | undefined =>
  tag
    ? [...(list ?? []).filter((r) => (typeof r === 'string' ? r : r.tag) !== tag), { tag, at }].slice(
        -REQUESTS_KEPT,
      )
    : list;

/** What OperationRefused names as the refused operation. */
type Operation = 'lock' | 'unlock' | 'rollback' | 'promote' | 'approve' | 'reject' | 'read';

const GIT_SHA = /^[0-9a-f]{40}$/;

/**
 * The planner's API operations, each run through the planner's queue: decide on promotions,
 * promote now, lock, unlock, roll back, and report status. Refusals are thrown as
 * OperationError; answers are plain bodies.
 */
export class PlannerOperations {
  constructor(private readonly d: OperationsDeps) {}

  approve(
    id: string,
    identity: Identity,
    comment?: string,
    requestKey?: string,
  ): Promise<{ promotion: PromotionRecord }> {
    return this.d.host.exclusive(async (pipeline) => {
      const tag = this.tag('approve', id, identity, requestKey);
      const earlier = this.d.promotions.get(id);
      if (tag && this.answers(earlier?.requests, tag, earlier?.updatedAt)) return { promotion: earlier! };
      const { p, actor } = await this.decider(pipeline, id, identity, 'approve');
      await this.decide(pipeline, p, tag, {
        type: 'approve',
        actor,
        stageLocked: this.d.state.stage(p.toStage).locked !== undefined,
        ...(comment ? { comment } : {}),
      });
      return { promotion: p };
    });
  }

  reject(
    id: string,
    identity: Identity,
    reason?: string,
    requestKey?: string,
  ): Promise<{ promotion: PromotionRecord }> {
    return this.d.host.exclusive(async (pipeline) => {
      const tag = this.tag('reject', id, identity, requestKey);
      const earlier = this.d.promotions.get(id);
      if (tag && this.answers(earlier?.requests, tag, earlier?.updatedAt)) return { promotion: earlier! };
      const { p, actor } = await this.decider(pipeline, id, identity, 'reject');
      await this.decide(pipeline, p, tag, { type: 'reject', actor, reason: reason ?? 'rejected' });
      return { promotion: p };
    });
  }

  /**
   * Steps the promotion with a person's decision, the request's tag saved with it (the step's
   * save is the decision's one KV write); a refused step saves nothing, so the tag is dropped.
   */
  private async decide(
    pipeline: Pipeline,
    p: PromotionRecord,
    tag: string | undefined,
    input: Parameters<Promotions['step']>[2],
  ): Promise<void> {
    const before = p.requests;
    const requests = remember(before, tag, new Date().toISOString());
    if (requests) p.requests = requests;
    const step = await this.d.promotions.step(pipeline, p, input);
    if (step.refused) {
      if (before) p.requests = before;
      else delete p.requests;
      throw refused('conflict', step.refused.code, step.refused.message);
    }
  }

  /**
   * Whether a retry of `tag` is answered from `list` (its record): the key was recorded there
   * and has not outlived `idempotencyTtlMs`. An expired key is a new request.
   */
  private answers(
    list: ReadonlyArray<RequestStamp | string> | undefined,
    tag: string,
    fallbackAt?: string,
  ): boolean {
    return hasLiveRequest(list, tag, Date.now(), this.ttlMs, fallbackAt);
  }

  private get ttlMs(): number {
    return this.d.idempotencyTtlMs ?? DEFAULT_IDEMPOTENCY_TTL_MS;
  }

  /** The request tag of `requestKey` for this operation, if the client sent one. */
  private tag(op: string, target: string, identity: Identity, requestKey?: string): string | undefined {
    return requestKey
      ? requestTag(this.d.scope.idPrefix, op, target, actorOf(identity), requestKey)
      : undefined;
  }

  /**
   * What approve and reject share: a known promotion into a stage that still exists, and an
   * identity allowed to decide on it (a refusal is recorded on the promotion and as an event).
   */
  private async decider(
    pipeline: Pipeline,
    id: string,
    identity: Identity,
    verb: 'approve' | 'reject',
  ): Promise<{ p: PromotionRecord; actor: string }> {
    const p = this.d.promotions.get(id);
    if (!p) throw refused('not-found', 'not-found', `no promotion ${id}`);
    const stage = findStage(pipeline, p.toStage);
    if (!stage) throw refused('conflict', 'stage-gone', `stage ${p.toStage} is no longer in the pipeline`);
    const actor = actorOf(identity);
    const roleMissing = !hasRole(identity.roles ?? [], 'approve', this.at(p.toStage));
    if (roleMissing || !canApprove(stage, identity)) {
      const why = roleMissing
        ? `has no approve role for ${this.where(p.toStage)}, so may not ${verb} promotions into ${p.toStage}`
        : `is not an approver of ${p.toStage}, so may not ${verb} promotions into it`;
      // Recorded on the promotion, which publishes PromotionRejected (kind unauthorised).
      await this.d.promotions.step(pipeline, p, {
        type: 'refuse',
        actor,
        reason: why,
        at: new Date().toISOString(),
      });
      throw refused('forbidden', roleMissing ? 'role-missing' : 'not-approver', `${actor} ${why}`);
    }
    if (verb === 'approve') {
      // Separation of duties: whoever started the promotion or wrote what it carries may not
      // approve it (a rejection stays open to them: saying no needs no second person).
      const mine =
        p.actor === actor
          ? ['(started this promotion)']
          : commitsBy(actor, await this.commitsOf(pipeline, p));
      if (mine.length > 0) {
        const why = `may not approve a promotion they authored: ${mine.map((c) => c.slice(0, 12)).join(', ')}; another approver must`;
        await this.d.promotions.step(pipeline, p, {
          type: 'refuse',
          actor,
          reason: why,
          at: new Date().toISOString(),
        });
        throw refused('forbidden', 'separation-of-duties', `${actor} ${why}`);
      }
    }
    return { p, actor };
  }

  /**
   * The commits a promotion carries: those since what the target stage runs that could change
   * what the upstream stage renders, except the planner's own (image updates, promotions).
   */
  private async commitsOf(pipeline: Pipeline, p: PromotionRecord): Promise<ChangeCommit[]> {
    const upstream = findStage(pipeline, p.fromStage);
    const target = findStage(pipeline, p.toStage);
    if (!upstream || !target) return [];
    const bases = target.clusters.map((c) => this.d.health.known(c.name)?.desired?.revision);
    const base = bases.every((b): b is string => b !== undefined) && bases.length > 0 ? bases[0] : null;
    const own = this.d.host.ownCommits();
    const commits = await this.d.repo.mirror.commitsBetween(base ?? null, p.revision);
    return commits
      .filter(
        (c) =>
          !own.has(c.sha) && upstream.clusters.some((u) => touchesStage(c.changedPaths, u.path, pipeline)),
      )
      .map((c) => ({
        commit: c.sha,
        author: { name: c.author.name, email: c.author.email },
        committer: { name: c.committer.name, email: c.committer.email },
      }));
  }

  /**
   * Approves a change held at a gated stage (ChangeAwaitingApproval) and issues its plan. The
   * approver must be allowed to approve the stage and be none of the change's authors or
   * committers; `emergency` waives the latter (break-glass) but needs a reason, and is recorded
   * as such in the event, the audit log and every evidence export.
   */
  approveChange(
    id: string,
    identity: Identity,
    opts: { emergency?: boolean; reason?: string; requestKey?: string } = {},
  ): Promise<{ change: HeldChange; approved: ApprovalAnswer; planId?: string }> {
    return this.d.host.exclusive(async (pipeline) => {
      const tag = this.tag('approve-change', id, identity, opts.requestKey);
      // The same request again (its answer lost, or the planner killed after it issued the plan):
      // the change is no longer held, but its approval is on record; answer that.
      const decided = tag ? this.approvedChange(pipeline, id, tag) : null;
      if (decided) return decided;
      const found = this.heldChange(pipeline, id);
      if (!found) throw refused('not-found', 'not-found', `no change ${id} is waiting for approval`);
      const { stage, cluster, c, held } = found;
      const actor = actorOf(identity);
      const fields = {
        ...this.d.scope.field,
        changeId: id,
        stage: stage.name,
        cluster: cluster.name,
        revision: held.revision,
      };
      const refuse = async (
        code: 'unauthorised' | 'separation-of-duties' | 'reason-required',
        reason: string,
      ): Promise<never> => {
        // Changes no state; under a key its id is fixed, so a retried request stores one (see refuse).
        await this.d.bus.publish(
          ChangeApprovalRefused,
          { ...fields, by: actor, code, reason },
          { actor, ...(tag ? { id: `${tag}-refused` } : {}) },
        );
        throw refused(code === 'reason-required' ? 'bad-request' : 'forbidden', code, reason);
      };
      // A stage made `auto` by the held change itself is approved by the approvers in force before.
      const gate: Stage =
        stage.promotion?.rule === 'manual'
          ? stage
          : { ...stage, promotion: { ...stage.promotion, rule: 'manual', approvers: c.gatedBy ?? [] } };
      if (!hasRole(identity.roles ?? [], 'approve', this.at(stage.name)) || !canApprove(gate, identity))
        return await refuse('unauthorised', `${actor} may not approve changes to ${stage.name}`);
      const kind = opts.emergency ? 'emergency' : 'standard';
      const reason = opts.reason?.trim();
      if (kind === 'emergency' && !reason)
        return await refuse('reason-required', 'an emergency approval needs a reason (it is reviewed later)');
      const mine = commitsBy(actor, held.commits);
      if (kind === 'standard' && mine.length > 0)
        return await refuse(
          'separation-of-duties',
          `${actor} authored or committed ${mine.map((c) => c.slice(0, 12)).join(', ')} of this change; another approver must approve it (or approve it as an emergency, with a reason)`,
        );
      const approved = {
        changeId: id,
        contentDigest: held.contentDigest,
        kind,
        by: actor,
        at: new Date().toISOString(),
      } as const;
      // The change and the request are kept with the approval, so a retried request is answered.
      c.approvedChange = { ...approved, change: held, ...(tag ? { request: tag } : {}) };
      const announced = this.d.bus.event(
        ChangeApproved,
        {
          ...fields,
          bundleDigest: held.bundleDigest,
          approver: actor,
          kind,
          ...(reason ? { reason } : {}),
          authors: changePeople(held.commits),
        },
        { actor, id: `${id}-approved` },
      );
      // The approval and its event are one KV write (the outbox); the event is published, and
      // so on record, before the plan it releases.
      await this.d.state.saveCluster(c, [announced]);
      await this.d.promotions.saved([announced]);
      await this.d.host.issueHeld(stage, cluster);
      await this.d.faults?.afterChangeIssued?.(id);
      return { change: held, approved, ...(c.desired ? { planId: c.desired.planId } : {}) };
    });
  }

  /** The recorded approval of change `id` made by request `tag`, answered as it was the first time. */
  private approvedChange(
    pipeline: Pipeline,
    id: string,
    tag: string,
  ): { change: HeldChange; approved: ApprovalAnswer; planId?: string } | null {
    for (const stage of pipeline.spec.stages)
      for (const cluster of stage.clusters) {
        const c = this.d.health.known(cluster.name);
        const a = c?.approvedChange;
        if (!c || !a || a.changeId !== id || a.request !== tag || !a.change) continue;
        if (!this.answers([{ tag, at: a.at }], tag)) continue;
        const { change, request: _r, ...approved } = a;
        const issued = c.desired?.contentDigest === a.contentDigest ? { planId: c.desired.planId } : {};
        return { change, approved, ...issued };
      }
    return null;
  }

  /** The held change `id` of this pipeline, with its stage and cluster. */
  private heldChange(
    pipeline: Pipeline,
    id: string,
  ): { stage: Stage; cluster: Stage['clusters'][number]; c: ClusterState; held: HeldChange } | null {
    for (const stage of pipeline.spec.stages)
      for (const cluster of stage.clusters) {
        const c = this.d.health.known(cluster.name);
        if (c?.held?.changeId === id) return { stage, cluster, c, held: c.held };
      }
    return null;
  }

  /**
   * Promote into `stageName` now from its upstream's current images, without waiting for soak.
   * Into a manual stage the promotion waits for another approver.
   */
  promoteNow(
    stageName: string,
    identity: Identity,
    requestKey?: string,
  ): Promise<{ promotion: PromotionRecord }> {
    return this.d.host.exclusive(async (pipeline) => {
      const { state, promotions, bus } = this.d;
      const tag = this.tag('promote', stageName, identity, requestKey);
      // A retried promote-now finds the promotion it created, rather than replacing it.
      const earlier = tag
        ? [...state.promotions.values()].find((x) => this.answers(x.requests, tag, x.updatedAt))
        : undefined;
      if (earlier) return { promotion: earlier };
      const stage = findStage(pipeline, stageName);
      if (!stage) throw refused('not-found', 'not-found', `no stage ${stageName}`);
      // Into a manual stage it is an approval (checked below, against the approvers too);
      // into an auto stage it is skipping the soak: an operator's call.
      if ((stage.promotion?.rule ?? 'auto') === 'auto')
        await this.requireOperator(identity, stage, 'promote', tag);
      else await this.requireRole(identity, 'approve', 'promote', stageName, tag);
      const upstream = previousStage(pipeline, stage);
      if (!upstream)
        throw refused(
          'bad-request',
          'first-stage',
          `${stageName} is the first stage; it takes image updates`,
        );
      if (state.stage(stageName).locked) throw refused('conflict', 'locked', `stage ${stageName} is locked`);
      const actor = actorOf(identity);
      const rule = stage.promotion?.rule ?? 'auto';
      const revision = state.stage(upstream.name).revision;
      if (!revision) throw refused('conflict', 'not-rendered', `${upstream.name} has not been rendered yet`);
      if (rule === 'manual' && !canApprove(stage, identity)) {
        await bus.publish(
          PromotionRejected,
          {
            ...this.d.scope.field,
            promotionId: `${this.d.scope.idPrefix}${stageName}-now`,
            toStage: stageName,
            by: actor,
            reason: `${actor} may not promote into ${stageName}`,
            kind: 'unauthorised',
          },
          { actor, ...(tag ? { id: `${tag}-refused` } : {}) },
        );
        throw refused('forbidden', 'forbidden', `${actor} may not promote into ${stageName}`);
      }
      const images = await imagesAt(this.d.repo, state, pipeline.spec.images ?? [], upstream, revision);
      if (images.length === 0 || runsAll(state.stage(stageName).images, images))
        throw refused(
          'conflict',
          'nothing-to-promote',
          `${stageName} already runs ${upstream.name}'s images`,
        );
      let id = promotions.idFor(upstream.name, stageName, images);
      const existing = promotions.get(id);
      if (existing)
        await promotions.step(pipeline, existing, {
          type: 'cancel',
          reason: `replaced by promote-now from ${actor}`,
        });
      if (existing) id = `${id}-${Date.now().toString(36)}`;
      const p = promotions.create({
        id,
        fromStage: upstream.name,
        toStage: stageName,
        revision,
        images,
        rule,
        actor,
      });
      if (tag) p.requests = [{ tag, at: new Date().toISOString() }];
      await state.savePromotion(p);
      // Into a manual stage this only proposes: a second person approves (never the one who
      // asked), and the approval is published before the commit it causes.
      await promotions.step(pipeline, p, { type: 'advance' });
      return { promotion: p };
    });
  }

  lock(
    stageName: string,
    identity: Identity,
    reason?: string,
    requestKey?: string,
  ): Promise<{ stage: StageState }> {
    // A retried lock is the lock already made: no second StageLockChanged.
    return this.lockRequest('lock', stageName, identity, requestKey, (pipeline, tag) =>
      this.setLock(pipeline, stageName, actorOf(identity), 'manual', reason, [], tag),
    );
  }

  unlock(
    stageName: string,
    identity: Identity,
    reason?: string,
    requestKey?: string,
  ): Promise<{ stage: StageState }> {
    // A retried unlock must not undo a lock someone set since the first one.
    return this.lockRequest('unlock', stageName, identity, requestKey, (_pipeline, tag) =>
      this.clearLock(stageName, actorOf(identity), reason, tag),
    );
  }

  /**
   * What lock and unlock share, in the pipeline's queue: a request already answered (same
   * request key, still within its TTL) returns the stage as it is without acting again;
   * otherwise only an operator of an existing stage may `act`.
   */
  private lockRequest(
    operation: 'lock' | 'unlock',
    stageName: string,
    identity: Identity,
    requestKey: string | undefined,
    act: (pipeline: Pipeline, tag: string | undefined) => Promise<void>,
  ): Promise<{ stage: StageState }> {
    return this.d.host.exclusive(async (pipeline) => {
      const tag = this.tag(operation, stageName, identity, requestKey);
      const ss = this.d.state.stage(stageName);
      if (tag && this.answers(ss.requests, tag)) return { stage: ss };
      await this.requireOperator(identity, this.stageOf(pipeline, stageName), operation, tag);
      await act(pipeline, tag);
      return { stage: this.d.state.stage(stageName) };
    });
  }

  /** Unlocks the stage if it is locked (an unlocked stage stays as it is, with no event). */
  private async clearLock(stageName: string, actor: string, reason?: string, tag?: string): Promise<void> {
    const ss = this.d.state.stage(stageName);
    if (!ss.locked) return;
    delete ss.locked;
    ss.lockChangedAt = new Date().toISOString();
    if (tag) ss.requests = rememberRequest(ss.requests, { tag, at: ss.lockChangedAt });
    const changed = this.d.bus.event(
      StageLockChanged,
      { ...this.d.scope.field, stage: stageName, locked: false, by: actor, ...(reason ? { reason } : {}) },
      { actor },
    );
    // The unlock and its event are one KV write; the outbox publishes the event.
    await this.d.state.saveStage(ss, [changed]);
    await this.d.promotions.saved([changed]);
    await this.d.host.evaluate();
  }

  private async setLock(
    pipeline: Pipeline,
    stageName: string,
    actor: string,
    cause: 'manual' | 'rollback',
    reason?: string,
    also: FlotillaEvent[] = [],
    request?: string | StageRequest,
  ): Promise<void> {
    const ss = this.d.state.stage(stageName);
    const at = new Date().toISOString();
    ss.locked = { by: actor, at, cause, ...(reason ? { reason } : {}) };
    // A rollback's lock continues the period its request was made in (its id names that period),
    // so the same request retried after it was recorded is still recognised as the same one.
    if (cause === 'manual') ss.lockChangedAt = at;
    if (request)
      ss.requests = rememberRequest(
        ss.requests,
        typeof request === 'string' ? { tag: request, at } : request,
      );
    delete ss.pendingRollback;
    const changed = this.d.bus.event(
      StageLockChanged,
      { ...this.d.scope.field, stage: stageName, locked: true, by: actor, ...(reason ? { reason } : {}) },
      { actor },
    );
    // The lock and its events are one KV write (its outbox), published once it is saved.
    await this.d.state.saveStage(ss, [changed, ...also]);
    await this.d.promotions.saved([changed, ...also]);
    // Nothing queued for a locked stage may land later and fight the lock.
    await this.d.promotions.cancelOpen(pipeline, stageName, `stage locked by ${actor}`);
  }

  /**
   * Restores the stage's cluster paths from its last healthy revision (or `toRevision`) in one
   * revert-style commit, then locks the stage so automation does not undo the rollback. The
   * target must be a revision this stage ran healthy (the planner's record of it) and still on
   * the branch's first-parent history: not any commit the mirror happens to hold (a side branch,
   * or one force-pushed away), which would put unreviewed content into the stage.
   */
  rollback(
    stageName: string,
    identity: Identity,
    opts: { toRevision?: string; reason?: string; requestKey?: string } = {},
  ): Promise<{ commit: string; toRevision: string; stage: StageState }> {
    return this.d.host.exclusive(async (pipeline) => {
      const { repo, writer } = this.d;
      const stage = this.stageOf(pipeline, stageName);
      const ss = this.d.state.stage(stageName);
      const actor = actorOf(identity);
      // With a key, the request is named by it (not by a target that moves once it is done) and
      // by the lock period, which a rollback continues: its retries keep the name, while the same
      // key sent again after it expired and the stage was unlocked names a new rollback (its
      // commit trailer would otherwise find the old one).
      const keyTag = this.tag('rollback', stageName, identity, opts.requestKey);
      const keyed = keyTag
        ? ss.lockChangedAt
          ? rollbackRequestId(this.d.scope.idPrefix, stageName, keyTag, actor, ss.lockChangedAt)
          : `rollback-${this.d.scope.idPrefix}${stageName}-${keyTag.slice(4, 20)}`
        : undefined;
      const answered = (id: string, live = false) => {
        const r = ss.requests?.find(
          (x) => x.tag === id && x.commit && x.toRevision && (!live || this.answers([x], id)),
        );
        return r ? { commit: r.commit as string, toRevision: r.toRevision as string, stage: ss } : null;
      };
      const replay = keyed ? answered(keyed, true) : null;
      if (replay) return replay;
      await this.requireOperator(identity, stage, 'rollback', keyTag);
      const currentContent = this.d.health.contentOf(stage);
      const target =
        opts.toRevision ?? ss.healthy.find((h) => !sameContent(h.content, currentContent))?.revision;
      if (!target)
        throw refused(
          'conflict',
          'no-healthy-revision',
          `no earlier healthy revision of ${stageName} is known`,
        );
      const badTarget = (code: string, message: string): Promise<never> =>
        this.refuse(identity, 'rollback', stageName, 'unprocessable', code, message, target, keyTag);
      if (!GIT_SHA.test(target))
        await badTarget('revision-malformed', `rollback target must be a full 40-hex commit id`);
      if (!ss.healthy.some((h) => h.revision === target))
        await badTarget(
          'revision-never-healthy',
          `${target} is not a revision ${stageName} ran healthy (known: the last ${ss.healthy.length})`,
        );
      // Fetch first: a commit force-pushed away since the last fetch must not pass.
      await repo.fetch();
      if (!(await repo.has(target)))
        await badTarget('revision-unknown', `revision ${target} is not in the config repo`);
      if (!(await repo.onFirstParentHistory(target)))
        await badTarget(
          'revision-not-on-branch',
          `${target} is not on the first-parent history of ${repo.branch} (merged from a side branch, or rewritten away)`,
        );
      const requestId =
        keyed ?? rollbackRequestId(this.d.scope.idPrefix, stageName, target, actor, ss.lockChangedAt);
      const done = answered(requestId);
      if (done) return done;
      // One trace for the rollback: its commit (trailer), its event and the plans rendered from it.
      const traceparent = keyedTraceparent(requestId);
      const reason = opts.reason ?? `roll back ${stageName} to its last healthy revision`;
      const pending: PendingRollback = {
        requestId,
        target,
        actor,
        reason,
        ...(ss.revision ? { fromRevision: ss.revision } : {}),
      };
      // The intent is saved before the push: a planner killed after pushing finds the commit by
      // its trailer when it next activates and records it then (recoverRollbacks), whether or
      // not the client ever retries.
      ss.pendingRollback = pending;
      await this.d.state.saveStage(ss);
      // The same request retried after a crash (its commit pushed, its lock and event not saved)
      // finds that commit and records it, rather than answering "nothing to roll back".
      // Begun on a head the remote moved past, the rollback is looked up and written again from
      // the remote's (`commitAndPush` confirms the head before answering "nothing to roll back").
      const { earlier, sha } = await writer.change(async () => {
        const earlier = await writer.begin(['Flotilla-Request', requestId]);
        const sha =
          earlier ?? (await this.commitRollback(stage, target, { actor, requestId, traceparent, reason }));
        return { earlier, sha };
      });
      if (!sha) {
        delete ss.pendingRollback;
        await this.d.state.saveStage(ss);
        throw refused('conflict', 'nothing-to-roll-back', `${stageName} already matches ${target}`);
      }
      if (!earlier) await this.d.faults?.afterRollbackPush?.(requestId, sha);
      await this.recordRollback(pipeline, stageName, pending, sha);
      return { commit: sha, toRevision: target, stage: ss };
    });
  }

  /**
   * Records a pushed rollback: its RollbackCommitted (a fixed id, so recording it twice stores
   * one), the lock, and the request, in one KV write, then renders the commit.
   */
  private async recordRollback(
    pipeline: Pipeline,
    stageName: string,
    r: PendingRollback,
    sha: string,
  ): Promise<void> {
    const traceparent = keyedTraceparent(r.requestId);
    const committed = this.d.bus.event(
      RollbackCommitted,
      {
        ...this.d.scope.field,
        stage: stageName,
        commit: sha,
        toRevision: r.target,
        ...(r.fromRevision ? { fromRevision: r.fromRevision } : {}),
        by: r.actor,
        reason: r.reason,
      },
      { actor: r.actor, traceparent, id: `${r.requestId}-committed` },
    );
    await this.setLock(
      pipeline,
      stageName,
      r.actor,
      'rollback',
      `rolled back to ${r.target.slice(0, 12)}: ${r.reason}`,
      [committed],
      { tag: r.requestId, at: new Date().toISOString(), commit: sha, toRevision: r.target },
    );
    await this.d.host.afterPush(committed);
  }

  /**
   * After a restart or failover: a held change whose approval was saved (with its ChangeApproved
   * in the outbox) but whose plan was not issued before the planner died is issued now. A render
   * would issue it too, but only if a new commit comes; the approval must not wait for one.
   */
  async resumeApprovedChanges(pipeline: Pipeline): Promise<void> {
    for (const stage of pipeline.spec.stages)
      for (const cluster of stage.clusters) {
        const c = this.d.health.known(cluster.name);
        if (c?.held && c.approvedChange?.contentDigest === c.held.contentDigest)
          await this.d.host.issueHeld(stage, cluster);
      }
  }

  /**
   * After a restart or failover: a rollback whose intent was saved but not its outcome (the
   * planner died between them) is looked up by its request trailer. Pushed: recorded now, once.
   * Not pushed: the intent is dropped (the client saw an error and may ask again). Runs in the
   * planner's queue (activation), so it does not go through `exclusive`.
   */
  async recoverRollbacks(pipeline: Pipeline): Promise<void> {
    for (const ss of [...this.d.state.stages.values()]) {
      const pending = ss.pendingRollback;
      if (!pending) continue;
      // Not found drops the intent without a push to confirm the head: so ask the remote first.
      const sha = await this.d.writer.begin(['Flotilla-Request', pending.requestId], { verify: true });
      if (sha && findStage(pipeline, ss.stage)) {
        await this.recordRollback(pipeline, ss.stage, pending, sha);
        continue;
      }
      delete ss.pendingRollback;
      await this.d.state.saveStage(ss);
    }
  }

  /** Restores the stage's cluster paths as of `target` in one commit; null when they already match. */
  private async commitRollback(
    stage: Stage,
    target: string,
    r: { actor: string; requestId: string; traceparent: string; reason: string },
  ): Promise<string | null> {
    const { repo, writer } = this.d;
    for (const c of stage.clusters) {
      const wanted = new Set(await repo.listFiles(target, c.path));
      for (const f of await writer.filesUnder(c.path)) if (!wanted.has(f)) await writer.removeFile(f);
      for (const f of wanted) {
        const text = await repo.readFile(target, f);
        if (text !== null) await writer.writeFile(f, text);
      }
    }
    return await writer.commitAndPush({
      pipeline: this.d.scope.name,
      message: `flotilla: roll back ${stage.name} to ${target.slice(0, 12)}\n\n${r.reason}\n\nRestores ${stage.clusters.map((c) => c.path).join(', ')} as of ${target}; automation on ${stage.name} stays paused until it is unlocked.`,
      trailers: {
        'Flotilla-Rollback': stage.name,
        'Flotilla-Rollback-To': target,
        'Flotilla-Request': r.requestId,
        ...(this.d.scope.root ? {} : { 'Flotilla-Pipeline': this.d.scope.name }),
        'Flotilla-Actor': r.actor,
      },
      key: ['Flotilla-Request', r.requestId],
      traceparent: r.traceparent,
    });
  }

  /** "What is where": per stage its lock, images, clusters' plans and health, open promotions. */
  status(identity: Identity): Promise<PipelineStatus> {
    return this.d.host.exclusive(async (pipeline) => {
      if (!hasRoleIn(identity.roles ?? [], 'read', this.d.scope.name))
        await this.refuse(
          identity,
          'read',
          undefined,
          'forbidden',
          'role-missing',
          `${actorOf(identity)} has no read role for ${this.d.scope.name}`,
        );
      const stages = pipeline.spec.stages.map((s) => {
        const ss: StageState = this.d.state.stage(s.name);
        return {
          name: s.name,
          rule: s.promotion?.rule ?? 'auto',
          soak: s.promotion?.soak,
          approvers: s.promotion?.approvers,
          locked: ss.locked ?? null,
          revision: ss.revision ?? null,
          images: ss.images,
          lastHealthy: ss.healthy[0] ?? null,
          clusters: s.clusters.map((c) => {
            const cs = this.d.health.known(c.name);
            return {
              name: c.name,
              path: c.path,
              desired: cs?.desired ?? null,
              renderedRevision: cs?.renderedRevision ?? null,
              applied: cs?.applied ?? null,
              health: cs?.health ?? null,
              lastError: cs?.lastError ?? null,
              lastRenderError: cs?.lastRenderError ?? null,
              held: cs?.held ?? null,
            };
          }),
          promotions: this.d.promotions.open(s.name),
        };
      });
      return {
        pipeline: pipeline.metadata.name,
        file: this.d.scope.file,
        ...(pipeline.spec.owner ? { owner: pipeline.spec.owner } : {}),
        ...(pipeline.spec.tenant ? { tenant: pipeline.spec.tenant } : {}),
        revision: this.d.host.lastRenderedRevision(),
        stages,
      };
    });
  }

  /** The stage by name, or a 404. */
  private stageOf(pipeline: Pipeline, name: string): Stage {
    const stage = findStage(pipeline, name);
    if (!stage) throw refused('not-found', 'not-found', `no stage ${name}`);
    return stage;
  }

  private at(stage?: string) {
    return { pipeline: this.d.scope.name, ...(stage ? { stage } : {}) };
  }

  private where(stage?: string): string {
    return `${this.d.scope.name}${stage ? `/${stage}` : ''}`;
  }

  /** Refuses unless the token grants `role` for this pipeline's `stage`. */
  private async requireRole(
    identity: Identity,
    role: Role,
    operation: Operation,
    stage?: string,
    tag?: string,
  ) {
    if (hasRole(identity.roles ?? [], role, this.at(stage))) return;
    await this.refuse(
      identity,
      operation,
      stage,
      'forbidden',
      'role-missing',
      `${actorOf(identity)} has no ${role} role for ${this.where(stage)}`,
      undefined,
      tag,
    );
  }

  /** The token's `operate` role for the stage, then the stage's own `operators` list, if any. */
  private async requireOperator(identity: Identity, stage: Stage, operation: Operation, tag?: string) {
    await this.requireRole(identity, 'operate', operation, stage.name, tag);
    if (!isStageOperator(stage, identity))
      await this.refuse(
        identity,
        operation,
        stage.name,
        'forbidden',
        'not-operator',
        `${actorOf(identity)} is not among the operators of ${stage.name} (${(stage.operators ?? []).join(', ')})`,
        undefined,
        tag,
      );
  }

  /**
   * Publishes OperationRefused, then throws the refusal the API answers with. A refusal changes
   * no state, so it needs no outbox: it is published before the answer, and if it cannot be, the
   * request fails (503) and the client's retry publishes it again. Under the request's
   * Idempotency-Key the event's id is fixed (`<tag>-refused`), so JetStream stores one however
   * often the same request is retried (within the stream's duplicate window).
   */
  private async refuse(
    identity: Identity,
    operation: Operation,
    stage: string | undefined,
    failure: OperationFailure,
    code: string,
    message: string,
    revision?: string,
    tag?: string,
  ): Promise<never> {
    const actor = actorOf(identity);
    await this.d.bus.publish(
      OperationRefused,
      {
        ...this.d.scope.field,
        ...(stage ? { stage } : {}),
        operation,
        by: actor,
        code,
        reason: message,
        ...(revision !== undefined ? { revision: revision.slice(0, 256) } : {}),
      },
      { actor, ...(tag ? { id: `${tag}-refused` } : {}) },
    );
    throw refused(failure, code, message);
  }
}
