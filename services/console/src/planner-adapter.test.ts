import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { plannerApi } from './planner-adapter.ts';

// A decision is answered by the planner only once it is carried out (queue, commit, push,
// render): seconds. The console used its 5 s read timeout for it, so under load a recorded
// approval came back as "the planner is unreachable" and the page never said "Approved".
// Here a real HTTP server answers decisions slowly, reads quickly.

describe('planner adapter: decisions are not cut off by the read timeout', () => {
  let server: Server;
  let url: string;
  const decided: string[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      const answer = (body: unknown) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (req.url?.endsWith('/approve')) {
        decided.push(req.url);
        // Well past the read timeout below.
        setTimeout(() => answer({ promotion: { id: 'p1', status: 'committed' } }), 3000);
      } else answer({ name: 'alice', groups: [] });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('waits for a slow decision as long as decisionTimeoutMs allows', async () => {
    const api = plannerApi({ url, timeoutMs: 2000, decisionTimeoutMs: 30_000 });
    expect(await api.whoami('t')).toEqual({ name: 'alice', groups: [] });
    const res = await api.decide('t', 'p1', 'approve', 'ok', 'key-1');
    expect(res).toEqual({ status: 200, body: { promotion: { id: 'p1', status: 'committed' } } });
  }, 20_000);

  it('a decision that outlasts even that is "not answered yet", never "unreachable"', async () => {
    const api = plannerApi({ url, timeoutMs: 100, decisionTimeoutMs: 300 });
    const err = await api.decide('t', 'p1', 'approve', undefined, 'key-2').then(
      () => undefined,
      (e: unknown) => e as { code: string; message: string },
    );
    expect(err?.code).toBe('console.planner-timeout');
    expect(err?.message).toBe('the planner has not answered within 300 ms');
  });
});

// A planner failing over answers 503 until the new leader holds the lease: the console asks again,
// with the same Idempotency-Key, so the retry is answered with the decision, never made twice.
describe('planner adapter: a decision is retried with its Idempotency-Key', () => {
  let server: Server;
  let url: string;
  const seen: Array<{ url: string; key: string | undefined }> = [];
  let standbyAnswers = 2;

  beforeAll(async () => {
    server = createServer((req, res) => {
      seen.push({ url: req.url ?? '', key: req.headers['idempotency-key'] as string | undefined });
      const [status, body] =
        standbyAnswers-- > 0
          ? [503, { error: 'not-leader', message: 'this planner is on standby' }]
          : [200, { promotion: { id: 'p1', status: 'rejected' } }];
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('sends the key, and sends it again unchanged on each retry of a 503', async () => {
    const api = plannerApi({ url, timeoutMs: 2000, decisionRetries: [10, 10, 10] });
    const res = await api.decide('t', 'p1', 'reject', 'no', 'reject-p1-7f3a');
    expect(res).toEqual({ status: 200, body: { promotion: { id: 'p1', status: 'rejected' } } });
    expect(seen).toEqual([
      { url: '/api/v1/promotions/p1/reject', key: 'reject-p1-7f3a' },
      { url: '/api/v1/promotions/p1/reject', key: 'reject-p1-7f3a' },
      { url: '/api/v1/promotions/p1/reject', key: 'reject-p1-7f3a' },
    ]);
  });

  it('gives up after its retries: the page says unreachable and keeps the key for a retry', async () => {
    seen.length = 0;
    standbyAnswers = 10;
    const api = plannerApi({ url, timeoutMs: 2000, decisionRetries: [10] });
    const err = await api.decide('t', 'p1', 'approve', undefined, 'approve-p1-1').then(
      () => undefined,
      (e: unknown) => e as { code: string },
    );
    expect(err?.code).toBe('console.planner-unavailable');
    expect(seen.map((s) => s.key)).toEqual(['approve-p1-1', 'approve-p1-1']);
  });
});
