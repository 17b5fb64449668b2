import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApplyFailed, ApplyStarted, ApplySucceeded, decodeEvent, type FlotillaEvent } from '@flotilla/events';
import type { KubeObject } from '@flotilla/manifests';
import { rawNats, startTcpProxy, type TcpProxy, waitFor } from '@flotilla/test-support';
import { cm, type Harness, ns, rand } from '../../../services/cluster-applier/test/harness.ts';
import { type History, HistoryRecorder } from '../history.ts';
import { Nemesis } from '../nemesis.ts';

/** How many times one plan is cut at most: its retries are cut too, not only its first try. */
const CUTS_PER_PLAN = 3;
/** How long a partition lasts: beyond the applier's kube request timeout (3 s here). */
const CUT_MS = 6000;

export type ApplierFault = 'apiserver-kill' | 'apiserver-partition' | 'nats-partition';

const TITLES: Record<ApplierFault, string> = {
  'apiserver-kill': 'apiserver killed mid-apply (SIGKILL, restart on its data dir)',
  'apiserver-partition': 'apiserver cut off from the applier mid-apply (partition), then healed',
  'nats-partition': 'cluster-applier cut off from NATS mid-apply (partition), then healed',
};

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
 * A real cluster-applier applies plans of many objects to a real apiserver while a fault cuts an
 * apply in the middle: `apiserver-kill` SIGKILLs the whole control plane (apiserver + etcd, one
 * process) and starts it again on the same data dir and port; `apiserver-partition` holds every
 * byte between the applier and the apiserver (a TCP proxy in its kubeconfig) for longer than the
 * applier's request timeout; `nats-partition` does the same to the applier's NATS link. Each op
 * is one signed plan; its effect is the applier's ApplySucceeded for it (keyed by event id: two
 * for one plan are a second apply). At the end the cluster is read back: every object of the
 * last plan must be there with its content.
 *
 * `h` (NATS and the control plane) is the caller's, shared by the rows: each row has its own
 * cluster name, namespace, applier and proxy, and stops its applier when done.
 */
export async function applierFault(kind: ApplierFault, durationMs: number, h: Harness): Promise<History> {
  const rec = new HistoryRecorder(TITLES[kind]);
  const cluster = `faults-${rand()}`;
  const space = `faults-${rand()}`;
  const events: FlotillaEvent[] = [];
  const sub = rawNats(h.planner).nc.subscribe('flotilla.v1.>');
  const opOf = new Map<string, string>(); // planId → op id
  let diverged: string[] = [];
  let proxy: TcpProxy | undefined;
  let applier: Awaited<ReturnType<Harness['start']>> | undefined;
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
    const kube = h.config(cluster).kube;
    let kubeconfig: string | undefined;
    let nats = h.config(cluster).nats;
    if (kind === 'apiserver-partition') {
      // The applier reaches the apiserver through the proxy; the certificate names 127.0.0.1,
      // which the proxy is too, so TLS verifies as before.
      proxy = await startTcpProxy({ port: Number(new URL(h.cluster.server).port) }, 'https');
      kubeconfig = join(h.cluster.dataDir, 'applier-via-proxy.kubeconfig');
      const direct = readFileSync(h.cluster.kubeconfigPath, 'utf8');
      const viaProxy = direct.replaceAll(h.cluster.server, proxy.url);
      if (viaProxy === direct) throw new Error(`${h.cluster.server} is not in the cluster's kubeconfig`);
      writeFileSync(kubeconfig, viaProxy);
    } else if (kind === 'nats-partition') {
      proxy = await startTcpProxy({ port: h.nats.port });
      nats = { ...nats, servers: [proxy.url] };
    }
    // Requests time out after 3 s (10 s for a kill): a partition is noticed, not waited out.
    applier = await h.start(
      cluster,
      { nats, kube: { ...kube, timeoutMs: kind === 'apiserver-kill' ? 10_000 : 3000 } },
      kubeconfig,
    );

    // Kill while an apply is in flight: after the latest plan's ApplyStarted and before its
    // ApplySucceeded, a random moment (0–150 ms) into it; an apply of 200 objects takes a few hundred ms here.
    let latest = '';
    let midApply = 0;
    // Each plan is cut at most CUTS_PER_PLAN times, its retries included: the applier retries a
    // plan cut by an apiserver outage as soon as /readyz answers, not on the consumer's backoff.
    const cuts = new Map<string, number>();
    const nemesis = new Nemesis(async () => {
      const inFlight = (planId: string) =>
        (cuts.get(planId) ?? 0) < CUTS_PER_PLAN &&
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
      cuts.set(planId, (cuts.get(planId) ?? 0) + 1);
      await new Promise((r) => setTimeout(r, Math.random() * 150));
      if (kind === 'apiserver-kill') await h.cluster.kill();
      else proxy?.partition();
      rec.fault();
      const op = opOf.get(planId);
      if (op && !rec.seen(op)) midApply++;
      if (kind === 'apiserver-kill') {
        await new Promise((r) => setTimeout(r, 1000));
        await h.cluster.restart();
      } else {
        await new Promise((r) => setTimeout(r, CUT_MS));
        proxy?.heal();
      }
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
    const failures = new Map<string, number>();
    for (const e of events)
      if (e.type === ApplyFailed.type) {
        const code = (e.data as { code: string }).code;
        failures.set(code, (failures.get(code) ?? 0) + 1);
      }
    console.log(
      `${kind}: ApplyFailed by code ${JSON.stringify(Object.fromEntries(failures))}; ${rec.faults} cuts, ${midApply} while an apply was in flight, ${sequence} plans, ${applier.outagesWaited} apiserver outages waited out by the applier`,
    );
    // The outage retry did the work (not the consumer's backoff) when the apiserver went away.
    if (kind !== 'nats-partition' && midApply > 0 && applier.outagesWaited === 0)
      diverged.push('the applier never waited out an outage: plans were retried on the backoff');
    return rec.history({ cumulative: true, diverged });
  } finally {
    sub.unsubscribe();
    proxy?.heal();
    await applier?.stop().catch(() => undefined);
    await proxy?.close().catch(() => undefined);
  }
}
