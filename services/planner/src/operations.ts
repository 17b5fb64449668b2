import type { Bus } from '@flotilla/bus';
import { PromotionApproved, PromotionRejected, RollbackCommitted, StageLockChanged } from '@flotilla/events';
import { canApprove, findStage, type Identity, type Pipeline, previousStage } from '@flotilla/policy';
import type { ConfigRepo } from './config-repo.ts';
import type { ConfigWriter } from './config-writer.ts';
import type { HealthView } from './health-view.ts';
import { sameContent } from './health-view.ts';
import { refused } from './operation-error.ts';
import type { PipelineScope } from './pipeline-scope.ts';
import type { Promotions } from './promotions.ts';
import { imagesAt, runsAll } from './stage-images.ts';
import type { PlannerState, PromotionRecord, StageState } from './state.ts';

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
  /** After a commit was pushed: render it without waiting for the git-watcher. */
  afterPush(): Promise<void>;
  lastRenderedRevision(): string | null;
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
}

const actorOf = (identity: Identity) => `user:${identity.name}`;

/**
 * The planner's API operations, each run through the planner's queue: decide on promotions,
 * promote now, lock, unlock, roll back, and report status. Refusals are thrown as
 * OperationError; answers are plain bodies.
 */
export class PlannerOperations {
  constructor(private readonly d: OperationsDeps) {}

  approve(id: string, identity: Identity, comment?: string): Promise<{ promotion: PromotionRecord }> {
    return this.d.host.exclusive(async (pipeline) => {
      const { p, actor } = await this.decider(pipeline, id, identity, 'approve');
      const step = await this.d.promotions.step(pipeline, p, {
        type: 'approve',
        actor,
        stageLocked: this.d.state.stage(p.toStage).locked !== undefined,
        ...(comment ? { comment } : {}),
      });
      if (step.refused) throw refused('conflict', step.refused.code, step.refused.message);
      return { promotion: p };
    });
  }

  reject(id: string, identity: Identity, reason?: string): Promise<{ promotion: PromotionRecord }> {
    return this.d.host.exclusive(async (pipeline) => {
      const { p, actor } = await this.decider(pipeline, id, identity, 'reject');
      const step = await this.d.promotions.step(pipeline, p, {
        type: 'reject',
        actor,
        reason: reason ?? 'rejected',
      });
      if (step.refused) throw refused('conflict', step.refused.code, step.refused.message);
      return { promotion: p };
    });
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
    if (!canApprove(stage, identity)) {
      const why = `may not ${verb} promotions into ${p.toStage}`;
      await this.d.promotions.step(pipeline, p, {
        type: 'refuse',
        actor,
        reason: why,
        at: new Date().toISOString(),
      });
      throw refused('forbidden', 'forbidden', `${actor} ${why}`);
    }
    return { p, actor };
  }

