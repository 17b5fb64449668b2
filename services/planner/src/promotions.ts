import type { Bus } from '@flotilla/bus';
import {
  type EventDefinition,
  type FlotillaEvent,
  isEventOf,
  keyedTraceparent,
  PromotionApproved,
  PromotionAwaitingApproval,
  PromotionCommitted,
  PromotionProposed,
  PromotionRejected,
} from '@flotilla/events';
import {
  evaluatePromotion,
  findStage,
  nextPromotion,
  OPEN_PROMOTION,
  type Pipeline,
  type PromotionEffect,
  type PromotionStep,
  type PromotionStepInput,
  previousStage,
  type Stage,
} from '@flotilla/policy';
import type { Logger } from '@flotilla/runtime';
import type { Static, TObject } from '@sinclair/typebox';
import type { ConfigRepo } from './config-repo.ts';
import { type ConfigWriter, nothingToCommit } from './config-writer.ts';
import type { HealthView } from './health-view.ts';
import { formatImageRef, rewriteImages } from './image-refs.ts';
import type { PipelineScope } from './pipeline-scope.ts';
import { imagesAt, runsAll } from './stage-images.ts';
import { type PlannerState, type PromotionRecord, promotionId } from './state.ts';

/**
 * Faults a crash test injects through startPlanner's options (never configuration): each runs at
 * the named point and may kill the process there.
 */
export interface PlannerFaults {
  /** A promotion commit was pushed; nothing else about it is recorded yet. */
  afterPromotionPush?(promotion: string, commit: string): void | Promise<void>;
  /** A rollback commit was pushed; its lock and event are not saved yet. */
  afterRollbackPush?(request: string, commit: string): void | Promise<void>;
  /** A held change's approval was recorded and its plan issued; the API has not answered yet. */
  afterChangeIssued?(change: string): void | Promise<void>;
  /** A decision was saved with these events in its outbox; none is published yet. */
  afterOutboxSave?(events: FlotillaEvent[]): void | Promise<void>;
}

export interface PromotionsDeps {
  scope: PipelineScope;
  bus: Bus;
  repo: ConfigRepo;
  state: PlannerState;
  writer: ConfigWriter;
  health: HealthView;
  logger: Logger;
  faults?: PlannerFaults;
  /** After a commit was pushed: render it without waiting for the git-watcher. */
  /** Renders the pushed commit now (continuing `cause`'s correlation and trace). */
  afterPush(cause?: FlotillaEvent): Promise<void>;
}

/** What a promotion writes into the target stage's image markers (its commit, and its diff preview). */
export function promotedImageRefs(pipeline: Pipeline, p: Pick<PromotionRecord, 'images'>) {
  const specs = pipeline.spec.images ?? [];
  return p.images.map((i) => ({
    policy: i.name ?? '',
    repository: i.repository,
    tag: i.tag ?? '',
    digest: i.digest,
    pin: specs.find((s) => s.name === i.name)?.digestPin ?? true,
  }));
}

/**
 * Moves images from stage to stage: evaluates the promotion rules on the health view, proposes,
 * and carries each promotion through `nextPromotion` (@flotilla/policy), executing the effects it
 * names (save, publish, commit). Nothing here decides a status on its own.
 */
export class Promotions {
  private readonly log: Logger;

  constructor(private readonly d: PromotionsDeps) {
    this.log = d.logger.child({ component: 'promotions' });
  }

  get(id: string): PromotionRecord | undefined {
    return this.d.state.promotions.get(id);
  }

  /** Open promotions, optionally only those into `stage`. */
  open(stage?: string): PromotionRecord[] {
    return [...this.d.state.promotions.values()].filter(
      (p) => OPEN_PROMOTION.has(p.status) && (stage === undefined || p.toStage === stage),
    );
  }

