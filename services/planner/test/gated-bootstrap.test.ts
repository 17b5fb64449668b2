// The first plan of a manual (gated) stage is a change like any other (issue 15): with nothing
// running to compare with, everything is new, and it waits for an approval unless the pipeline
// says `bootstrap: allow`.
import { ChangeApproved, ChangeAwaitingApproval, PlanCreated } from '@flotilla/events';
import type { PlanData } from '@flotilla/trust';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PlannerHandle } from '../src/service.ts';
import { createHarness, fixtureFiles, type Harness, TOKENS } from './harness.ts';
import './status-matcher.ts';

type D = Record<string, unknown>;
let h: Harness;
let planner: PlannerHandle;

beforeAll(async () => {
  const files = await fixtureFiles();
  // The shop fixture allows prod's bootstrap explicitly; without that line it is held.
  const pipeline = files['flotilla.yaml'] as string;
  const held = pipeline.replace(/\n(?: {8}#.*\n)* {8}bootstrap: allow/, '');
  expect(held).not.toContain('bootstrap');
  files['flotilla.yaml'] = held;
  h = await createHarness({ files });
  h.simulateAppliers();
  planner = await h.start();
});
afterAll(async () => {
  await h?.stop();
});

describe('planner: a gated stage bootstraps only through an approval', () => {
  it("holds prod's first plan with every object new, issues the auto stages', and plans prod only after an approval", async () => {
    const awaiting = await h.events.wait<D>(ChangeAwaitingApproval, (d) => d.cluster === 'prod');
    const dev = await h.events.wait<PlanData>(PlanCreated, (d) => d.cluster === 'dev');
    expect(awaiting.data.revision).toBe(dev.data.revision);
    expect(awaiting.data).not.toHaveProperty('fromRevision');
    const diff = awaiting.data.diff as { added: string[]; removed: string[]; changed: string[] };
    expect(diff.added).toEqual(expect.arrayContaining(['apps/Deployment shop/web', 'Service shop/web']));
    expect(diff.removed).toEqual([]);
    expect(diff.changed).toEqual([]);
    expect((awaiting.data.commits as unknown[]).length).toBeGreaterThan(0);
    await h.drained();
    expect(h.events.of<PlanData>(PlanCreated, (d) => d.cluster === 'prod')).toEqual([]);

    const status = await h.api(planner, 'GET', '/api/v1/stages', TOKENS.bob);
    const prod = (status.body.stages as Array<{ name: string; clusters: Array<{ held: D | null }> }>).find(
      (s) => s.name === 'prod',
    );
    expect(prod?.clusters[0]?.held).toMatchObject({ changeId: awaiting.data.changeId });
    expect(prod?.clusters[0]?.held).not.toHaveProperty('fromRevision');

    const id = awaiting.data.changeId as string;
    const key = { 'idempotency-key': 'bootstrap-approval-1' };
    const approved = await h.api(planner, 'POST', `/api/v1/changes/${id}/approve`, TOKENS.alice, {}, key);
    expect(approved).toHaveStatus(200);
    const plan = await h.events.wait<PlanData>(PlanCreated, (d) => d.cluster === 'prod');
    expect(plan.data.revision).toBe(awaiting.data.revision);
    const approval = await h.events.wait<D>(ChangeApproved, (d) => d.changeId === id);
    expect(approval.data).toMatchObject({ approver: 'user:alice', kind: 'standard' });
    const at = (type: string, id_: string) =>
      h.events.events.findIndex((e) => e.type === type && e.id === id_);
    expect(at(ChangeApproved.type, approval.id)).toBeLessThan(at(PlanCreated.type, plan.id));

    // The same request again (a client retrying after a lost answer): the recorded decision, not
    // a 404 for a change that is no longer waiting, and no second approval event.
    const again = await h.api(planner, 'POST', `/api/v1/changes/${id}/approve`, TOKENS.alice, {}, key);
    expect(again).toHaveStatus(200);
    expect(again.body).toMatchObject({
      approved: { changeId: id, by: 'user:alice' },
      planId: plan.data.planId,
    });
    // Without the key it is a new request, for a change no longer waiting.
    expect(await h.api(planner, 'POST', `/api/v1/changes/${id}/approve`, TOKENS.alice, {})).toHaveStatus(404);
    await h.drained();
    expect(h.events.of<D>(ChangeApproved, (d) => d.changeId === id)).toHaveLength(1);
    expect(h.events.of<PlanData>(PlanCreated, (d) => d.cluster === 'prod')).toHaveLength(1);
  });
});
