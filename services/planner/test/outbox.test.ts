// Outbox for decisions (issue 15): a promotion's decision and the events announcing it are one KV
// write, published afterwards and again until acknowledged. Killing the planner between the save
// and the publish, or losing NATS during the publish, still stores exactly one event per
// decision in the stream (counted from the stream itself, not from a live subscription).
import {
  ChangeApproved,
  ChangeAwaitingApproval,
  type FlotillaEvent,
  HealthChanged,
  PlanCreated,
  PromotionCommitted,
  PromotionProposed,
  RollbackCommitted,
  StageLockChanged,
  SUBJECT_PREFIX,
} from '@flotilla/events';
import { freePort, GitWorkdir, type Spawned, stopProcess, waitFor } from '@flotilla/test-support';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { PlannerHandle } from '../src/service.ts';
import {
  crashed,
  createDevAheadHarness,
  digest147 as digest,
  spawnCrashingPlanner,
} from './crash-support.ts';
import { type Harness, TOKENS, trailers, WEB } from './harness.ts';
import './status-matcher.ts';

type D = Record<string, unknown>;
let h: Harness;
let child: Spawned | undefined;

beforeEach(async () => {
  h = await createDevAheadHarness();
});
afterEach(async () => {
  if (child) await stopProcess(child, 1000);
  child = undefined;
  await h?.stop();
});

/** The events of `def` the stream holds (read back from JetStream, not from a subscription). */
async function stored(def: { type: string }, pred: (d: D) => boolean): Promise<FlotillaEvent<D>[]> {
  const found: FlotillaEvent<D>[] = [];
  for await (const { event } of h.watcher.replay(`${SUBJECT_PREFIX}.>`))
    if (event.type === def.type && pred(event.data as D)) found.push(event as FlotillaEvent<D>);
  return found;
}

/** Waits until the stream holds an event of `def` matching `pred`, and answers the first. */
async function storedOne(def: { type: string }, pred: (d: D) => boolean): Promise<FlotillaEvent<D>> {
  return await waitFor(`${def.type} in the stream`, async () => (await stored(def, pred))[0], {
    timeoutMs: 90_000,
    intervalMs: 250,
  });
}

const intoTest = (d: D) => d.toStage === 'test';

/**
 * Pushes the test's commit; the planner may have pushed one of its own meanwhile (the dev-ahead
 * harness promotes as soon as it starts), so a refused push rebases onto it and tries again.
 */
async function pushOver(work: GitWorkdir): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    try {
      await work.push();
      return await work.git('rev-parse', 'HEAD');
    } catch (err) {
      if (attempt >= 5) throw err;
      await work.pull();
    }
  }
}

/** Starts the crashing planner, killed right after a decision carrying `type` was saved. */
const crashingPlanner = (type: string): Spawned => spawnCrashingPlanner(h, `outbox:${type}`);

/** The promotion into test: proposed once, committed once, its commit pushed once. */
/** Alice edits prod's files by hand and pushes: the planner holds the change for another approver. */
async function holdHandEdit(work: GitWorkdir, hotfix: string): Promise<{ sha: string; id: string }> {
  const path = 'clusters/prod/kustomization.yaml';
  await work.writeFile(
    path,
    (await h.fileAtHead(path)).replace(
      'flotilla.io/cluster: prod',
      `flotilla.io/cluster: prod\n  hotfix: "${hotfix}"`,
    ),
  );
  await work.commit('prod: hand edit', { author: { name: 'Alice', email: 'alice@example.com' } });
  const sha = await pushOver(work);
  await h.commitDetected(sha, [path]);
  const held = await storedOne(ChangeAwaitingApproval, (d) => d.revision === sha);
  return { sha, id: held.data.changeId as string };
}

async function promotedOnce(id: string): Promise<void> {
  const ofId = (d: D) => d.promotionId === id;
  const committed = await storedOne(PromotionCommitted, ofId);
  await h.drained();
  const pushed = (await trailers(h, 'Flotilla-Promotion')).filter((t) => t.value === id);
  expect(pushed).toHaveLength(1);
  expect(committed.data.commit).toBe(pushed[0]?.sha);
  expect(await stored(PromotionProposed, ofId)).toHaveLength(1);
  expect(await stored(PromotionCommitted, ofId)).toHaveLength(1);
  expect(await h.fileAtHead('clusters/test/web-image.yaml')).toContain(`${WEB}:1.4.7@${digest}`);
}

