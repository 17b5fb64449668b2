import {
  ChangeApprovalRefused,
  ChangeApproved,
  ChangeAwaitingApproval,
  PlanCreated,
  PromotionApproved,
  PromotionAwaitingApproval,
  PromotionCommitted,
  PromotionRejected,
} from '@flotilla/events';
import { GitWorkdir } from '@flotilla/test-support';
import type { PlanData } from '@flotilla/trust';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PlannerHandle } from '../src/service.ts';
import { createHarness, digestOf, type Harness, TOKENS } from './harness.ts';
import './status-matcher.ts';

type D = Record<string, unknown>;
let h: Harness;
let planner: PlannerHandle;
let work: GitWorkdir;

beforeAll(async () => {
  h = await createHarness();
  h.simulateAppliers();
  planner = await h.start();
  work = await GitWorkdir.clone(h.git.fileUrl(h.repoName));
});
afterAll(async () => {
  await work?.remove();
  await h?.stop();
});

async function pushEdit(path: string, edit: (text: string) => string, message: string): Promise<string> {
  await work.pull();
  await work.writeFile(path, edit(await h.fileAtHead(path)));
  // Alice is a prod approver and, here, also the person editing prod's files by hand.
  const sha = await work.commit(message, { author: { name: 'Alice', email: 'alice@example.com' } });
  await work.push();
  await h.commitDetected(sha, [path]);
  await h.drained();
  return sha;
}

const annotate = (value: string) => (text: string) =>
  text
    .replace(/\n {2}hotfix: .*/, '')
    .replace('flotilla.io/cluster: prod', `flotilla.io/cluster: prod\n  hotfix: "${value}"`);
const position = (type: { type: string }, pred: (d: D) => boolean) =>
  h.events.events.findIndex((e) => e.type === type.type && pred(e.data as D));

