import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { preferredOwner } from '@flotilla/bus';
import { type FlotillaEvent, PlanCreated } from '@flotilla/events';
import { GitWorkdir, waitFor } from '@flotilla/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type PlannerProcess,
  signingKeyFile,
  startPlannerProcess,
} from '../../../test/faults/planner-process.ts';
import { checkReplay } from '../../cluster-applier/src/plan-checks.ts';
import { createHarness, type Harness } from './harness.ts';

// Three real planner processes (the built bundle, `lease.mode: sharded`) on one real NATS and
// one config repo of nine pipelines sharing two clusters: the pipelines are split across the
// instances, the pipelines of a SIGKILLed instance move to the others, and the applier's own ordering
// check accepts every plan in the order it was published (the new holder's under a higher epoch).

const PIPELINES = Array.from({ length: 9 }, (_, i) => `team-${i}`);
const CLUSTERS = ['dev', 'prod'];
const SLOTS = ['slot.0', 'slot.1', 'slot.2'];
const TTL_MS = 3000;

type Plan = {
  pipeline?: string;
  cluster: string;
  revision: string;
  planId: string;
  sequence: number;
  epoch?: number;
  bundle: { digest: string };
};

const objects = (p: string, cluster: string, run: string) =>
  Array.from(
    { length: 3 },
    (_, k) =>
      `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: ${p}-${k}, namespace: ${p} }\ndata: { cluster: ${cluster}, run: "${run}" }\n`,
  ).join('---\n');

function repo(): Record<string, string> {
  const files: Record<string, string> = {};
  for (const p of PIPELINES) {
    files[`pipelines/${p}.yaml`] = `apiVersion: flotilla.io/v1
kind: Pipeline
metadata: { name: ${p} }
spec:
  stages:
    - name: live
      clusters: [${CLUSTERS.map((c) => `{ name: ${c}, path: apps/${p}/${c} }`).join(', ')}]
`;
    for (const c of CLUSTERS) files[`apps/${p}/${c}/objects.yaml`] = objects(p, c, 'initial');
  }
  return files;
}