describe('planner killed between saving a decision and publishing its event', () => {
  it('publishes the saved PromotionProposed once after a restart, then finishes the promotion', async () => {
    child = crashingPlanner(PromotionProposed.type);
    await crashed(child);
    // Saved, never published: the proposal is only in the planner's state.
    expect(await stored(PromotionProposed, intoTest)).toHaveLength(0);
    await h.start();
    const proposed = await storedOne(PromotionProposed, intoTest);
    await promotedOnce(proposed.data.promotionId as string);
  });

  it('publishes the saved PromotionCommitted once after a restart (the promotion is no longer open)', async () => {
    child = crashingPlanner(PromotionCommitted.type);
    const proposed = await storedOne(PromotionProposed, intoTest);
    const id = proposed.data.promotionId as string;
    await crashed(child);
    expect(await stored(PromotionCommitted, (d) => d.promotionId === id)).toHaveLength(0);
    await h.start();
    await promotedOnce(id);
  });
});

describe('planner killed between saving a change approval and publishing ChangeApproved', () => {
  it('publishes the saved ChangeApproved once after a restart; then the plan it released', async () => {
    const port = await freePort();
    child = spawnCrashingPlanner(h, `outbox:${ChangeApproved.type}`, port);
    const crashing = { url: `http://127.0.0.1:${port}` } as PlannerHandle;
    const first = await storedOne(PlanCreated, (d) => d.cluster === 'prod');
    const work = await GitWorkdir.clone(h.git.fileUrl(h.repoName));
    try {
      const { sha, id } = await holdHandEdit(work, 'x');
      const ofChange = (d: D) => d.changeId === id;
      const approve = (p: PlannerHandle) => h.api(p, 'POST', `/api/v1/changes/${id}/approve`, TOKENS.carol);
      // The planner dies inside the request: the client sees the connection drop, not an answer.
      await expect(approve(crashing)).rejects.toThrow();
      await crashed(child);
      expect(await stored(ChangeApproved, ofChange)).toHaveLength(0);

      await h.start();
      // Republished from the outbox on activation; the restarted planner renders the approved
      // content (at the head, which may be a later commit) and issues its plan: no retry needed.
      const approved = await storedOne(ChangeApproved, ofChange);
      expect(approved.data).toMatchObject({ approver: 'user:carol', kind: 'standard', revision: sha });
      // Any later prod plan carries the held edit (it is in every revision since): released by it.
      const plan = await storedOne(
        PlanCreated,
        (d) => d.cluster === 'prod' && d.revision !== first.data.revision,
      );
      await h.drained();
      expect(await stored(ChangeApproved, ofChange)).toHaveLength(1);
      // The approval is on record (earlier in the stream) before the plan it released.
      const order: string[] = [];
      for await (const { event } of h.watcher.replay(`${SUBJECT_PREFIX}.>`)) order.push(event.id);
      expect(order.indexOf(approved.id)).toBeLessThan(order.indexOf(plan.id));
    } finally {
      await work.remove();
    }
  }, 300_000); // two planner starts, a kill and a render of every stage: slow on a loaded box
});

describe('planner killed after an approval issued its plan, before answering', () => {
  it('the retried approval with the same Idempotency-Key gets the recorded decision (200), not a 404', async () => {
    const port = await freePort();
    child = spawnCrashingPlanner(h, 'change-issued', port);
    const crashing = { url: `http://127.0.0.1:${port}` } as PlannerHandle;
    const first = await storedOne(PlanCreated, (d) => d.cluster === 'prod');
    const work = await GitWorkdir.clone(h.git.fileUrl(h.repoName));
    try {
      const { sha, id } = await holdHandEdit(work, 'y');
      const ofChange = (d: D) => d.changeId === id;
      const key = { 'idempotency-key': `approve-${id}` };
      const approve = (p: PlannerHandle, headers: Record<string, string> = key) =>
        h.api(p, 'POST', `/api/v1/changes/${id}/approve`, TOKENS.carol, {}, headers);
      // The planner dies after the plan went out, before it answered: the client sees no answer.
      await expect(approve(crashing)).rejects.toThrow();
      await crashed(child);
      const plan = await storedOne(PlanCreated, (d) => d.cluster === 'prod' && d.revision === sha);
      expect(await stored(ChangeApproved, ofChange)).toHaveLength(1);

      const planner = await h.start();
      const retried = await waitFor(
        'the restarted planner to answer',
        async () => {
          const r = await approve(planner);
          return r.status === 503 ? undefined : r;
        },
        { timeoutMs: 60_000, intervalMs: 250 },
      );
      expect(retried).toHaveStatus(200);
      expect(retried.body).toMatchObject({
        change: { changeId: id, revision: sha },
        approved: { changeId: id, by: 'user:carol', kind: 'standard' },
        planId: plan.data.planId,
      });
      // Without the key it is a new request, for a change that no longer waits.
      expect(await approve(planner, {})).toHaveStatus(404);
      await h.drained();
      expect(await stored(ChangeApproved, ofChange)).toHaveLength(1);
      expect(await stored(PlanCreated, (d) => d.cluster === 'prod' && d.revision === sha)).toHaveLength(1);
      expect(first.data.revision).not.toBe(sha);
    } finally {
      await work.remove();
    }
  }, 300_000);
});

