import {
  ImageUpdateCommitted,
  OperationRefused,
  PlanCreated,
  RollbackCommitted,
  StageLockChanged,
} from '@flotilla/events';
import { waitFor } from '@flotilla/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PlannerHandle } from '../src/service.ts';
import { createHarness, digestOf, fixtureFiles, type Harness, TOKENS } from './harness.ts';
import './status-matcher.ts';

type D = Record<string, unknown>;
let h: Harness;
let planner: PlannerHandle;
/** The first commit: dev runs it healthy before anything else happens. */
let first: string;
const SAM = 'sam-token-0123456789abcdef';

beforeAll(async () => {
  const files = await fixtureFiles();
  // The test stage names its operators: only the sre group, whatever else a token may do.
  files['flotilla.yaml'] = (files['flotilla.yaml'] as string).replace(
    '      clusters: [{ name: test, path: clusters/test }]\n',
    '$&      operators: ["group:sre"]\n',
  );
  h = await createHarness({ files });
  first = (await h.gitRepo('rev-parse', 'main')).trim();
  h.simulateAppliers((p) => (p.cluster === 'dev' ? 'Current' : null));
  const tokens = [
    ...h.config().api.tokens,
    { token: SAM, name: 'sam', groups: ['sre'], roles: ['operate:shop/test'] },
  ];
  planner = await h.start({ api: { tokens } });
  await devHealthyAt(first);
});
afterAll(async () => {
  await h?.stop();
});

async function devHealthyAt(revision: string): Promise<void> {
  await waitFor(
    `dev healthy at ${revision}`,
    async () => {
      const res = await h.api(planner, 'GET', '/api/v1/stages', TOKENS.dave);
      const dev = (res.body.stages as Array<{ name: string; lastHealthy: D | null }> | undefined)?.[0];
      return dev?.lastHealthy?.revision === revision ? true : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 200 },
  );
}

const refusals = (code: string, operation: string) =>
  h.events.of<D>(OperationRefused, (d) => d.code === code && d.operation === operation);

