// A drift report is marked reported only once JetStream acknowledged it (issue 15): a report
// that could not be published while NATS was down is made again at the next check, and the
// stream holds it exactly once (counted from the stream, not from a live subscription).
import { ApplySucceeded, DriftDetected, subjectFilter } from '@flotilla/events';
import { waitFor } from '@flotilla/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, deployment, type Harness, ns, rand } from './harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await createHarness({ kwok: false });
});
afterAll(async () => {
  await h?.stop();
});

/** DriftDetected reports about `object` the stream holds for `cluster`. */
async function storedReports(cluster: string, object: string): Promise<number> {
  let n = 0;
  for await (const { event } of h.planner.replay(subjectFilter(DriftDetected, cluster)))
    if ((event.data as { object: string }).object === object) n++;
  return n;
}

describe('cluster-applier: drift reported while NATS is down', () => {
  it('reports the drift once NATS is back, and exactly once', async () => {
    const cluster = `c-${rand()}`;
    const space = `drift-outage-${rand()}`;
    const object = `apps/Deployment ${space}/web`;
    // Checks run only when the test asks (the interval is out of reach).
    const app = await h.start(cluster, { drift: { policy: 'report', intervalMs: 3_600_000 } });
    const plan = await h.publishPlan(
      cluster,
      [ns(space), deployment(space, 'web', { image: 'registry.local/app:1.0' })],
      {
        sequence: 1,
      },
    );
    await h.events.wait(ApplySucceeded, (d: { planId: string }) => d.planId === plan.planId);
    await h.kubectl('set', 'image', 'deployment/web', '-n', space, 'app=registry.local/app:hacked');

    await h.nats.stop();
    // Found, but its report cannot be published.
    const during = await app.applier.checkDrift();
    expect(during.drifted).toHaveLength(1);
    await h.nats.restart();

    // The next checks report it again until JetStream has it (same id: a stored copy is kept once).
    await waitFor(
      'the drift report in the stream',
      async () => {
        await app.applier.checkDrift();
        return (await storedReports(cluster, object)) > 0 ? true : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 500 },
    );
    // Reported now: a further check does not report the same edit again.
    const after = await app.applier.checkDrift();
    expect(after.drifted).toEqual([]);
    expect(await storedReports(cluster, object)).toBe(1);
  });
});

describe('cluster-applier: deletion reported while NATS is down', () => {
  it('reports the deleted object once NATS is back, and exactly once', async () => {
    const cluster = `c-${rand()}`;
    const space = `drift-deleted-${rand()}`;
    const object = `apps/Deployment ${space}/web`;
    const app = await h.start(cluster, { drift: { policy: 'report', intervalMs: 3_600_000 } });
    const plan = await h.publishPlan(
      cluster,
      [ns(space), deployment(space, 'web', { image: 'registry.local/app:1.0' })],
      { sequence: 1 },
    );
    await h.events.wait(ApplySucceeded, (d: { planId: string }) => d.planId === plan.planId);
    // Seen live once: the deletion is named by this last resourceVersion.
    expect((await app.applier.checkDrift()).drifted).toEqual([]);
    await h.kubectl('delete', 'deployment/web', '-n', space, '--wait=true');

    await h.nats.stop();
    const during = await app.applier.checkDrift();
    expect(during.drifted).toHaveLength(1);
    await h.nats.restart();

    await waitFor(
      'the deletion report in the stream',
      async () => {
        await app.applier.checkDrift();
        return (await storedReports(cluster, object)) > 0 ? true : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 500 },
    );
    expect((await app.applier.checkDrift()).drifted).toEqual([]);
    expect(await storedReports(cluster, object)).toBe(1);
  });
});
