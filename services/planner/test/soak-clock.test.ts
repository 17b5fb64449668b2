import { randomUUID } from 'node:crypto';
import { Bus } from '@flotilla/bus';
import { createEvent, HealthChanged } from '@flotilla/events';
import { createLogger } from '@flotilla/runtime';
import { type NatsServer, startNats } from '@flotilla/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HealthView } from '../src/health-view.ts';
import { PlannerState } from '../src/state.ts';

let nats: NatsServer;
let bus: Bus;

beforeAll(async () => {
  nats = await startNats();
  bus = await Bus.connect({ servers: nats.url, service: 'planner', instance: 'test', provision: true });
});
afterAll(async () => {
  await bus?.close();
  await nats?.dispose();
});

describe('soak is measured on the planner clock', () => {
  it('an applier whose clock runs an hour ahead does not shorten the soak', async () => {
    const state = new PlannerState(await bus.kv(`planner-state-${randomUUID().slice(0, 8)}`));
    const digest = `sha256:${'a'.repeat(64)}`;
    const revision = 'b'.repeat(40);
    const c = state.cluster('dev', 'dev');
    c.desired = {
      planId: 'dev-1',
      revision,
      sequence: 1,
      bundleDigest: digest,
      contentDigest: 'x',
      objects: 1,
      createdAt: '2026-11-30T00:00:00.000Z',
    };
    let plannerNow = new Date('2026-11-30T12:00:00.000Z');
    const view = new HealthView(
      state,
      createLogger({ service: 'planner', level: 'silent' }),
      () => plannerNow,
    );
    const report = (time: Date) =>
      view.onHealth(
        createEvent(
          HealthChanged,
          { cluster: 'dev', planId: 'dev-1', revision, bundleDigest: digest, status: 'Current', objects: [] },
          { source: 'flotilla/cluster-applier/dev', actor: 'applier', time },
        ),
      );
    await report(new Date('2026-11-30T13:00:00.000Z')); // the applier's skewed clock
    expect(view.report('dev')?.healthySince?.toISOString()).toBe('2026-11-30T12:00:00.000Z');
    // A later report of the same health keeps the start; soak time is counted from there.
    plannerNow = new Date('2026-11-30T12:00:30.000Z');
    await report(new Date('2026-11-30T11:00:00.000Z'));
    expect(view.report('dev')?.healthySince?.toISOString()).toBe('2026-11-30T12:00:00.000Z');
  });
});