  /**
   * Re-runs the promotion rules for every stage and proposes what is due; `onWait` hears when a
   * soak or window ends, to evaluate again then.
   */
  async evaluate(pipeline: Pipeline, onWait: (at: Date) => void): Promise<void> {
    const now = new Date();
    for (const stage of pipeline.spec.stages) this.d.health.recordHealthy(stage);
    for (const stage of pipeline.spec.stages.slice(1)) {
      const upstream = previousStage(pipeline, stage) as Stage;
      const upstreamHealth = upstream.clusters.flatMap((c) => this.d.health.report(c.name) ?? []);
      const decision = evaluatePromotion({
        pipeline,
        stage: stage.name,
        upstreamHealth,
        now,
        locked: this.d.state.stage(stage.name).locked !== undefined,
      });
      if (decision.action === 'wait' && decision.retryAt) onWait(decision.retryAt);
      if (decision.action === 'propose')
        await this.propose(pipeline, upstream, stage, decision.revision, decision.rule);
    }
  }

  private async propose(
    pipeline: Pipeline,
    upstream: Stage,
    stage: Stage,
    revision: string,
    rule: 'auto' | 'manual',
  ): Promise<void> {
    const { state } = this.d;
    const up = state.stage(upstream.name);
    // The render already read the upstream's images at its newest revision; use them.
    const images =
      up.revision === revision
        ? up.images
        : await imagesAt(this.d.repo, state, pipeline.spec.images ?? [], upstream, revision);
    if (images.length === 0) return;
    if (runsAll(state.stage(stage.name).images, images)) return;
    const id = this.idFor(upstream.name, stage.name, images);
    if (state.promotions.has(id)) return; // open, done, or rejected: never proposed twice
    for (const p of this.open(stage.name)) await this.step(pipeline, p, { type: 'supersede', by: id });
    const record = this.create({ id, fromStage: upstream.name, toStage: stage.name, revision, images, rule });
    await state.savePromotion(record);
    this.log.info({ id, from: upstream.name, to: stage.name, rule }, 'promotion proposed');
    await this.step(pipeline, record, { type: 'advance' });
  }

  /** Stable id of promoting these images from → to in this pipeline. */
  idFor(from: string, to: string, images: PromotionRecord['images']): string {
    return `${this.d.scope.idPrefix}${promotionId(from, to, images)}`;
  }

  /** A new promotion record in status `proposed`. */
  create(
    p: Pick<PromotionRecord, 'id' | 'fromStage' | 'toStage' | 'revision' | 'images' | 'rule'> & {
      actor?: string;
      approvedBy?: string[];
    },
  ): PromotionRecord {
    const now = new Date().toISOString();
    return {
      ...p,
      status: 'proposed',
      actor: p.actor ?? 'service:planner',
      approvedBy: p.approvedBy ?? [],
      refusals: [],
      createdAt: now,
      updatedAt: now,
    };
  }

  /** Cancels every open promotion into `stage` (a lock: nothing queued may land later and fight it). */
  async cancelOpen(pipeline: Pipeline, stage: string, reason: string): Promise<void> {
    for (const p of this.open(stage)) await this.step(pipeline, p, { type: 'cancel', reason });
  }

  /** Resumes every open promotion from the state it was recorded in (after a restart or failover). */
  async resumeOpen(pipeline: Pipeline | null): Promise<void> {
    if (!pipeline) return;
    for (const p of this.open()) await this.step(pipeline, p, { type: 'advance' });
  }

