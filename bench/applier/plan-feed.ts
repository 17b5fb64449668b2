import type { Bus } from '@flotilla/bus';
import { decodeEvent, type FlotillaEvent, PlanCreated } from '@flotilla/events';
import { bundleContentDigest, createBundle, encodeBundle, type KubeObject } from '@flotilla/manifests';
import { rawNats } from '@flotilla/test-support';
import { type PlanData, type SigningKey, signPlan } from '@flotilla/trust';

/**
 * The planner's side of the applier benches (bench/applier/mttp.ts for speed,
 * bench/runtime/applier-peak.ts for memory): each plan takes the planner's own path (bundle into
 * the object store, signed PlanCreated) without rendering, and every event on the bus is kept so
 * a bench can wait for the applier's answer. One copy, so both benches measure the same input.
 */
export interface PlanFeed {
  /** Every Flotilla event seen since the feed started, in arrival order. */
  readonly events: FlotillaEvent[];
  /** Stores the bundle, signs the plan and publishes it; `t0` is taken just before the publish. */
  publish(cluster: string, objects: KubeObject[], sequence: number): Promise<{ plan: PlanData; t0: number }>;
  /** The first event matching `pred`; throws at the first ApplyFailed or after `timeoutMs`. */
  waitEvent(what: string, pred: (e: FlotillaEvent) => boolean, timeoutMs?: number): Promise<FlotillaEvent>;
}

export async function planFeed(planner: Bus, key: SigningKey, bucket: string): Promise<PlanFeed> {
  const blobs = await planner.blobs(bucket);
  const events: FlotillaEvent[] = [];
  const sub = rawNats(planner).nc.subscribe('flotilla.v1.>');
  void (async () => {
    for await (const m of sub) {
      try {
        events.push(decodeEvent(m.data, { subject: m.subject }));
      } catch {
        // Not a Flotilla event (a KV or object-store message on the same wildcard): not ours to wait on.
      }
    }
  })();

  return {
    events,
    async publish(cluster, objects, sequence) {
      const revision = sequence.toString(16).padStart(40, '0');
      const bundle = createBundle({ cluster, revision, source: { repo: 'bench', path: 'apps' }, objects });
      const bytes = encodeBundle(bundle);
      const digest = await blobs.put(bytes);
      const plan = signPlan(
        {
          planId: `${cluster}-${sequence}`,
          cluster,
          stage: 'bench',
          repo: 'bench',
          revision,
          path: 'apps',
          sequence,
          bundle: {
            digest,
            size: bytes.byteLength,
            objects: objects.length,
            bucket,
            contentDigest: bundleContentDigest(bundle),
          },
          createdAt: new Date().toISOString(),
        },
        key,
      );
      const t0 = performance.now();
      await planner.publish(PlanCreated, plan, { id: plan.planId });
      return { plan, t0 };
    },
    async waitEvent(what, pred, timeoutMs = 600_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const e = events.find(pred);
        if (e) return e;
        const failed = events.find((x) => x.type === 'io.flotilla.apply.failed.v1');
        if (failed) throw new Error(`apply failed: ${JSON.stringify(failed.data).slice(0, 2000)}`);
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
  };
}
