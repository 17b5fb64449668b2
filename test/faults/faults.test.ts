import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { check, formatTable, type Verdict } from './checker.ts';
import { applierFault } from './scenarios/apiserver-kill.ts';
import { auditDiskFull } from './scenarios/audit-disk-full.ts';
import { gitPushRejection } from './scenarios/git-push-rejection.ts';
import { natsLeaderKill } from './scenarios/nats-leader-kill.ts';
import { natsPartition } from './scenarios/nats-partition.ts';
import { plannerPartition, plannerPause } from './scenarios/planner-pause.ts';
import { plannerSkew } from './scenarios/planner-skew.ts';
import { PARTITIONED_SERVICES, servicePartitions } from './scenarios/service-partition.ts';

// Faults survived, counted: each nemesis runs against real servers while a workload records a
// history, and the checker (checker.ts, fixture-tested) decides. The default run is short enough
// for CI; FLOTILLA_FAULT_MINUTES=N runs every nemesis for N minutes. The table is printed and
// written to test/faults/results/latest.md (not tracked; docs/reliability.md quotes a run).
const minutes = Number(process.env.FLOTILLA_FAULT_MINUTES ?? 0);
const durationMs = (defaultMs: number) => (minutes > 0 ? minutes * 60_000 : defaultMs);
const verdicts: Verdict[] = [];

afterAll(() => {
  const table = formatTable(verdicts);
  console.log(
    `\nfault-injection results (${minutes > 0 ? `${minutes} min` : 'default'} per nemesis)\n${table}\n`,
  );
  mkdirSync(join(import.meta.dirname, 'results'), { recursive: true });
  writeFileSync(
    join(import.meta.dirname, 'results', 'latest.md'),
    `<!-- npx vitest run test/faults/faults.test.ts (FLOTILLA_FAULT_MINUTES=${minutes || 'default'}) -->\n${table}\n`,
  );
});

function expectSurvived(v: Verdict): void {
  verdicts.push(v);
  expect(v.faults).toBeGreaterThan(0);
  expect(v.acknowledged).toBeGreaterThan(0);
  expect({ lost: v.lost, deadLettered: v.deadLettered, diverged: v.diverged }).toEqual({
    lost: [],
    deadLettered: 0,
    diverged: [],
  });
  expect(v.duplicates).toBe(0);
  expect(v.staleLeaderActions).toBe(0);
  expect(v.violations).toEqual([]);
  if (v.skippedStages)
    expect({ skipped: v.skippedStages, unapproved: v.unapproved }).toEqual({ skipped: [], unapproved: [] });
  if (v.audit) expect(v.audit).toEqual({ missing: [], duplicated: [], chainBreaks: [] });
}

const timeout = (ms: number) => ms + 240_000;

describe('faults survived, counted', () => {
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

  it('git-watcher, registry-watcher, audit writer: each cut off from NATS in turn, then healed', {
    timeout: timeout(durationMs(20_000)),
  }, async () => {
    const histories = await servicePartitions(durationMs(20_000));
    for (const service of PARTITIONED_SERVICES) expectSurvived(check(histories[service]));
  });

  it('Git: the config repo refuses pushes for a while, then accepts them', {
    timeout: timeout(durationMs(30_000)),
  }, async () => {
    expectSurvived(check(await gitPushRejection(durationMs(30_000))));
  });

  it('audit writer: its disk fills up (tmpfs to ENOSPC), then space is freed', {
    timeout: timeout(durationMs(30_000)),
  }, async () => {
    const v = check(await auditDiskFull(durationMs(30_000)));
    expectSurvived(v);
    expect(v.audit).toBeDefined(); // the audit log was read back and checked
  });

  it('apiserver: the control plane is killed (SIGKILL) mid-apply, retries too, and restarted on its data dir', {
    timeout: timeout(durationMs(30_000)),
  }, async () => {
    expectSurvived(check(await applierFault('apiserver-kill', durationMs(30_000))));
  });

  it('apiserver: the applier–apiserver link is cut mid-apply beyond the request timeout, then healed', {
    timeout: timeout(durationMs(20_000)),
  }, async () => {
    expectSurvived(check(await applierFault('apiserver-partition', durationMs(20_000))));
  });

  it('cluster-applier: its NATS link is cut mid-apply, then healed', {
    timeout: timeout(durationMs(20_000)),
  }, async () => {
    expectSurvived(check(await applierFault('nats-partition', durationMs(20_000))));
  });
});
