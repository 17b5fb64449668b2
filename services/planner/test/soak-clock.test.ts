import { createEvent, HealthChanged } from '@flotilla/events';
import { createLogger } from '@flotilla/runtime';
import { describe, expect, it } from 'vitest';
import { HealthView } from '../src/health-view.ts';
import { PlannerState } from '../src/state.ts';
import { stateNats } from './state-nats.ts';

const nats = stateNats();

/** Gives `state` the plan both tests soak: dev-1 for cluster dev (pipeline dev), at this revision and bundle. */
function desireDev1(state: PlannerState, revision: string, bundleDigest: string): void {
  state.cluster('dev', 'dev').desired = {
    planId: 'dev-1',
    revision,
    sequence: 1,
    bundleDigest,
    contentDigest: 'x',
    objects: 1,
    createdAt: '2026-11-30T00:00:00.000Z',
  };
}

/** The applier's report that dev-1 is Current, stamped with the applier's own clock (now if not given). */
function currentReport(revision: string, bundleDigest: string, time?: Date) {
  return createEvent(
    HealthChanged,
    { cluster: 'dev', planId: 'dev-1', revision, bundleDigest, status: 'Current', objects: [] },
    { source: 'flotilla/cluster-applier/dev', actor: 'applier', time },
  );
}

describe('soak is measured on the planner clock', () => {
  it('an applier whose clock runs an hour ahead does not shorten the soak', async () => {
    const state = new PlannerState(await nats.bus.kv(nats.bucket()));
    const digest = `sha256:${'a'.repeat(64)}`;
    const revision = 'b'.repeat(40);
    desireDev1(state, revision, digest);
    let plannerNow = new Date('2026-11-30T12:00:00.000Z');
    const view = new HealthView(
      state,
      createLogger({ service: 'planner', level: 'silent' }),
      () => plannerNow,
    );
    const report = (time: Date) => view.onHealth(currentReport(revision, digest, time));
    await report(new Date('2026-11-30T13:00:00.000Z')); // the applier's skewed clock
    expect(view.report('dev')?.healthySince?.toISOString()).toBe('2026-11-30T12:00:00.000Z');
    // A later report of the same health keeps the start; soak time is counted from there.
    plannerNow = new Date('2026-11-30T12:00:30.000Z');
    await report(new Date('2026-11-30T11:00:00.000Z'));
    expect(view.report('dev')?.healthySince?.toISOString()).toBe('2026-11-30T12:00:00.000Z');
  });

  it('a failover to a planner whose clock is 60 s behind (or ahead) counts the soak again from its own first sight', async () => {
    const bucket = nats.bucket();
    const digest = `sha256:${'c'.repeat(64)}`;
    const revision = 'd'.repeat(40);
    const silent = createLogger({ service: 'planner', level: 'silent' });
    // The leader, 30 s ahead, receives the report and saves when the cluster became healthy.
    const ahead = new PlannerState(await nats.bus.kv(bucket));
    desireDev1(ahead, revision, digest);
    const leader = new HealthView(ahead, silent, () => new Date('2026-11-30T12:00:30.000Z'), 'planner-ahead');
    await leader.onHealth(currentReport(revision, digest));
    expect(leader.report('dev')?.healthySince?.toISOString()).toBe('2026-11-30T12:00:30.000Z');

    // The standby, 30 s behind, takes over and loads what the leader saved. Read on its own clock
    // the saved time is 60 s in the future: that would lengthen the soak by a minute. Read the
    // other way round (a leader behind, the standby ahead) it would shorten or skip the soak.
    const behind = new PlannerState(await nats.bus.kv(bucket));
    await behind.load();
    expect(behind.clusters.get('dev')?.health?.healthyClock).toBe('planner-ahead');
    let behindNow = new Date('2026-11-30T11:59:31.000Z');
    const standby = new HealthView(behind, silent, () => behindNow, 'planner-behind');
    expect(standby.report('dev')?.healthySince?.toISOString()).toBe('2026-11-30T11:59:31.000Z');
    // Counted from that first sight, on its own clock, as time goes on.
    behindNow = new Date('2026-11-30T11:59:45.000Z');
    expect(standby.report('dev')?.healthySince?.toISOString()).toBe('2026-11-30T11:59:31.000Z');

    // Any other instance counts from its own first sight too, whatever its clock says.
    const aheadAgain = new HealthView(
      behind,
      silent,
      () => new Date('2026-11-30T12:01:40.000Z'),
      'planner-ahead-2',
    );
    expect(aheadAgain.report('dev')?.healthySince?.toISOString()).toBe('2026-11-30T12:01:40.000Z');
  });
});