describe('roles on the planner API', () => {
  it('a valid token without the role is refused with role-missing and an event; nothing changes', async () => {
    // eve's token is valid but grants nothing: she learns who she is, and no more.
    expect(await h.api(planner, 'GET', '/api/v1/whoami', TOKENS.eve)).toMatchObject({
      status: 200,
      body: { name: 'eve', roles: [] },
    });
    expect(await h.api(planner, 'GET', '/api/v1/stages', TOKENS.eve)).toMatchObject({
      status: 403,
      body: { error: 'role-missing' },
    });
    expect((await h.api(planner, 'GET', '/api/v1/pipelines', TOKENS.eve)).body.pipelines).toEqual([]);
    expect((await h.api(planner, 'GET', '/api/v1/history', TOKENS.eve)).body.events).toEqual([]);
    await h.events.wait(OperationRefused, (d: D) => d.operation === 'read' && d.by === 'user:eve');

    // dave reads everything and may change nothing.
    expect((await h.api(planner, 'GET', '/api/v1/pipelines', TOKENS.dave)).body.pipelines).toMatchObject([
      { name: 'shop' },
    ]);
    for (const op of ['lock', 'unlock', 'rollback'] as const) {
      const res = await h.api(planner, 'POST', `/api/v1/stages/dev/${op}`, TOKENS.dave, {
        reason: 'try',
        ...(op === 'rollback' ? { toRevision: first } : {}),
      });
      expect(res).toMatchObject({
        status: 403,
        body: { error: 'role-missing', message: 'user:dave has no operate role for shop/dev' },
      });
      const e = await h.events.wait<D>(OperationRefused, (d) => d.operation === op && d.by === 'user:dave');
      expect(e.data).toMatchObject({ stage: 'dev', code: 'role-missing' });
      expect(e.actor).toBe('user:dave');
    }
    // bob operates dev only.
    expect(await h.api(planner, 'POST', '/api/v1/stages/uat/lock', TOKENS.bob)).toMatchObject({
      status: 403,
      body: { error: 'role-missing', message: 'user:bob has no operate role for shop/uat' },
    });
    await h.events.wait(OperationRefused, (d: D) => d.stage === 'uat' && d.by === 'user:bob');
    const status = await h.api(planner, 'GET', '/api/v1/stages', TOKENS.dave);
    for (const s of status.body.stages as Array<{ locked: unknown }>) expect(s.locked).toBeNull();
    expect(h.events.of(StageLockChanged)).toHaveLength(0);
    expect(h.events.of(RollbackCommitted)).toHaveLength(0);
  });

  it('a request that breaks the API contract (libs/api) is refused with 400 before any operation', async () => {
    const res = await h.api(planner, 'POST', '/api/v1/stages/dev/lock', TOKENS.bob, {
      reason: 'x'.repeat(5000),
    });
    expect(res).toMatchObject({
      status: 400,
      body: { error: 'bad-request', message: expect.stringMatching(/reason/) },
    });
    // Refused before the operation ran: the answer above came after any lock would have been taken.
    const status = await h.api(planner, 'GET', '/api/v1/stages', TOKENS.dave);
    expect(
      (status.body.stages as Array<{ name: string; locked: unknown }>).find((s) => s.name === 'dev')?.locked,
    ).toBeNull();
  });

  it("a stage's operators in flotilla.yaml narrow the role, never widen it", async () => {
    // alice may operate every stage by her token, but test lists only group:sre.
    expect(await h.api(planner, 'POST', '/api/v1/stages/test/lock', TOKENS.alice)).toMatchObject({
      status: 403,
      body: { error: 'not-operator' },
    });
    await h.events.wait(OperationRefused, (d: D) => d.code === 'not-operator' && d.by === 'user:alice');
    expect(await h.api(planner, 'POST', '/api/v1/stages/test/lock', SAM, { reason: 'sre' })).toHaveStatus(
      200,
    );
    expect((await h.events.wait<D>(StageLockChanged, (d) => d.stage === 'test')).data.by).toBe('user:sam');
    expect(await h.api(planner, 'POST', '/api/v1/stages/test/unlock', SAM)).toHaveStatus(200);
    // sam is an operator of test by both the list and his token, of nothing else.
    expect(await h.api(planner, 'POST', '/api/v1/stages/dev/lock', SAM)).toMatchObject({
      status: 403,
      body: { error: 'role-missing' },
    });
  });

  it('rollback goes only to a revision the stage ran healthy, on the branch’s first-parent history', async () => {
    await h.tag('1.4.7', digestOf('web-1.4.7'));
    const update = await h.events.wait<D>(ImageUpdateCommitted, (d) => d.tag === '1.4.7');
    const bumped = update.data.commit as string;
    await devHealthyAt(bumped);

    // A commit the mirror could hold but dev never ran: on a side branch of the config repo.
    const tree = (await h.gitRepo('rev-parse', 'main^{tree}')).trim();
    const side = (await h.gitRepo('commit-tree', tree, '-p', 'main', '-m', 'unreviewed side commit')).trim();
    await h.gitRepo('update-ref', 'refs/heads/side', side);

    const rollback = (token: string, toRevision: string) =>
      h.api(planner, 'POST', '/api/v1/stages/dev/rollback', token, { toRevision, reason: 'test' });
    expect(await rollback(TOKENS.bob, 'abc')).toMatchObject({
      status: 422,
      body: { error: 'revision-malformed' },
    });
    expect(await rollback(TOKENS.bob, side)).toMatchObject({
      status: 422,
      body: { error: 'revision-never-healthy' },
    });
    expect(refusals('revision-malformed', 'rollback')[0]?.data).toMatchObject({
      revision: 'abc',
      by: 'user:bob',
    });
    expect(refusals('revision-never-healthy', 'rollback')[0]?.data).toMatchObject({ revision: side });

    // To the first revision, which dev ran healthy: allowed for bob, an operator of dev.
    const ok = await rollback(TOKENS.bob, first);
    expect(ok).toHaveStatus(200);
    expect((await h.events.wait<D>(RollbackCommitted)).data).toMatchObject({
      stage: 'dev',
      toRevision: first,
      by: 'user:bob',
    });

    // Someone force-pushes main back to the first commit: the bump dev ran healthy is gone
    // from the branch (though still in the planner's mirror), so it is no rollback target.
    await h.gitRepo('update-ref', 'refs/heads/main', first);
    expect(await rollback(TOKENS.bob, bumped)).toMatchObject({
      status: 422,
      body: { error: 'revision-not-on-branch' },
    });
    expect(refusals('revision-not-on-branch', 'rollback')[0]?.data).toMatchObject({
      stage: 'dev',
      revision: bumped,
    });
    expect((await h.gitRepo('rev-parse', 'main')).trim()).toBe(first);
    expect(h.events.of(RollbackCommitted)).toHaveLength(1);
    expect(h.events.of(PlanCreated).length).toBeGreaterThan(0);
  });
});
