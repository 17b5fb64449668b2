import { PlanCreated, RenderFailed } from '@flotilla/events';
import { GitWorkdir, waitFor } from '@flotilla/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PlannerHandle } from '../src/service.ts';
import { createHarness, type Harness, TOKENS } from './harness.ts';
import './status-matcher.ts';

// Issue 13: a render never holds the planner's decisions. Two teams' pipelines; shop's dev
// directory becomes a legal but slow kustomization (a diamond of bases that kustomize loads
// 2^11 times, within every budget). While kubectl works on it, the API reads and writes through
// its normal path, and payments' next commit renders and plans. Every assertion is about order
// (what had happened when an answer came back), never about how long something took.

const deployment = (ns: string, name: string) => `apiVersion: apps/v1
kind: Deployment
metadata: { name: ${name}, namespace: ${ns} }
spec:
  template:
    spec:
      containers:
        - name: ${name}
          image: localhost:5000/${ns}/${name}:1.0.0
`;

const pipeline = (name: string) => `apiVersion: flotilla.io/v1
kind: Pipeline
metadata:
  name: ${name}
spec:
  owner: team-${name}
  stages:
    - name: dev
      clusters: [{ name: dev, path: ${name}/dev }]
    - name: prod
      clusters: [{ name: prod, path: ${name}/prod }]
      promotion: { rule: manual, approvers: [alice], bootstrap: allow }
`;

const FILES: Record<string, string> = {
  'pipelines/shop.yaml': pipeline('shop'),
  'pipelines/payments.yaml': pipeline('payments'),
  'shop/dev/web.yaml': deployment('shop', 'web'),
  'shop/prod/web.yaml': deployment('shop', 'web'),
  'payments/dev/api.yaml': deployment('payments', 'api'),
  'payments/prod/api.yaml': deployment('payments', 'api'),
};

type D = Record<string, unknown>;
let h: Harness;
let planner: PlannerHandle;
let work: GitWorkdir;

beforeAll(async () => {
  h = await createHarness({ files: FILES });
  planner = await h.start({ render: { timeoutMs: 280_000 } });
  for (const p of ['shop', 'payments'])
    for (const c of ['dev', 'prod'])
      await h.events.wait(PlanCreated, (d: D) => d.pipeline === p && d.cluster === c);
  work = await GitWorkdir.clone(h.git.fileUrl(h.repoName));
});
afterAll(async () => {
  await work?.remove();
  await h?.stop();
});

/** Waits (bounded) until `cond` holds. */
describe('renders run beside the decisions, one lane per pipeline', () => {
  it('a slow render holds neither the API (reads and writes) nor another pipeline', async () => {
    const DEPTH = 11;
    for (let i = 0; i < DEPTH; i++)
      await work.writeFile(
        `lib/d${i}/kustomization.yaml`,
        `resources:\n  - ../d${i + 1}\n  - ../d${i + 1}\n`,
      );
    await work.writeFile(`lib/d${DEPTH}/kustomization.yaml`, 'resources: []\n');
    await work.writeFile(
      'shop/dev/kustomization.yaml',
      'resources:\n  - ../../lib/d0\n  - web.yaml\n  - settings.yaml\n',
    );
    await work.writeFile(
      'shop/dev/settings.yaml',
      'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: web-settings, namespace: shop }\ndata: { mode: deep }\n',
    );
    const slow = await work.commit('shop: dev through a deep diamond of bases');
    await work.push();
    await h.commitDetected(slow);

    const rendering = () =>
      planner.planner.rendering().some((r) => r.pipeline === 'shop' && r.revision === slow);
    const shopDone = () =>
      h.events.of(PlanCreated, (d: D) => d.revision === slow).length > 0 ||
      h.events.of(RenderFailed, (d: D) => d.revision === slow).length > 0;
    await waitFor('shop renders the slow revision', async () => (rendering() ? true : undefined), {
      timeoutMs: 60_000,
      intervalMs: 20,
    });

    // A write, a read of the very pipeline being rendered, and another write: each answered
    // while that render was still running and before anything of it was published.
    const lock = await h.api(planner, 'POST', '/api/v1/pipelines/shop/stages/prod/lock', TOKENS.alice, {
      reason: 'freeze during the test',
    });
    expect(lock).toHaveStatus(200);
    expect([rendering(), shopDone()]).toEqual([true, false]);
    const status = await h.api(planner, 'GET', '/api/v1/pipelines/shop/stages', TOKENS.bob);
    expect(status).toHaveStatus(200);
    expect(status.body.revision).not.toBe(slow);
    expect((status.body.stages as Array<{ locked: D | null }>)[1]?.locked).toMatchObject({
      by: 'user:alice',
    });
    expect([rendering(), shopDone()]).toEqual([true, false]);
    const unlock = await h.api(planner, 'POST', '/api/v1/pipelines/shop/stages/prod/unlock', TOKENS.alice);
    expect(unlock).toHaveStatus(200);
    // /metrics shows the render in flight (and answers during it too).
    const metrics = await (await fetch(`${planner.url}/metrics`)).text();
    expect(metrics).toMatch(/^planner_renders_in_flight 1$/m);
    expect(metrics).toMatch(/^planner_renders_pending 1$/m);
    const list = await h.api(planner, 'GET', '/api/v1/pipelines', TOKENS.bob);
    expect((list.body.pipelines as D[]).map((p) => p.name)).toEqual(['payments', 'shop']);
    expect([rendering(), shopDone()]).toEqual([true, false]);

    // The other team commits on top: its plan is out while shop's render still runs.
    await work.writeFile('payments/dev/api.yaml', deployment('payments', 'api').replace('1.0.0', '1.0.1'));
    const fast = await work.commit('payments: 1.0.1 in dev');
    await work.push();
    await h.commitDetected(fast);
    const paymentsPlan = await h.events.wait<D>(
      PlanCreated,
      (d) => d.pipeline === 'payments' && d.revision === fast,
    );
    expect(paymentsPlan.data).toMatchObject({ cluster: 'dev', sequence: 2 });
    const shopPlan = await h.events.wait<D>(
      PlanCreated,
      (d) => d.pipeline === 'shop' && d.revision === slow,
      240_000,
    );
    expect(shopPlan.data).toMatchObject({ cluster: 'dev', sequence: 2 });
    expect(h.events.events.indexOf(paymentsPlan)).toBeLessThan(h.events.events.indexOf(shopPlan));

    // Each commit planned only what it touched; the revision counts as rendered once both are.
    await h.drained();
    const plans = h.events.of<D>(PlanCreated, (d) => d.revision === slow || d.revision === fast);
    expect(plans.map((e) => `${e.data.pipeline}.${e.data.cluster}@${e.data.revision}`).sort()).toEqual(
      [`payments.dev@${fast}`, `shop.dev@${slow}`].sort(),
    );
    const after = await h.api(planner, 'GET', '/api/v1/pipelines/shop/stages', TOKENS.bob);
    expect(after.body.revision).toBe(fast);
  }, 300_000);
});
