// A decision is sent with one Idempotency-Key and resent with the same key when the planner is
// not ready (503) or cannot be reached: the planner answers a key it has seen with the decision
// it recorded (services/planner/test/outbox.test.ts shows that side against a killed planner).
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { CliError, EXIT } from './exit-codes.ts';
import { ApiClient } from './http-client.ts';

let server: Server | undefined;
afterEach(async () => {
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
});

/** A planner API stand-in answering each request with the next status of `statuses`. */
async function answering(statuses: number[]): Promise<{ url: string; seen: IncomingMessage[] }> {
  const seen: IncomingMessage[] = [];
  const s = createServer((req, res) => {
    seen.push(req);
    const status = statuses[Math.min(seen.length - 1, statuses.length - 1)] as number;
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify(
        status === 200 ? { promotion: { id: 'p-1' } } : { error: 'not-leader', message: 'standby' },
      ),
    );
  });
  server = s;
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  return { url: `http://127.0.0.1:${(s.address() as AddressInfo).port}`, seen };
}

describe('ApiClient decisions', () => {
  it('sends an Idempotency-Key and resends the same one after a 503', async () => {
    const api = await answering([503, 503, 200]);
    const client = new ApiClient({ plannerUrl: api.url, auditUrl: api.url, token: 't', retries: 3 });
    expect(await client.approve('p-1')).toEqual({ promotion: { id: 'p-1' } });
    expect(api.seen).toHaveLength(3);
    const keys = api.seen.map((r) => r.headers['idempotency-key']);
    expect(keys[0]).toMatch(/^[0-9a-f-]{36}$/);
    expect(new Set(keys).size).toBe(1);
  });

  it('each command has its own key; refusals are not retried; giving up exits 3', async () => {
    const api = await answering([200, 403, 503]);
    const client = new ApiClient({ plannerUrl: api.url, auditUrl: api.url, token: 't', retries: 2 });
    await client.stageAction('prod', 'lock', { reason: 'freeze' });
    await expect(client.stageAction('prod', 'unlock')).rejects.toMatchObject({ exitCode: EXIT.refused });
    const gaveUp = await client.reject('p-1', 'no').catch((e: unknown) => e);
    expect(gaveUp).toBeInstanceOf(CliError);
    expect((gaveUp as CliError).exitCode).toBe(EXIT.unreachable);
    // lock, unlock (refused once), reject (503 twice): four requests, three keys.
    expect(api.seen).toHaveLength(4);
    expect(new Set(api.seen.map((r) => r.headers['idempotency-key'])).size).toBe(3);
  });
});