  /** Promote into `stageName` now from its upstream's current images, without waiting for soak. */
  promoteNow(stageName: string, identity: Identity): Promise<{ promotion: PromotionRecord }> {
    return this.d.host.exclusive(async (pipeline) => {
      const { state, promotions, bus } = this.d;
      const stage = findStage(pipeline, stageName);
      if (!stage) throw refused('not-found', 'not-found', `no stage ${stageName}`);
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
          { actor },
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
        approvedBy: rule === 'manual' ? [actor] : [],
      });
      await state.savePromotion(p);
      await promotions.step(pipeline, p, { type: 'advance' });
      if (rule === 'manual') {
        await bus.publish(
          PromotionApproved,
          {
            ...this.d.scope.field,
            promotionId: p.id,
            toStage: stageName,
            approver: actor,
            comment: 'promoted now',
          },
          { actor, correlationid: p.correlationId ?? p.id, id: `${p.id}-approved` },
        );
      }
      return { promotion: p };
    });
  }

  lock(stageName: string, identity: Identity, reason?: string): Promise<{ stage: StageState }> {
    return this.d.host.exclusive(async (pipeline) => {
      if (!findStage(pipeline, stageName)) throw refused('not-found', 'not-found', `no stage ${stageName}`);
      await this.setLock(pipeline, stageName, actorOf(identity), 'manual', reason);
      return { stage: this.d.state.stage(stageName) };
    });
  }

  unlock(stageName: string, identity: Identity, reason?: string): Promise<{ stage: StageState }> {
    return this.d.host.exclusive(async (pipeline) => {
      if (!findStage(pipeline, stageName)) throw refused('not-found', 'not-found', `no stage ${stageName}`);
      const ss = this.d.state.stage(stageName);
      if (ss.locked) {
        delete ss.locked;
        await this.d.state.saveStage(ss);
        const actor = actorOf(identity);
        await this.d.bus.publish(
          StageLockChanged,
          {
            ...this.d.scope.field,
            stage: stageName,
            locked: false,
            by: actor,
            ...(reason ? { reason } : {}),
          },
          { actor },
        );
        await this.d.host.evaluate();
      }
      return { stage: ss };
    });
  }

  private async setLock(
    pipeline: Pipeline,
    stageName: string,
    actor: string,
    cause: 'manual' | 'rollback',
    reason?: string,
  ): Promise<void> {
    const ss = this.d.state.stage(stageName);
    ss.locked = { by: actor, at: new Date().toISOString(), cause, ...(reason ? { reason } : {}) };
    await this.d.state.saveStage(ss);
    // Nothing queued for a locked stage may land later and fight the lock.
    await this.d.promotions.cancelOpen(pipeline, stageName, `stage locked by ${actor}`);
    await this.d.bus.publish(
      StageLockChanged,
      { ...this.d.scope.field, stage: stageName, locked: true, by: actor, ...(reason ? { reason } : {}) },
      { actor },
    );
  }

  /**
   * Restores the stage's cluster paths from its last healthy revision (or `toRevision`) in one
   * revert-style commit, then locks the stage so automation does not undo the rollback.
   */
  rollback(
    stageName: string,
    identity: Identity,
    opts: { toRevision?: string; reason?: string } = {},
  ): Promise<{ commit: string; toRevision: string; stage: StageState }> {
    return this.d.host.exclusive(async (pipeline) => {
      const { repo, writer } = this.d;
      const stage = findStage(pipeline, stageName);
      if (!stage) throw refused('not-found', 'not-found', `no stage ${stageName}`);
      const ss = this.d.state.stage(stageName);
      const currentContent = this.d.health.contentOf(stage);
      const target =
        opts.toRevision ?? ss.healthy.find((h) => !sameContent(h.content, currentContent))?.revision;
      if (!target)
        throw refused(
          'conflict',
          'no-healthy-revision',
          `no earlier healthy revision of ${stageName} is known`,
        );
      if (!/^[0-9a-f]{40}$/.test(target) || !(await repo.has(target)))
        throw refused('bad-request', 'bad-revision', `revision ${target} is not in the config repo`);
      const actor = actorOf(identity);
      const requestId = `rollback-${this.d.scope.idPrefix}${stageName}-${Date.now().toString(36)}`;
      await writer.begin(['Flotilla-Request', requestId]);
      for (const c of stage.clusters) {
        const wanted = new Set(await repo.listFiles(target, c.path));
        for (const f of await writer.filesUnder(c.path)) if (!wanted.has(f)) await writer.removeFile(f);
        for (const f of wanted) {
          const text = await repo.readFile(target, f);
          if (text !== null) await writer.writeFile(f, text);
        }
      }
      const reason = opts.reason ?? `roll back ${stageName} to its last healthy revision`;
      const sha = await writer.commitAndPush({
        message: `flotilla: roll back ${stageName} to ${target.slice(0, 12)}\n\n${reason}\n\nRestores ${stage.clusters.map((c) => c.path).join(', ')} as of ${target}; automation on ${stageName} stays paused until it is unlocked.`,
        trailers: {
          'Flotilla-Rollback': stageName,
          'Flotilla-Rollback-To': target,
          'Flotilla-Request': requestId,
          ...(this.d.scope.root ? {} : { 'Flotilla-Pipeline': this.d.scope.name }),
          'Flotilla-Actor': actor,
        },
        key: ['Flotilla-Request', requestId],
      });
      if (!sha) throw refused('conflict', 'nothing-to-roll-back', `${stageName} already matches ${target}`);
      await this.setLock(
        pipeline,
        stageName,
        actor,
        'rollback',
        `rolled back to ${target.slice(0, 12)}: ${reason}`,
      );
      await this.d.bus.publish(
        RollbackCommitted,
        {
          ...this.d.scope.field,
          stage: stageName,
          commit: sha,
          toRevision: target,
          ...(ss.revision ? { fromRevision: ss.revision } : {}),
          by: actor,
          reason,
        },
        { actor },
      );
      await this.d.host.afterPush();
      return { commit: sha, toRevision: target, stage: ss };
    });
  }

  /** "What is where": per stage its lock, images, clusters' plans and health, open promotions. */
  status(): Promise<Record<string, unknown>> {
    return this.d.host.exclusive(async (pipeline) => {
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
}