describe('sharded planners: pipelines spread over instances by per-pipeline leases', () => {
  let h: Harness;
  let dir: string;
  let procs: PlannerProcess[] = [];
  let work: GitWorkdir;
  const killed = new Set<string>();

  const plans = () => h.events.of<Plan>(PlanCreated) as Array<FlotillaEvent<Plan>>;
  /** pipeline → the instance holding its lease (as the KV entry says). */
  const owners = async (): Promise<Map<string, string>> => {
    const kv = await h.watcher.kv<{ owner: string }>('planner-leader');
    const out = new Map<string, string>();
    for (const p of PIPELINES) {
      const e = await kv.get(`pipeline.${p}`);
      if (e) out.set(p, e.value.owner);
    }
    return out;
  };
  /** Member slot → the running instance holding it. */
  const slotOwners = async (): Promise<Map<string, string>> => {
    const kv = await h.watcher.kv<{ owner: string }>('planner-leader');
    const running = new Set(procs.filter((p) => !killed.has(p.instance)).map((p) => p.instance));
    const out = new Map<string, string>();
    for (let i = 0; i < 8; i++) {
      const owner = (await kv.get(`slot.${i}`))?.value.owner;
      if (owner && running.has(owner)) out.set(`slot.${i}`, owner);
    }
    return out;
  };
  const instanceOf = (e: FlotillaEvent) => e.source.split('/').pop() ?? '';
  /** Commits a change to every pipeline's objects and waits for a plan per (pipeline, cluster) at it. */
  const changeAll = async (run: string): Promise<string> => {
    await work.pull();
    for (const p of PIPELINES)
      for (const c of CLUSTERS) await work.writeFile(`apps/${p}/${c}/objects.yaml`, objects(p, c, run));
    const sha = await work.commit(`test: ${run}`);
    await work.push();
    await h.commitDetected(
      sha,
      PIPELINES.flatMap((p) => CLUSTERS.map((c) => `apps/${p}/${c}/objects.yaml`)),
    );
    for (const p of PIPELINES)
      for (const c of CLUSTERS)
        await h.events.wait<Plan>(
          PlanCreated,
          (d) => d.pipeline === p && d.cluster === c && d.revision === sha,
          120_000,
        );
    return sha;
  };

  beforeAll(async () => {
    // The fixture's names spread over three slots (rendezvous hashing is deterministic).
    expect(new Set(PIPELINES.map((p) => preferredOwner(p, SLOTS))).size).toBe(3);
    h = await createHarness({ files: repo() });
    dir = await mkdtemp(join(tmpdir(), 'planner-shards-'));
    const keyFile = signingKeyFile(dir);
    const setup = {
      natsUrl: h.nats.url,
      repoUrl: h.repoUrl,
      repoName: h.repoName,
      dir,
      ttlMs: TTL_MS,
      mode: 'sharded' as const,
    };
    procs = ['a', 'b', 'c'].map((i) => startPlannerProcess(setup, keyFile, `planner-${i}`));
    work = await GitWorkdir.clone(h.git.fileUrl(h.repoName));
  });

  afterAll(async () => {
    for (const p of procs) await p.stop().catch(() => undefined);
    await work?.remove();
    await h?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('splits the pipelines over the three instances; each plans only the pipelines it holds', async () => {
    // Settled: every pipeline held by the instance whose member slot rendezvous hashing picks.
    const split = await waitFor(
      'every pipeline held by its preferred instance, all three serving',
      async () => {
        const o = await owners();
        const slots = await slotOwners();
        const live = [...slots.keys()];
        const settled = PIPELINES.every((p) => o.get(p) === slots.get(preferredOwner(p, live) ?? ''));
        return settled && live.length === 3 && new Set(o.values()).size === 3 ? o : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 250 },
    );
    const sha = await changeAll('split');
    for (const e of plans().filter((e) => e.data.revision === sha))
      expect(instanceOf(e), `${e.data.pipeline}/${e.data.cluster}`).toBe(split.get(e.data.pipeline ?? ''));
  });

  it('the pipelines of a SIGKILLed instance move to the others (one lease TTL after it stopped renewing); appliers accept the new holders', async () => {
    const before = await owners();
    const counts = new Map<string, number>();
    for (const o of before.values()) counts.set(o, (counts.get(o) ?? 0) + 1);
    const victimName = [...counts].sort((a, b) => b[1] - a[1])[0]?.[0] as string;
    const victim = procs.find((p) => p.instance === victimName) as PlannerProcess;
    const moved = [...before].filter(([, o]) => o === victimName).map(([p]) => p);
    expect(moved.length).toBeGreaterThan(0);
    const epochBefore = new Map<string, number>();
    for (const e of plans()) {
      const p = e.data.pipeline ?? '';
      epochBefore.set(p, Math.max(epochBefore.get(p) ?? 0, e.data.epoch ?? 0));
    }

    const killedAt = performance.now();
    killed.add(victimName);
    await victim.kill();
    const after = await waitFor(
      `pipelines ${moved.join(', ')} to move off ${victimName}`,
      async () => {
        const o = await owners();
        return moved.every((p) => o.get(p) && o.get(p) !== victimName) ? o : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 100 },
    );
    // Reported, never asserted on a loaded machine: the handover took this long after SIGKILL.
    console.log(`handover after SIGKILL: ${(performance.now() - killedAt).toFixed(0)} ms (TTL ${TTL_MS} ms)`);

    const sha = await changeAll('after-kill');
    for (const e of plans().filter((e) => e.data.revision === sha)) {
      const p = e.data.pipeline ?? '';
      expect(instanceOf(e), `${p}/${e.data.cluster}`).toBe(after.get(p));
      expect(instanceOf(e)).not.toBe(victimName);
      // The new holder's tenure outranks the dead one's.
      if (moved.includes(p)) expect(e.data.epoch ?? 0).toBeGreaterThan(epochBefore.get(p) ?? 0);
    }
  });

  it('published no (pipeline, cluster, epoch, sequence) twice, and every plan passes the applier ordering check in order', () => {
    const seen = new Map<string, string>();
    const inventories = new Map<string, Parameters<typeof checkReplay>[1]>();
    const all = plans();
    expect(all.length).toBeGreaterThanOrEqual(PIPELINES.length * CLUSTERS.length * 3);
    for (const e of all) {
      const d = e.data;
      const slot = `${d.pipeline}/${d.cluster}@${d.epoch}#${d.sequence}`;
      const earlier = seen.get(slot);
      if (earlier !== undefined) expect(earlier, slot).toBe(d.planId);
      seen.set(slot, d.planId);
      const key = `${d.pipeline}/${d.cluster}`;
      // Throws plan.replayed for a plan the applier would refuse.
      checkReplay(e.data as never, inventories.get(key));
      inventories.set(key, {
        sequence: d.sequence,
        planId: d.planId,
        digest: d.bundle.digest,
        revision: d.revision,
        ...(d.epoch === undefined ? {} : { epoch: d.epoch }),
      } as never);
    }
  });
});
