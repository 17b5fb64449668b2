import { type FlotillaStack, startFlotillaStack, waitFor } from '@flotilla/test-support';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { approve, pushRelease, waitForAwaitingApproval, waitForDigest } from './story.ts';

// Chaos at CI size: while one image is being promoted dev → prod, every service is killed with
// SIGKILL in turn (and NATS itself), each restarted after a short outage. Afterwards every cluster
// must run the intended digest, the audit log must hold each event exactly once and verify.
// FLOTILLA_CHAOS_ROUNDS=N runs N kill rounds (default 1; larger values for a longer soak).
let stack: FlotillaStack;
/** The audit API needs a token that reads every pipeline: alice's. */
const auditAuth = () => ({ headers: { authorization: `Bearer ${stack.tokens.approver}` } });
const rounds = Number(process.env.FLOTILLA_CHAOS_ROUNDS ?? 1);

beforeAll(async () => {
  stack = await startFlotillaStack({ clusters: ['dev', 'test', 'uat', 'prod'] });
}, 600_000);

afterAll(async () => {
  await stack?.stop();
}, 120_000);

it('converges after kill -9 of each service and of NATS during a promotion', async () => {
  const digest = await pushRelease(stack, '1.4.9');
  const victims = [...stack.services.values()];
  let killed = 0;
  for (let round = 0; round < rounds; round++) {
    for (const service of victims) {
      await service.kill();
      await new Promise((r) => setTimeout(r, 500));
      await service.start();
      killed++;
    }
    await stack.nats.kill();
    await new Promise((r) => setTimeout(r, 1000));
    await stack.nats.restart();
  }
  expect(killed).toBe(victims.length * rounds);

  for (const cluster of ['dev', 'test', 'uat']) await waitForDigest(stack, cluster, digest, 300_000);
  const promotion = await waitForAwaitingApproval(stack, 'prod', digest, 300_000);
  expect((await approve(stack, promotion.id, stack.tokens.approver)).status).toBeLessThan(300);
  await waitForDigest(stack, 'prod', digest, 300_000);

  // Audit: chain intact, and no event recorded twice despite redeliveries after every crash.
  const history = await waitFor(
    'audit log to include the prod apply',
    async () => {
      const res = await fetch(
        `${stack.auditUrl}/history?type=io.flotilla.apply.succeeded.v1&cluster=prod&limit=1000`,
        auditAuth(),
      );
      if (!res.ok) return undefined;
      const body = (await res.json()) as { records: Array<{ id: string }> };
      return body.records.length > 0 ? body : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 1000 },
  );
  expect(history.records.length).toBeGreaterThan(0);
  const all = (await (await fetch(`${stack.auditUrl}/history?limit=100000`, auditAuth())).json()) as {
    records: Array<{ id: string }>;
  };
  const ids = all.records.map((r) => r.id);
  expect(new Set(ids).size).toBe(ids.length);
  const verify = (await (await fetch(`${stack.auditUrl}/verify`, auditAuth())).json()) as { ok: boolean };
  expect(verify.ok).toBe(true);
}, 1_200_000);
