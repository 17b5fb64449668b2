import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Bus, leaseLost } from '@flotilla/bus';
import {
  createEvent,
  type FlotillaEvent,
  HealthChanged,
  PlanCreated,
  PromotionAwaitingApproval,
} from '@flotilla/events';
import { waitFor } from '@flotilla/test-support';
import type { PlanData } from '@flotilla/trust';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PlannerState, type PromotionRecord, ROOT_SCOPE } from '../src/state.ts';
import { createHarness, type Harness } from './harness.ts';

// A leader deposed while it was paused (or cut off) resumes with work in hand and learns of its
// loss only at its next lease cycle. Found by the clock-skew fault run (issue 19): resumed, the
// old leader acknowledged a health report its successor never saw, and wrote its stale entries
// over its successor's, so a release waited in uat for good. Now the planner checks its lease
// before acting on a message and before acknowledging it, and before every write of its view.

let h: Harness;
let bus: Bus;

beforeAll(async () => {
  h = await createHarness();
  bus = await Bus.connect({ servers: h.nats.url, service: 'planner', instance: 'test', provision: true });
});
afterAll(async () => {
  await bus?.close();
  await h?.stop();
});

const promotion = (status: PromotionRecord['status']): PromotionRecord => ({
  id: 'prod-1',
  fromStage: 'uat',
  toStage: 'prod',
  revision: 'a'.repeat(40),
  images: [{ name: 'web', repository: 'localhost:5000/shop/web', digest: `sha256:${'b'.repeat(64)}` }],
  rule: 'manual',
  status,
  actor: 'service:planner',
  approvedBy: [],
  refusals: [],
  createdAt: '2026-11-30T12:00:00.000Z',
  updatedAt: '2026-11-30T12:00:00.000Z',
});

const awaiting = (): FlotillaEvent =>
  createEvent(
    PromotionAwaitingApproval,
    { promotionId: 'prod-1', fromStage: 'uat', toStage: 'prod', approvers: ['alice'], images: [] },
    { source: 'flotilla/planner/old', actor: 'service:planner', id: 'prod-1-awaiting' },
  );

describe('a deposed leader', () => {
  it('writes nothing of its view and publishes nothing of what it owed; its successor does', async () => {
    const bucket = `planner-state-${randomUUID().slice(0, 8)}`;
    let held = true;
    const scopes: Array<string | undefined> = [];
    const old = new PlannerState(await bus.kv(bucket), (scope) => {
      scopes.push(scope);
      if (!held) throw leaseLost('planner', 'old');
    });
    // Saved while leading, its event owed (the publish failed, say): in the outbox.
    await old.savePromotion(promotion('awaiting'), [awaiting()]);
    expect(scopes).toEqual([ROOT_SCOPE]);

    // Paused past its TTL; a successor loads the view and approves.
    held = false;
    const successor = new PlannerState(await bus.kv(bucket));
    await successor.load();
    expect(successor.pendingEvents().map((p) => p.events.map((e) => e.id))).toEqual([['prod-1-awaiting']]);
    const republished: string[] = [];
    await successor.publishOutbox(async (e) => {
      republished.push(e.id);
    });
    expect(republished).toEqual(['prod-1-awaiting']);
    await successor.savePromotion(promotion('approved'));

    // The old leader resumes with its stale decision and what it owed: refused, nothing touched.
    const published: string[] = [];
    await expect(
      old.publishOutbox(async (e) => {
        published.push(e.id);
      }),
    ).rejects.toMatchObject({ code: 'bus.lease-lost' });
    expect(published).toEqual([]);
    await expect(old.savePromotion(promotion('awaiting'))).rejects.toMatchObject({
      code: 'bus.lease-lost',
    });
    const c = old.cluster('uat', 'uat');
    c.sequence = 7;
    await expect(old.saveCluster(c)).rejects.toMatchObject({ code: 'bus.lease-lost' });
    await expect(old.saveObjectIndex('uat', `sha256:${'c'.repeat(64)}`, {}, [])).rejects.toMatchObject({
      code: 'bus.lease-lost',
    });

    const after = new PlannerState(await bus.kv(bucket));
    await after.load();
    expect(after.promotions.get('prod-1')?.status).toBe('approved');
    expect(after.clusters.get('uat')).toBeUndefined();
    expect(after.pendingEvents()).toEqual([]);
  });

  it("names the scope of each entry: a pipeline's, the root pipeline's, or the repo's own", async () => {
    const scopes: Array<string | undefined> = [];
    const state = new PlannerState(await bus.kv(`planner-state-${randomUUID().slice(0, 8)}`), (s) =>
      scopes.push(s),
    );
    await state.saveStage(state.stage('dev'));
    await state.scoped('payments').saveStage(state.scoped('payments').stage('dev'));
    await state.scoped('payments').saveObjectIndex('dev', `sha256:${'d'.repeat(64)}`, {}, []);
    await state.saveObjectIndex('dev', `sha256:${'d'.repeat(64)}`, {}, []);
    // The repo's tags are written by compare-and-set, never put whole: no fence (repo-state-writes.test.ts).
    await state.recordTag('localhost:5000/shop/web', '1.0.0', `sha256:${'e'.repeat(64)}`);
    await state.saveMeta();
    expect(scopes).toEqual([ROOT_SCOPE, 'payments', 'payments', ROOT_SCOPE, undefined]);
  });
  it('refuses the message it resumes with, so it goes back to the stream; once it holds the lease again it acts', async () => {
    const handle = await h.start();
    const plan = await h.events.wait<PlanData>(PlanCreated, (d) => d.cluster === 'dev');
    await waitFor('the planner to lead', async () => (handle.leader ? true : undefined));
    await handle.planner.idle();
    const report = createEvent(
      HealthChanged,
      {
        cluster: 'dev',
        planId: plan.data.planId,
        revision: plan.data.revision,
        bundleDigest: plan.data.bundle.digest,
        status: 'Current',
        objects: [],
      },
      { source: 'flotilla://cluster-applier/dev', actor: 'service:cluster-applier' },
    );
    // The whole process stalls past the lease TTL (2 s), as under SIGSTOP: its lease timer does
    // not run either, so it still counts itself active when it goes on with the message.
    const resumeAt = performance.now() + 3000;
    while (performance.now() < resumeAt);
    expect(handle.planner.isActive).toBe(true);
    await expect(handle.planner.handle(report)).rejects.toMatchObject({ code: 'bus.lease-lost' });
    const saved = new PlannerState(await bus.kv('planner-state'));
    await saved.load();
    expect(saved.clusters.get('dev')?.health).toBeUndefined();

    // Nobody took the lease meanwhile: its next cycle renews it, and the redelivered report counts.
    await waitFor('the report handled', () =>
      handle.planner.handle(report).then(
        () => true,
        () => undefined,
      ),
    );
    await saved.load();
    expect(saved.clusters.get('dev')?.health?.status).toBe('healthy');
    await handle.stop();
  });
});
