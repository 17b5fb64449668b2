import { PlanCreated } from '@flotilla/events';
import { GitWorkdir, rawNats, waitUntil } from '@flotilla/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PlannerHandle } from '../src/service.ts';
import { createHarness, type Harness } from './harness.ts';

// A transient failure of one pipeline's render (here: its cluster's bundle store refuses the
// bundle, a resource limit of the real NATS object store) loses none of that pipeline's plans:
// the planner renders it again at the same revision once the limit is lifted. And the revision's
// record (Planner.lastRender, what bench/planner/pipelines.ts checks) counts the plans of every
// attempt at that revision, not only the retry's (a bench once read "planned 0 clusters" for a
// pipeline whose plans had all been published, because another pipeline was retried).

const configMap = (ns: string, value: string) => `apiVersion: v1
kind: ConfigMap
metadata: { name: settings, namespace: ${ns} }
data: { value: "${value}" }
`;

const pipeline = (name: string) => `apiVersion: flotilla.io/v1
kind: Pipeline
metadata:
  name: ${name}
spec:
  stages:
    - name: dev
      clusters: [{ name: ${name}-dev, path: ${name}/dev }]
`;

const FILES: Record<string, string> = {
  'pipelines/shop.yaml': pipeline('shop'),
  'pipelines/pay.yaml': pipeline('pay'),
  'shop/dev/settings.yaml': configMap('shop', 'v1'),
  'pay/dev/settings.yaml': configMap('pay', 'v1'),
};

type D = { pipeline?: string; cluster?: string; revision?: string };
let h: Harness;
let planner: PlannerHandle;
let work: GitWorkdir;

beforeAll(async () => {
  h = await createHarness({ files: FILES });
  planner = await h.start({ renderScope: 'all', evaluateIntervalMs: 200 });
  for (const p of ['shop', 'pay']) await h.events.wait(PlanCreated, (d: D) => d.pipeline === p);
  work = await GitWorkdir.clone(h.git.fileUrl(h.repoName));
});
afterAll(async () => {
  await work?.remove();
  await h?.stop();
});

describe('a render that fails for a transient reason', () => {
  it("is rendered again at the same revision: the pipeline's plans appear, and the revision counts them all", async () => {
    // pay-dev's bundle store takes no message larger than 64 bytes: every bundle is refused.
    const jsm = rawNats(h.watcher).jsm;
    const stream = 'OBJ_flotilla-bundles-pay-dev';
    const limited = (await jsm.streams.info(stream)).config;
    await jsm.streams.update(stream, { ...limited, max_msg_size: 64 });

    await work.pull();
    await work.writeFile('shop/dev/settings.yaml', configMap('shop', 'v2'));
    await work.writeFile('pay/dev/settings.yaml', configMap('pay', 'v2'));
    const sha = await work.commit('both pipelines change');
    await work.push();
    await h.commitDetected(sha, ['shop/dev/settings.yaml', 'pay/dev/settings.yaml']);

    await h.events.wait(PlanCreated, (d: D) => d.pipeline === 'shop' && d.revision === sha);
    // Both lanes are done with the revision; pay's failed, so the revision is not recorded yet.
    await waitUntil('both lanes to finish', () => planner.planner.pendingRenders() === 0);
    const payAt = () =>
      h.events
        .of(PlanCreated)
        .filter((e) => (e.data as D).pipeline === 'pay' && (e.data as D).revision === sha);
    expect(payAt()).toHaveLength(0);
    expect(planner.planner.lastRender?.revision).not.toBe(sha);

    // The limit is lifted: the next tick renders pay again at the same revision.
    await jsm.streams.update(stream, { ...limited, max_msg_size: -1 });
    await h.events.wait(PlanCreated, (d: D) => d.pipeline === 'pay' && d.revision === sha, 60_000);
    await waitUntil('the revision to be recorded', () => planner.planner.lastRender?.revision === sha);
    expect(payAt()).toHaveLength(1);
    // Every pipeline rendered at sha and every plan it produced, over both attempts.
    expect(planner.planner.lastRender).toMatchObject({ revision: sha, plans: 2, pipelines: 2 });
  });
});
