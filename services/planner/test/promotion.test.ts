import {
  ImageUpdateCommitted,
  PlanCreated,
  PromotionApproved,
  PromotionAwaitingApproval,
  PromotionCommitted,
  PromotionProposed,
  PromotionRejected,
  parseTraceparent,
  traceIdOf,
} from '@flotilla/events';
import { type PlanData, verifyPlanSignature } from '@flotilla/trust';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PlannerHandle } from '../src/service.ts';
import { createHarness, digestOf, type Harness, TOKENS, trailers, WEB } from './harness.ts';
import './status-matcher.ts';

let h: Harness;
let planner: PlannerHandle;

beforeAll(async () => {
  h = await createHarness();
  h.simulateAppliers();
  planner = await h.start();
});
afterAll(async () => {
  await h?.stop();
});

type D = Record<string, unknown>;

describe('planner: new image → dev → test → uat → prod (approval)', () => {
  const digest = digestOf('web-1.4.7');
  const ref = `${WEB}:1.4.7@${digest}`;

  it('renders every cluster at startup into a signed plan', async () => {
    for (const c of ['dev', 'test', 'uat', 'prod']) {
      const plan = await h.events.wait<PlanData>(PlanCreated, (d) => d.cluster === c);
      expect(plan.data).toMatchObject({ cluster: c, sequence: 1, path: `clusters/${c}` });
      expect(() => verifyPlanSignature(plan.data, [h.trusted])).not.toThrow();
    }
  });

  it('commits a new image into dev only, with trailers, and promotes it on by digest', async () => {
    const tagEvent = await h.tag('1.4.7', digest);
    const update = await h.events.wait<D>(ImageUpdateCommitted, (d) => d.tag === '1.4.7');
    expect(update.data).toMatchObject({
      stage: 'dev',
      policy: 'web',
      digest,
      files: ['clusters/dev/web-image.yaml'],
    });
    const commit = update.data.commit as string;
    const msg = await h.gitRepo('log', '-1', '--format=%an <%ae>%n%B', commit);
    expect(msg).toContain('Flotilla <flotilla@flotilla.invalid>');
    expect(msg).toContain(`Flotilla-Event: ${tagEvent.id}`);
    expect(msg).toContain(`Flotilla-Image: ${ref}`);
    expect(msg).toContain('Flotilla-Policy: web');
    const changed = await h.gitRepo('show', '--name-only', '--format=', commit);
    expect(changed.trim()).toBe('clusters/dev/web-image.yaml');

    // One trace from the registry event to dev's plan: the update event, the commit's trailer and
    // the plan rendered from the planner's own push all continue the tag event's trace.
    const trace = traceIdOf(tagEvent.traceparent);
    expect(trace).toBeDefined();
    expect(traceIdOf(update.traceparent)).toBe(trace);
    const trailer = /^Flotilla-Traceparent: (\S+)$/m.exec(msg)?.[1];
    expect(parseTraceparent(trailer)?.traceId).toBe(trace);
    const devPlan = await h.events.wait<D>(PlanCreated, (d) => d.cluster === 'dev' && d.revision === commit);
    expect(devPlan.correlationid).toBe(tagEvent.correlationid);
    expect(devPlan.causationid).toBe(update.id);
    expect(traceIdOf(devPlan.traceparent)).toBe(trace);

    const toTest = await h.events.wait<D>(PromotionCommitted, (d) => d.toStage === 'test');
    expect(toTest.data).toMatchObject({ fromStage: 'dev', approvedBy: [] });
    const toUat = await h.events.wait<D>(PromotionCommitted, (d) => d.toStage === 'uat');
    expect(toUat.data).toMatchObject({ fromStage: 'test' });
    for (const e of [toTest, toUat]) {
      const body = await h.gitRepo('log', '-1', '--format=%B', e.data.commit as string);
      expect(body).toContain(`Flotilla-Promotion: ${e.data.promotionId}`);
      expect(body).toContain(`Flotilla-Image: ${ref}`);
      // A promotion is one trace: proposal, commit (trailer), committed event and the plan.
      const proposed = h.events.of<D>(PromotionProposed, (d) => d.promotionId === e.data.promotionId)[0];
      expect(traceIdOf(e.traceparent)).toBe(traceIdOf(proposed?.traceparent));
      expect(traceIdOf(/^Flotilla-Traceparent: (\S+)$/m.exec(body)?.[1])).toBe(traceIdOf(e.traceparent));
      const plan = await h.events.wait<D>(PlanCreated, (d) => d.revision === e.data.commit);
      expect(plan.correlationid).toBe(e.correlationid);
      expect(traceIdOf(plan.traceparent)).toBe(traceIdOf(e.traceparent));
    }
  });

  it('holds prod for approval: an unauthorised approver is refused and recorded', async () => {
    const awaiting = await h.events.wait<D>(PromotionAwaitingApproval, (d) => d.toStage === 'prod');
    const id = awaiting.data.promotionId as string;
    expect(h.events.of<D>(PromotionProposed, (d) => d.promotionId === id)[0]?.data.rule).toBe('manual');
    expect(await h.fileAtHead('clusters/prod/web-image.yaml')).not.toContain(digest);

    const refused = await h.api(planner, 'POST', `/api/v1/promotions/${id}/approve`, TOKENS.bob);
    expect(refused).toMatchObject({ status: 403, body: { error: 'role-missing' } });
    // dave is in release-managers, which flotilla.yaml lists as approvers, but his token only
    // reads: the config repo can narrow who approves, never grant the role.
    const listed = await h.api(planner, 'POST', `/api/v1/promotions/${id}/approve`, TOKENS.dave);
    expect(listed).toMatchObject({ status: 403, body: { error: 'role-missing' } });
    expect(String(listed.body.message)).toContain('no approve role for shop/prod');
    const rejected = await h.events.wait<D>(PromotionRejected, (d) => d.promotionId === id);
    expect(rejected.data).toMatchObject({ kind: 'unauthorised', by: 'user:bob' });
    expect(rejected.actor).toBe('user:bob');
    expect(await h.api(planner, 'POST', `/api/v1/promotions/${id}/approve`)).toHaveStatus(401);
    const rec = await h.api(planner, 'GET', `/api/v1/promotions/${id}`, TOKENS.bob);
    expect(rec.body.promotion).toMatchObject({
      status: 'awaiting',
      refusals: [{ by: 'user:bob' }, { by: 'user:dave' }],
    });
    expect(await h.fileAtHead('clusters/prod/web-image.yaml')).not.toContain(digest);

    const approved = await h.api(planner, 'POST', `/api/v1/promotions/${id}/approve`, TOKENS.alice, {
      comment: 'release 1.4.7',
    });
    expect(approved).toHaveStatus(200);
    expect((await h.events.wait<D>(PromotionApproved, (d) => d.promotionId === id)).data.approver).toBe(
      'user:alice',
    );
    const committed = await h.events.wait<D>(PromotionCommitted, (d) => d.toStage === 'prod');
    expect(committed.data.approvedBy).toEqual(['user:alice']);
    const body = await h.gitRepo('log', '-1', '--format=%B', committed.data.commit as string);
    expect(body).toContain('Flotilla-Approved-By: user:alice');
    expect(body).toContain(`Flotilla-Promotion: ${id}`);
  });

  it('has the same digest in every stage and reports what is where', async () => {
    for (const s of ['dev', 'test', 'uat', 'prod'])
      expect(await h.fileAtHead(`clusters/${s}/web-image.yaml`)).toContain(ref);
    expect((await trailers(h, 'Flotilla-Promotion')).length).toBe(3);
    await h.events.wait<D>(PlanCreated, (d) => d.cluster === 'prod' && (d.sequence as number) >= 2);
    const status = await h.api(planner, 'GET', '/api/v1/stages', TOKENS.bob);
    expect(status).toHaveStatus(200);
    const stages = status.body.stages as Array<{ name: string; images: Array<{ digest: string }> }>;
    expect(stages.map((s) => s.name)).toEqual(['dev', 'test', 'uat', 'prod']);
    for (const s of stages) expect(s.images[0]?.digest).toBe(digest);
    const history = await h.api(planner, 'GET', '/api/v1/history?stage=prod', TOKENS.bob);
    const types = (history.body.events as Array<{ type: string }>).map((e) => e.type);
    expect(types).toEqual(
      expect.arrayContaining([
        PromotionAwaitingApproval.type,
        PromotionRejected.type,
        PromotionCommitted.type,
      ]),
    );
  });
});
