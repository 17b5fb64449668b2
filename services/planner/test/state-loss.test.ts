import { checkReplay } from '@flotilla/cluster-applier';
import { PlanCreated } from '@flotilla/events';
import type { Inventory } from '@flotilla/kube';
import { GitWorkdir } from '@flotilla/test-support';
import type { PlanData } from '@flotilla/trust';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from './harness.ts';

let h: Harness;
let work: GitWorkdir;

beforeAll(async () => {
  h = await createHarness();
  work = await GitWorkdir.clone(h.git.fileUrl(h.repoName));
});
afterAll(async () => {
  await work?.remove();
  await h?.stop();
});

/** What the applier keeps in its inventory after applying `plan`. */
const appliedInventory = (plan: PlanData): Inventory => ({
  name: 'flotilla-inventory-dev',
  cluster: plan.cluster,
  sequence: plan.sequence,
  ...(plan.epoch === undefined ? {} : { epoch: plan.epoch }),
  planId: plan.planId,
  digest: plan.bundle.digest,
  revision: plan.revision,
  entries: {},
});

describe('planner state loss', () => {
  it('after its KV state is wiped, a restarted planner publishes plans the applier accepts', async () => {
    const first = await h.start();
    const old = await h.events.wait<PlanData>(PlanCreated, (d) => d.cluster === 'dev');
    expect(old.data.epoch).toBeGreaterThan(0);
    await first.stop();

    // Lose every key of the planner's state: its sequences start again at 1.
    const state = await h.watcher.kv('planner-state');
    for (const key of await state.keys()) await state.kv.purge(key);
    expect(await state.keys()).toEqual([]);

    const text = await h.fileAtHead('clusters/dev/kustomization.yaml');
    await work.pull();
    await work.writeFile(
      'clusters/dev/kustomization.yaml',
      text.replace('flotilla.io/cluster: dev', 'flotilla.io/cluster: dev\n  team: shop'),
    );
    const sha = await work.commit('dev: annotate after state loss');
    await work.push();
    await h.start();
    const fresh = await h.events.wait<PlanData>(
      PlanCreated,
      (d) => d.cluster === 'dev' && d.revision === sha,
    );

    expect(fresh.data.sequence).toBeLessThanOrEqual(old.data.sequence);
    expect(fresh.data.epoch).toBeGreaterThan(old.data.epoch ?? 0);
    // The applier's own replay check, against what it remembers of the old planner's plan.
    expect(checkReplay(fresh.data, appliedInventory(old.data))).toBe('new');
    // …while the old planner's plan, delivered again, is still refused as a replay.
    expect(() => checkReplay(old.data, appliedInventory(fresh.data))).toThrow(/replay/);
  });
});
