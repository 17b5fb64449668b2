import { describe, expect, it } from 'vitest';
import { check } from './checker.ts';
import { natsLeaderKill } from './scenarios/nats-leader-kill.ts';
import { natsPartition } from './scenarios/nats-partition.ts';
import { plannerPartition, plannerPause } from './scenarios/planner-pause.ts';
import { plannerSkew } from './scenarios/planner-skew.ts';
import { durationMs, faultResults, timeout } from './suite.ts';

// Faults survived, counted: each nemesis runs against real servers while a workload records a
// history, and the checker (checker.ts, fixture-tested) decides. The default run is short enough
// for CI; FLOTILLA_FAULT_MINUTES=N runs every nemesis for N minutes. The rows are in two files
// that vitest runs side by side (suite.ts): NATS and the planner here, the other services, Git,
// the audit writer's disk and the apiserver in faults-services.test.ts.
const { expectSurvived } = faultResults('nats-and-planner', 'test/faults/faults.test.ts');

describe('faults survived, counted: NATS and the planner', () => {
  it('NATS: the stream leader of a 3-node cluster is killed again and again', {
    timeout: timeout(durationMs(20_000)),
  }, async () => {
    expectSurvived(check(await natsLeaderKill(durationMs(20_000))));
  });

  it('NATS: the stream leader is cut off from both route peers (minority partition), then healed', {
    timeout: timeout(durationMs(20_000)),
  }, async () => {
    expectSurvived(check(await natsPartition('minority', durationMs(20_000))));
  });

  it('NATS: the leader–follower route is cut while the third node bridges (majority partition), then healed', {
    timeout: timeout(durationMs(20_000)),
  }, async () => {
    expectSurvived(check(await natsPartition('majority', durationMs(20_000))));
  });

  it('planner: the leader is paused (SIGSTOP) beyond its lease TTL, then resumed', {
    timeout: timeout(durationMs(40_000)),
  }, async () => {
    const v = check(await plannerPause(durationMs(40_000)));
    expectSurvived(v);
    expect(v.leaderTenures).toBeGreaterThan(1); // the standby did take over
  });

  it('planner: the leader is cut off from NATS beyond its lease TTL, then healed', {
    timeout: timeout(durationMs(40_000)),
  }, async () => {
    const v = check(await plannerPartition(durationMs(40_000)));
    expectSurvived(v);
    expect(v.leaderTenures).toBeGreaterThan(1); // the standby did take over
  });

  // Back in the default run: the release it lost now and then was a report acknowledged by a
  // leader paused past its lease (services/planner/test/deposed-leader.test.ts).
  it('planner: one planner 30 s ahead, the other 30 s behind (libfaketime), leadership moved between them', {
    timeout: timeout(durationMs(45_000)),
  }, async () => {
    const v = check(await plannerSkew(durationMs(45_000)));
    expectSurvived(v);
    expect(v.leaderTenures).toBeGreaterThan(1); // leadership did move between the two clocks
    expect(v.skippedStages).toBeDefined(); // promotions and approvals were checked
  });
});