describe('planner: no ungated change reaches a manual stage; separation of duties', () => {
  it('a commit editing prod directly is held with its diff and authors; approvers who wrote it or may not approve are refused', async () => {
    const first = await h.events.wait<PlanData>(PlanCreated, (d) => d.cluster === 'prod');
    const sha = await pushEdit('clusters/prod/kustomization.yaml', annotate('one'), 'prod: hand edit');
    const held = await h.events.wait<D>(ChangeAwaitingApproval, (d) => d.revision === sha);
    expect(held.data).toMatchObject({
      stage: 'prod',
      cluster: 'prod',
      fromRevision: first.data.revision,
      diff: { added: [], removed: [] },
      commits: [{ commit: sha, author: { name: 'Alice', email: 'alice@example.com' } }],
      approvers: ['alice', 'group:release-managers'],
    });
    expect((held.data.diff as { changed: string[] }).changed).toEqual(
      expect.arrayContaining(['apps/Deployment shop/web', 'Service shop/web']),
    );
    expect(h.events.of<PlanData>(PlanCreated, (d) => d.revision === sha)).toEqual([]);
    const id = held.data.changeId as string;
    const status = await h.api(planner, 'GET', '/api/v1/stages', TOKENS.bob);
    const prod = (status.body.stages as Array<{ name: string; clusters: Array<{ held: D | null }> }>).find(
      (s) => s.name === 'prod',
    );
    expect(prod?.clusters[0]?.held).toMatchObject({ changeId: id, revision: sha });

    const approve = (token: string, body?: unknown) =>
      h.api(planner, 'POST', `/api/v1/changes/${id}/approve`, token, body);
    expect(await approve(TOKENS.bob)).toHaveStatus(403);
    expect(
      (await h.events.wait<D>(ChangeApprovalRefused, (d) => d.changeId === id && d.by === 'user:bob')).data
        .code,
    ).toBe('unauthorised');
    const own = await approve(TOKENS.alice);
    expect(own).toHaveStatus(403);
    expect(own.body.error).toBe('separation-of-duties');
    expect(
      (await h.events.wait<D>(ChangeApprovalRefused, (d) => d.changeId === id && d.by === 'user:alice')).data
        .code,
    ).toBe('separation-of-duties');
    expect((await approve(TOKENS.alice, { emergency: true })).body.error).toBe('reason-required');
    expect(h.events.of<PlanData>(PlanCreated, (d) => d.revision === sha)).toEqual([]);

    const ok = await approve(TOKENS.carol, { comment: 'reviewed the annotation' });
    expect(ok).toHaveStatus(200);
    const approved = await h.events.wait<D>(ChangeApproved, (d) => d.changeId === id);
    expect(approved.data).toMatchObject({
      approver: 'user:carol',
      kind: 'standard',
      authors: ['alice@example.com', 'committer@example.test'],
      revision: sha,
    });
    expect(approved.actor).toBe('user:carol');
    const plan = await h.events.wait<PlanData>(
      PlanCreated,
      (d) => d.cluster === 'prod' && d.revision === sha,
    );
    expect(plan.data.bundle.digest).toBe(approved.data.bundleDigest);
    // The approval is on record before the plan it released.
    expect(position(ChangeApproved, (d) => d.changeId === id)).toBeLessThan(
      position(PlanCreated, (d) => d.planId === plan.data.planId),
    );
  });

  it('break-glass: the author approves their own change as an emergency, with a reason, recorded as such', async () => {
    const sha = await pushEdit('clusters/prod/kustomization.yaml', annotate('two'), 'prod: outage fix');
    const held = await h.events.wait<D>(ChangeAwaitingApproval, (d) => d.revision === sha);
    const res = await h.api(planner, 'POST', `/api/v1/changes/${held.data.changeId}/approve`, TOKENS.alice, {
      emergency: true,
      reason: 'INC-42: prod down, fix now, review tomorrow',
    });
    expect(res).toHaveStatus(200);
    const approved = await h.events.wait<D>(ChangeApproved, (d) => d.changeId === held.data.changeId);
    expect(approved.data).toMatchObject({
      approver: 'user:alice',
      kind: 'emergency',
      reason: 'INC-42: prod down, fix now, review tomorrow',
      authors: ['alice@example.com', 'committer@example.test'],
    });
    await h.events.wait<PlanData>(PlanCreated, (d) => d.cluster === 'prod' && d.revision === sha);
  });

  it("a commit confined to another stage's files is not held", async () => {
    const sha = await pushEdit(
      'clusters/dev/kustomization.yaml',
      (t) => t.replace('flotilla.io/cluster: dev', 'flotilla.io/cluster: dev\n  team: shop'),
      'dev: label',
    );
    await h.events.wait<PlanData>(PlanCreated, (d) => d.cluster === 'dev' && d.revision === sha);
    expect(h.events.of<D>(ChangeAwaitingApproval, (d) => d.revision === sha)).toEqual([]);
  });

  it('promote-now into prod waits for a second person: the requester may not approve it', async () => {
    const digest = digestOf('web-1.4.9');
    await h.tag('1.4.9', digest);
    // dev → test → uat go by themselves; prod is proposed and waits.
    await h.events.wait<D>(
      PromotionAwaitingApproval,
      (d) => d.toStage === 'prod' && (d.images as Array<{ digest: string }>)[0]?.digest === digest,
    );
    // Both decisions carry an Idempotency-Key, as the CLI's do: a 503 (a planner not ready on a
    // loaded machine) is then retried, as the CLI retries it, without deciding twice.
    const now = await h.api(planner, 'POST', '/api/v1/stages/prod/promote', TOKENS.alice, undefined, {
      'idempotency-key': 'promote-prod-now',
    });
    expect(now).toHaveStatus(200);
    const p = now.body.promotion as { id: string; status: string; approvedBy: string[]; actor: string };
    expect(p).toMatchObject({ status: 'awaiting', approvedBy: [], actor: 'user:alice' });
    expect(h.events.of<D>(PromotionApproved, (d) => d.promotionId === p.id)).toEqual([]);

    const self = await h.api(planner, 'POST', `/api/v1/promotions/${p.id}/approve`, TOKENS.alice);
    expect(self).toHaveStatus(403);
    expect(self.body.error).toBe('separation-of-duties');
    const refusal = await h.events.wait<D>(
      PromotionRejected,
      (d) => d.promotionId === p.id && d.by === 'user:alice',
    );
    expect(refusal.data.kind).toBe('unauthorised');
    expect(await h.fileAtHead('clusters/prod/web-image.yaml')).not.toContain(digest);

    expect(
      await h.api(planner, 'POST', `/api/v1/promotions/${p.id}/approve`, TOKENS.carol, undefined, {
        'idempotency-key': 'carol-approves-prod',
      }),
    ).toHaveStatus(200);
    const committed = await h.events.wait<D>(PromotionCommitted, (d) => d.promotionId === p.id);
    expect(committed.data.approvedBy).toEqual(['user:carol']);
    expect(position(PromotionApproved, (d) => d.promotionId === p.id)).toBeLessThan(
      position(PromotionCommitted, (d) => d.promotionId === p.id),
    );
    // The planner's own promotion commit changes prod without being held.
    await h.events.wait<PlanData>(
      PlanCreated,
      (d) => d.cluster === 'prod' && d.revision === committed.data.commit,
    );
    expect(h.events.of<D>(ChangeAwaitingApproval, (d) => d.revision === committed.data.commit)).toEqual([]);
  });

  it('a commit that makes prod automatic and edits it in one go is held for the approvers in force before', async () => {
    await work.pull();
    await work.writeFile(
      'flotilla.yaml',
      (await h.fileAtHead('flotilla.yaml')).replace(
        /promotion:\n {8}rule: manual\n {8}approvers: \[alice, "group:release-managers"\]\n(?: {8}#.*\n)* {8}bootstrap: allow/,
        'promotion: { rule: auto, soak: 1s }',
      ),
    );
    await work.writeFile(
      'clusters/prod/kustomization.yaml',
      annotate('three')(await h.fileAtHead('clusters/prod/kustomization.yaml')),
    );
    const sha = await work.commit('prod: auto from now on, and a tweak', {
      author: { name: 'Bob', email: 'bob@example.com' },
    });
    await work.push();
    await h.commitDetected(sha, ['flotilla.yaml', 'clusters/prod/kustomization.yaml']);
    await h.drained();
    expect(await h.fileAtHead('flotilla.yaml')).toContain('rule: auto, soak: 1s }\n  images');
    const held = await h.events.wait<D>(ChangeAwaitingApproval, (d) => d.revision === sha);
    expect(held.data.approvers).toEqual(['alice', 'group:release-managers']);
    expect(h.events.of<PlanData>(PlanCreated, (d) => d.cluster === 'prod' && d.revision === sha)).toEqual([]);
    const res = await h.api(planner, 'POST', `/api/v1/changes/${held.data.changeId}/approve`, TOKENS.carol);
    expect(res).toHaveStatus(200);
    await h.events.wait<PlanData>(PlanCreated, (d) => d.cluster === 'prod' && d.revision === sha);
    // Approved once: prod is automatic now, and the next edit goes straight through.
    const next = await pushEdit('clusters/prod/kustomization.yaml', annotate('four'), 'prod: another tweak');
    await h.events.wait<PlanData>(PlanCreated, (d) => d.cluster === 'prod' && d.revision === next);
    expect(h.events.of<D>(ChangeAwaitingApproval, (d) => d.revision === next)).toEqual([]);
  });
});
