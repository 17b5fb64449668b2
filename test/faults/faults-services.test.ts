import { afterAll, describe, expect, it } from 'vitest';
import {
  type Harness as ApplierHarness,
  createHarness as createApplierHarness,
} from '../../services/cluster-applier/test/harness.ts';
import { check } from './checker.ts';
import { applierFault } from './scenarios/apiserver-kill.ts';
import { auditDiskFull } from './scenarios/audit-disk-full.ts';
import { gitPushRejection } from './scenarios/git-push-rejection.ts';
import { PARTITIONED_SERVICES, servicePartitions } from './scenarios/service-partition.ts';
import { durationMs, faultResults, timeout } from './suite.ts';

// The rows of the other services, Git, the audit writer's disk and the apiserver (see
// faults.test.ts for NATS and the planner; vitest runs the two files side by side).
const { expectSurvived } = faultResults('services-and-apiserver', 'test/faults/faults-services.test.ts');

// The applier rows share one NATS and control plane (a start costs 10–30 s here); each row has its
// own cluster name, namespace, applier and proxy. Started by the first of them, stopped at the end.
let applierHarness: Promise<ApplierHarness> | undefined;
const sharedApplierHarness = () => (applierHarness ??= createApplierHarness({ kwok: false }));

afterAll(async () => {
  await (await applierHarness?.catch(() => undefined))?.stop();
});

describe('faults survived, counted: services, Git, disk, apiserver', () => {
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

  it('apiserver: the applier–apiserver link is cut mid-apply beyond the request timeout, then healed', {
    timeout: timeout(durationMs(20_000)),
  }, async () => {
    expectSurvived(
      check(await applierFault('apiserver-partition', durationMs(20_000), await sharedApplierHarness())),
    );
  });

  it('cluster-applier: its NATS link is cut mid-apply, then healed', {
    timeout: timeout(durationMs(20_000)),
  }, async () => {
    expectSurvived(
      check(await applierFault('nats-partition', durationMs(20_000), await sharedApplierHarness())),
    );
  });

  // Last of the three: it restarts the shared control plane.
  it('apiserver: the control plane is killed (SIGKILL) mid-apply, retries too, and restarted on its data dir', {
    timeout: timeout(durationMs(30_000)),
  }, async () => {
    expectSurvived(
      check(await applierFault('apiserver-kill', durationMs(30_000), await sharedApplierHarness())),
    );
  });
});