describe('planner killed between pushing a rollback commit and saving its lock', () => {
  it('the restarted planner records the pushed rollback by itself; a retried request is the same decision', async () => {
    const port = await freePort();
    child = spawnCrashingPlanner(h, 'rollback-push', port);
    const crashing = { url: `http://127.0.0.1:${port}` } as PlannerHandle;
    // dev ran its first revision healthy: a rollback target.
    const first = await storedOne(HealthChanged, (d) => d.cluster === 'dev' && d.status === 'Current');
    const path = 'clusters/dev/kustomization.yaml';
    const work = await GitWorkdir.clone(h.git.fileUrl(h.repoName));
    try {
      await work.writeFile(
        path,
        (await h.fileAtHead(path)).replace(
          'flotilla.io/cluster: dev',
          'flotilla.io/cluster: dev\n  team: shop',
        ),
      );
      await work.commit('dev: label');
      const sha = await pushOver(work);
      await h.commitDetected(sha, [path]);
      await storedOne(PlanCreated, (d) => d.cluster === 'dev' && d.revision === sha);
      const body = { toRevision: first.data.revision, reason: 'label breaks dev' };
      const rollback = (p: PlannerHandle) =>
        h.api(p, 'POST', '/api/v1/stages/dev/rollback', TOKENS.carol, body);
      // The planner dies inside the request, its commit pushed: the client sees no answer.
      await expect(rollback(crashing)).rejects.toThrow();
      await crashed(child);
      const pushed = (await trailers(h, 'Flotilla-Rollback')).filter((t) => t.value === 'dev');
      expect(pushed).toHaveLength(1);
      expect(await stored(RollbackCommitted, (d) => d.stage === 'dev')).toHaveLength(0);

      const planner = await h.start();
      // The restarted planner finds the pushed commit from the intent it saved before the push
      // and records it with no retry from the client: one RollbackCommitted, the stage locked.
      const recovered = await storedOne(RollbackCommitted, (d) => d.stage === 'dev');
      expect(recovered.data).toMatchObject({ commit: pushed[0]?.sha, by: 'user:carol' });
      await storedOne(StageLockChanged, (d) => d.stage === 'dev' && d.locked === true);
      // The client retries anyway: the same request is answered with its commit, not "nothing to
      // roll back", and records nothing twice.
      // (A 503 while the new planner waits out the dead one's lease is retried too.)
      const retried = await waitFor(
        'the restarted planner to answer',
        async () => {
          const r = await rollback(planner);
          return r.status === 503 ? undefined : r;
        },
        { timeoutMs: 60_000, intervalMs: 250 },
      );
      expect(retried).toHaveStatus(200);
      expect(retried.body.commit).toBe(pushed[0]?.sha);
      const committed = await storedOne(RollbackCommitted, (d) => d.stage === 'dev');
      expect(committed.data).toMatchObject({ commit: pushed[0]?.sha, by: 'user:carol' });
      await storedOne(StageLockChanged, (d) => d.stage === 'dev' && d.locked === true);
      await h.drained(120_000); // the restart re-renders every stage: slow on a loaded box
      expect((await trailers(h, 'Flotilla-Rollback')).filter((t) => t.value === 'dev')).toHaveLength(1);
      expect(await stored(RollbackCommitted, (d) => d.stage === 'dev')).toHaveLength(1);
    } finally {
      await work.remove();
    }
  }, 300_000);
});

describe('NATS down while a saved decision is published', () => {
  it('publishes PromotionCommitted once NATS is back, and only once', async () => {
    let fired = false;
    const planner = await h.start(
      {},
      {
        afterOutboxSave: async (events) => {
          if (fired || !events.some((e) => e.type === PromotionCommitted.type)) return;
          fired = true;
          // The decision is saved; NATS goes away before its event is published.
          await h.nats.stop();
        },
      },
    );
    const proposed = await storedOne(PromotionProposed, intoTest);
    const id = proposed.data.promotionId as string;
    await waitFor('the outage to start', async () => (fired ? true : undefined), { timeoutMs: 60_000 });
    // The planner noticed: its lease could not be renewed while NATS was away.
    await waitFor('the planner to lose its lease', async () => (planner.leader ? undefined : true), {
      timeoutMs: 60_000,
    });
    await h.nats.restart();
    await waitFor('the planner to lead again', async () => (planner.leader ? true : undefined), {
      timeoutMs: 60_000,
    });
    await promotedOnce(id);
  });
});
