import { ApplyStarted, ApplySucceeded, decodeEvent, type FlotillaEvent } from '@flotilla/events';
import type { KubeObject } from '@flotilla/manifests';
import { rawNats, waitFor } from '@flotilla/test-support';
import { cm, createHarness, ns, rand } from '../../../services/cluster-applier/test/harness.ts';
import { type History, HistoryRecorder } from '../history.ts';
import { Nemesis } from '../nemesis.ts';

/** Objects per plan: enough that an apply takes long enough to be cut in the middle. */
const OBJECTS = 200;

/** Every plan rewrites every object (its sequence is in the data), so each apply writes them all. */
function planObjects(space: string, sequence: number): KubeObject[] {
  return [
    ns(space),
    ...Array.from({ length: OBJECTS }, (_, i) =>
      cm(space, `cm-${i}`, { plan: String(sequence), index: String(i) }),
    ),
  ];
}

/** Order-independent text of a ConfigMap's data (the apiserver returns keys sorted). */
const canonical = (data: Record<string, string> | undefined) =>
  JSON.stringify(Object.entries(data ?? {}).sort(([a], [b]) => a.localeCompare(b)));

/**
 * A real cluster-applier applies plans of many objects to a real apiserver while the whole
 * control plane (apiserver + etcd, one process) gets SIGKILL in the middle of an apply and is
 * started again on the same data dir and port. Each op is one signed plan; its effect is the
 * applier's ApplySucceeded for it (keyed by event id: two for one plan are a second apply).
 * At the end the cluster is read back: every object of the last plan must be there with its
 * content.
 */
export async function apiserverKill(durationMs: number): Promise<History> {
  const rec = new HistoryRecorder('apiserver killed mid-apply (SIGKILL, restart on its data dir)');
  const h = await createHarness({ kwok: false });
  const cluster = `faults-${rand()}`;
  const space = `faults-${rand()}`;
  const events: FlotillaEvent[] = [];
  const sub = rawNats(h.planner).nc.subscribe('flotilla.v1.>');
  const opOf = new Map<string, string>(); // planId → op id
  let diverged: string[] = [];
  try {
    void (async () => {
      for await (const m of sub) {
        let e: FlotillaEvent;
        try {
          e = decodeEvent(m.data, { subject: m.subject });
        } catch {
          continue;
        }
        events.push(e);
        if (e.type !== ApplySucceeded.type) continue;
        const op = opOf.get((e.data as { planId: string }).planId);
        if (op) rec.observe(op, e.id);
      }
    })();
    await h.start(cluster, { kube: { ...h.config(cluster).kube, timeoutMs: 10_000 } });

    // Kill while an apply is in flight: after the latest plan's ApplyStarted and before its
    // ApplySucceeded, a random moment (0–150 ms) into it; an apply of 200 objects takes a few hundred ms here.
    let latest = '';
    let midApply = 0;
    // One kill per plan: killing every retry of one plan walks it up the consumer's backoff
    // (2, 5, 15, 30, 60 s), and its next try then comes up to a minute after the apiserver is back.
    const killed = new Set<string>();
    const nemesis = new Nemesis(async () => {
      const inFlight = (planId: string) =>
        !killed.has(planId) &&
        !rec.seen(opOf.get(planId) ?? '') &&
        events.some((e) => e.type === ApplyStarted.type && (e.data as { planId: string }).planId === planId);
      const planId = await waitFor(
        'an apply in flight',
        async () => (inFlight(latest) ? latest : undefined),
        {
          timeoutMs: 30_000,
          intervalMs: 20,
        },
      ).catch(() => undefined);
      if (!planId) return;
      killed.add(planId);
      await new Promise((r) => setTimeout(r, Math.random() * 150));
      await h.cluster.kill();
      rec.fault();
      const op = opOf.get(planId);
      if (op && !rec.seen(op)) midApply++;
      await new Promise((r) => setTimeout(r, 1000));
      await h.cluster.restart();
    }, 1500);

    const deadline = performance.now() + durationMs;
    let sequence = 0;
    nemesis.start();
    while (performance.now() < deadline) {
      sequence++;
      const opId = `plan-${sequence}`;
      const op = rec.invoke(opId);
      try {
        // The planner's side is NATS, not the apiserver: publishing is acknowledged by JetStream.
        const plan = await h.publishPlan(cluster, planObjects(space, sequence), {
          sequence,
          mutate: (p) => {
            opOf.set(p.planId, opId);
            return p;
          },
        });
        latest = plan.planId;
        rec.complete(op, 'ok');
      } catch {
        rec.complete(op, 'unknown');
        continue;
      }
      // One plan at a time, as a planner promoting commit after commit: the next is published
      // once this one was applied (or after a minute, when the checker counts it lost).
      await waitFor('the plan applied', async () => (rec.seen(opId) ? true : undefined), {
        timeoutMs: 60_000,
      }).catch(() => undefined);
    }
    await nemesis.stop();
    for (const err of nemesis.errors) diverged.push(`nemesis: ${err}`);

    // Converged: the cluster holds every object of the last plan, with that plan's content.
    const want = new Map(
      planObjects(space, sequence)
        .filter((o) => o.kind === 'ConfigMap')
        .map((o) => [o.metadata.name, canonical((o as { data?: Record<string, string> }).data)]),
    );
    const readBack = async () => {
      const live = JSON.parse(await h.kubectl('get', 'configmaps', '-n', space, '-o', 'json')) as {
        items: { metadata: { name: string }; data?: Record<string, string> }[];
      };
      const have = new Map(live.items.map((i) => [i.metadata.name, canonical(i.data)]));
      const off: string[] = [];
      for (const [name, data] of want) {
        const got = have.get(name);
        if (got !== data)
          off.push(`ConfigMap ${space}/${name}: ${got === undefined ? 'missing' : `has ${got}`}`);
      }
      return off;
    };
    diverged.push(
      ...(await waitFor(
        'the cluster to hold the last plan',
        async () => ((await readBack()).length === 0 ? [] : undefined),
        { timeoutMs: 120_000 },
      ).catch(async () => await readBack().catch((e: Error) => [`read back: ${e.message}`]))),
    );
    diverged = [...new Set(diverged)];
    console.log(
      `apiserver kill: ${rec.faults} kills, ${midApply} while an apply was in flight, ${sequence} plans`,
    );
    return rec.history({ cumulative: true, diverged });
  } finally {
    sub.unsubscribe();
    await h.stop();
  }
}