  /**
   * Applies `input` to the promotion and carries out the effects `nextPromotion` names, in order.
   * Answers the step (with `refused` set when the input was not allowed; nothing was done then).
   */
  async step(pipeline: Pipeline, p: PromotionRecord, input: PromotionStepInput): Promise<PromotionStep> {
    const stage = findStage(pipeline, p.toStage);
    // A stage that left the pipeline is not advanced; the promotion waits for it to return.
    if (!stage && input.type === 'advance') return { record: p, effects: [] };
    const step = nextPromotion(p, input);
    if (step.refused) return step;
    // The record is the one in the state map (and the API's answer): update it in place.
    Object.assign(p, step.record);
    const { effects } = step;
    let owed: FlotillaEvent[] = [];
    for (let i = 0; i < effects.length; i++) {
      const effect = effects[i] as PromotionEffect;
      if (effect.type === 'commit') {
        // Approval events precede the commits they cause: the outbox is empty before a push.
        await this.flush();
        if (stage) await this.commit(pipeline, p, stage);
      } else if (effect.type === 'save') {
        // The events announcing this save are written with it (one KV value), then published.
        for (let next = effects[i + 1]; next?.type.startsWith('publish-'); next = effects[i + 1]) {
          owed.push(this.eventFor(p, next, stage));
          i++;
        }
        await this.d.state.savePromotion(p, owed);
        await this.saved(owed);
        owed = [];
      } else owed.push(this.eventFor(p, effect, stage));
    }
    // Events with no state change of their own (an awaiting promotion announcing itself again).
    for (const event of owed) await this.d.bus.publishEvent(event);
    return step;
  }

  /**
   * After a decision was saved with `events` in its outbox (one KV write): publishes them, and
   * anything else owed. The fault hook sits between the two, where a crash is hardest to survive.
   */
  async saved(events: FlotillaEvent[]): Promise<void> {
    if (events.length > 0) await this.d.faults?.afterOutboxSave?.(events);
    await this.flush();
  }

  /**
   * Publishes what the outbox owes (every pipeline's: they share it). A failure propagates: the
   * decision stays saved with its events, which the planner publishes again until acknowledged.
   */
  async flush(): Promise<void> {
    const done = await this.d.state.publishOutbox((e) => this.d.bus.publishEvent(e));
    for (const event of done)
      if (isEventOf(PromotionCommitted, event)) {
        this.log.info({ id: event.data.promotionId, commit: event.data.commit }, 'promotion committed');
        await this.d.afterPush(event);
      }
  }

  /** The event a publish effect announces, with the id a republish reuses. */
  private eventFor(p: PromotionRecord, effect: PromotionEffect, stage: Stage | null): FlotillaEvent {
    switch (effect.type) {
      case 'publish-proposed':
        return this.promotionEvent(
          PromotionProposed,
          p,
          {
            fromStage: p.fromStage,
            toStage: p.toStage,
            revision: p.revision,
            images: p.images,
            rule: p.rule,
          },
          { actor: p.actor, suffix: 'proposed', correlationId: effect.correlationId },
        );
      case 'publish-awaiting':
        return this.promotionEvent(
          PromotionAwaitingApproval,
          p,
          {
            fromStage: p.fromStage,
            toStage: p.toStage,
            approvers: stage?.promotion?.approvers ?? [],
            images: p.images,
          },
          { actor: p.actor, suffix: 'awaiting' },
        );
      case 'publish-approved':
        return this.promotionEvent(
          PromotionApproved,
          p,
          {
            toStage: p.toStage,
            approver: effect.approver,
            ...(effect.comment ? { comment: effect.comment } : {}),
          },
          { actor: effect.approver, suffix: 'approved' },
        );
      case 'publish-rejected':
        if (effect.kind === 'unauthorised')
          this.log.warn({ id: p.id, actor: effect.by }, 'unauthorised promotion decision refused');
        return this.promotionEvent(
          PromotionRejected,
          p,
          { toStage: p.toStage, by: effect.by, reason: effect.reason, kind: effect.kind },
          // Each unauthorised attempt is its own event (a random id, fixed once it is saved).
          { actor: effect.by, ...(effect.kind === 'rejected' ? { suffix: 'rejected' } : {}) },
        );
      case 'publish-committed':
        return this.promotionEvent(
          PromotionCommitted,
          p,
          {
            fromStage: p.fromStage,
            toStage: p.toStage,
            commit: p.commit as string,
            sourceRevision: p.revision,
            images: p.images,
            approvedBy: p.approvedBy,
          },
          { actor: p.approvedBy[0] ?? p.actor, suffix: 'committed' },
        );
      default:
        throw new Error(`promotion effect ${effect.type} is not an event`);
    }
  }

