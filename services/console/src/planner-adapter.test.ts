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
    const res = await api.decide('t', 'p1', 'approve', 'ok');
    expect(res).toEqual({ status: 200, body: { promotion: { id: 'p1', status: 'committed' } } });
  }, 20_000);

  it('a decision that outlasts even that is "not answered yet", never "unreachable"', async () => {
    const api = plannerApi({ url, timeoutMs: 100, decisionTimeoutMs: 300 });
    const err = await api.decide('t', 'p1', 'approve', undefined).then(
      () => undefined,
      (e: unknown) => e as { code: string; message: string },
    );
    expect(err?.code).toBe('console.planner-timeout');
    expect(err?.message).toBe('the planner has not answered within 300 ms');
  });
});