  /**
   * One of promotion `p`'s events: the pipeline and the promotion's id beside `data`; the id
   * `<promotion>-<suffix>` that a republish reuses (no suffix: a random one); the correlation id
   * (the promotion's unless given) and a trace named by it. So a promotion's events and its commit
   * share one trace, and the chain holds across soak timers and planner restarts without storing
   * a context.
   */
  private promotionEvent<S extends TObject>(
    def: EventDefinition<string, S>,
    p: PromotionRecord,
    data: Omit<Static<S>, 'pipeline' | 'promotionId'>,
    o: { actor: string; suffix?: string; correlationId?: string },
  ): FlotillaEvent {
    const correlationid = o.correlationId ?? p.correlationId ?? p.id;
    const full = { ...this.d.scope.field, promotionId: p.id, ...data } as Static<S>;
    return this.d.bus.event(def, full, {
      actor: o.actor,
      correlationid,
      traceparent: keyedTraceparent(correlationid),
      ...(o.suffix ? { id: `${p.id}-${o.suffix}` } : {}),
    });
  }

  /** Writes the promotion's images into the stage's files and pushes (or finds the earlier push). */
  private async commit(pipeline: Pipeline, p: PromotionRecord, stage: Stage): Promise<void> {
    const { writer } = this.d;
    const key: [string, string] = ['Flotilla-Promotion', p.id];
    // Begun on a head the remote moved past, the promotion is written again from the remote's.
    const sha = await writer.change(async () => {
      let sha = await writer.begin(key);
      if (!sha) {
        const changes = rewriteImages(
          await writer.yamlFilesUnder(stage.clusters.map((c) => c.path)),
          promotedImageRefs(pipeline, p),
        );
        if (changes.length === 0) {
          await writer.confirmBase();
          await this.step(pipeline, p, {
            type: 'nothing-to-commit',
            reason: `${p.toStage} already runs these images`,
          });
          return null;
        }
        for (const c of changes) await writer.writeFile(c.path, c.text);
        const trailers: Record<string, string> = {
          'Flotilla-Promotion': p.id,
          'Flotilla-From-Stage': p.fromStage,
          'Flotilla-To-Stage': p.toStage,
          'Flotilla-Source-Revision': p.revision,
          'Flotilla-Image': p.images.map(formatImageRef).join(', '),
        };
        if (p.approvedBy.length > 0) trailers['Flotilla-Approved-By'] = p.approvedBy.join(', ');
        if (!this.d.scope.root) trailers['Flotilla-Pipeline'] = this.d.scope.name;
        trailers['Flotilla-Actor'] = p.actor;
        sha = await writer.commitAndPush({
          pipeline: this.d.scope.name,
          message: [
            `flotilla: promote ${p.images.map((i) => `${i.name}:${i.tag ?? i.digest.slice(7, 19)}`).join(', ')} from ${p.fromStage} to ${p.toStage}`,
            '',
            p.rule === 'manual'
              ? `Approved by ${p.approvedBy.join(', ')}; ${p.fromStage} was healthy on ${p.revision}.`
              : `${p.fromStage} was healthy on ${p.revision} for its soak time (rule auto).`,
            '',
            ...changes.flatMap((c) => c.changes.map((x) => `- ${c.path}:${x.line}: ${x.old} -> ${x.new}`)),
          ].join('\n'),
          trailers,
          key,
          traceparent: keyedTraceparent(p.correlationId ?? p.id),
        });
        if (!sha) throw nothingToCommit();
        await this.d.faults?.afterPromotionPush?.(p.id, sha);
      }
      return sha;
    });
    if (!sha) return;
    await this.step(pipeline, p, { type: 'committed', commit: sha });
  }
}
