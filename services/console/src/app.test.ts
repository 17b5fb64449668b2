import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PromotionPage } from '@flotilla/api';
import { createLogger, createServiceServer } from '@flotilla/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ConsoleDeps, registerConsole } from './app.ts';
import type { Asset } from './assets.ts';
import type { AuditApi, AuditRecordWire } from './audit-client.ts';
import { bearerTokenProvider } from './identity.ts';
import { EventHub } from './live-feed.ts';
import type { PipelineStatus, PlannerApi } from './planner-adapter.ts';
import { SessionSealer } from './session.ts';
import { unavailable } from './upstream.ts';

// The API layer against fixed backend answers: the planner and audit-writer are reached through
// the console's two client interfaces, so these tests give them recorded answers (the fixture is
// the planner's real /stages shape). The real services are exercised by test/console-browser.test.ts.

const status = JSON.parse(
  readFileSync(join(import.meta.dirname, 'fixtures/stages.json'), 'utf8'),
) as PipelineStatus;
const TOKENS: Record<string, { name: string; groups: string[] }> = {
  'alice-token-123': { name: 'alice', groups: ['release-managers'] },
  'bob-token-4567': { name: 'bob', groups: ['developers'] },
};

function record(seq: number, event: string, data: Record<string, unknown>): AuditRecordWire {
  return {
    seq,
    id: `e${seq}`,
    type: `io.flotilla.${event}`,
    event,
    time: new Date(Date.UTC(2026, 10, 26, 10, 0, seq)).toISOString(),
    recordedAt: new Date(Date.UTC(2026, 10, 26, 10, 0, seq)).toISOString(),
    source: 'flotilla://cluster-applier/x',
    actor: 'service:cluster-applier',
    correlationid: 'c',
    data,
    hash: `sha256:${seq}`,
  };
}

const AUDIT_RECORDS = [
  record(1, 'DriftDetected', {
    cluster: 'dev',
    object: 'Secret shop/db',
    policy: 'report',
    diffs: [
      { path: '.data.password', expected: 'czNjcjN0', actual: 'aHVudGVyMg==', manager: 'kubectl-edit' },
    ],
  }),
  record(2, 'DriftDetected', {
    cluster: 'dev',
    object: 'apps/Deployment shop/web',
    policy: 'report',
    diffs: [{ path: '.spec.replicas', expected: 2, actual: 5, manager: 'kubectl-scale' }],
  }),
  record(3, 'DriftCorrected', {
    cluster: 'dev',
    object: 'apps/Deployment shop/web',
    paths: ['.spec.replicas'],
  }),
];

/** As the planner sends it: values of ordinary fields, hashes only for secret ones. */
const RENDERED_DIFF = {
  kind: 'promotion' as const,
  id: 'p-1',
  pipeline: 'shop',
  stage: 'prod',
  clusters: [
    {
      cluster: 'prod',
      fromRevision: 'a'.repeat(40),
      toRevision: 'b'.repeat(40),
      basis: 'preview' as const,
      diff: {
        added: 0,
        removed: 0,
        changed: 1,
        unchanged: 2,
        moreObjects: 0,
        objects: [
          {
            object: 'apps/Deployment shop/web',
            kind: 'Deployment',
            change: 'changed' as const,
            fields: [
              {
                path: '.spec.template.spec.containers[name=web].image',
                before: 'web:1.4.0',
                after: 'web:1.4.7',
              },
            ],
          },
        ],
      },
    },
  ],
};

interface Calls {
  decide: Array<{ token: string; id: string; verb: string; text: string | undefined; key: string }>;
  diff: Array<{ token: string; of: string; id: string }>;
}

function backends(state: { plannerDown: boolean; revoked: Set<string>; calls: Calls }) {
  const planner: PlannerApi = {
    async pipelines(token) {
      if (state.plannerDown) throw unavailable('planner', new Error('connect ECONNREFUSED 127.0.0.1:9'));
      if (!TOKENS[token] || state.revoked.has(token))
        return { status: 401, body: { error: 'unauthenticated', message: 'no' }, headers: new Headers() };
      return { status: 200, body: { pipelines: [status] }, headers: new Headers() };
    },
    async promotion(token, id) {
      if (!TOKENS[token])
        return { status: 401, body: { error: 'unauthenticated', message: 'no' }, headers: new Headers() };
      const p = status.stages.flatMap((s) => s.promotions).find((x) => x.id === id);
      return p
        ? { status: 200, body: { promotion: { ...p, refusals: [] } }, headers: new Headers() }
        : {
            status: 404,
            body: { error: 'not-found', message: `no promotion ${id}` },
            headers: new Headers(),
          };
    },
    async diff(token, of, id) {
      state.calls.diff.push({ token, of, id });
      if (!TOKENS[token])
        return { status: 401, body: { error: 'unauthenticated', message: 'no' }, headers: new Headers() };
      if (id !== 'p-1')
        return {
          status: 404,
          body: { error: 'not-found', message: `no promotion ${id}` },
          headers: new Headers(),
        };
      return { status: 200, body: RENDERED_DIFF, headers: new Headers() };
    },
    async decide(token, id, verb, text, key) {
      state.calls.decide.push({ token, id, verb, text, key });
      const who = TOKENS[token];
      if (!who) return { status: 401, body: { error: 'unauthenticated', message: 'no' } };
      if (who.name !== 'alice')
        return {
          status: 403,
          body: { error: 'forbidden', message: `user:${who.name} may not ${verb} promotions into prod` },
        };
      return { status: 200, body: { promotion: { id, status: 'committed' } } };
    },
    async whoami(token) {
      if (state.plannerDown) throw unavailable('planner', new Error('connect ECONNREFUSED'));
      return TOKENS[token] ?? null;
    },
  };
  const audit: AuditApi = {
    async history(_bearer, filter) {
      const records = AUDIT_RECORDS.filter((r) => !filter.type || r.event === filter.type).filter(
        (r) => !filter.cluster || (r.data as { cluster?: string }).cluster === filter.cluster,
      );
      return { status: 200, body: { records }, headers: new Headers() };
    },
    async verify(_bearer) {
      const head = { seq: 3, hash: `sha256:${'c'.repeat(64)}` };
      return { status: 200, body: { ok: true, files: 1, records: 3, head }, headers: new Headers() };
    },
    exportUrl: () => 'http://127.0.0.1:9/export',
  };
  return { planner, audit };
}

describe('console API', () => {
  const state = { plannerDown: false, revoked: new Set<string>(), calls: { decide: [], diff: [] } as Calls };
  const logger = createLogger({ service: 'console-test', level: 'silent' });
  const server = createServiceServer({ logger });
  const { planner, audit } = backends(state);
  const index: Asset = {
    type: 'text/html; charset=utf-8',
    etag: '"x"',
    raw: Buffer.from('<!doctype html><title>Flotilla</title>'),
    gzip: Buffer.from('gz'),
    br: Buffer.from('br'),
  };
  const deps: ConsoleDeps = {
    planner,
    audit,
    identity: bearerTokenProvider(planner),
    sessions: new SessionSealer('a-test-secret-that-is-long-enough-for-aes', 60_000),
    hub: new EventHub(),
    assets: new Map([['/index.html', index]]),
    logger,
  };
  registerConsole(server.app, deps);
  const app = server.app;
  beforeAll(async () => {
    await app.ready();
  });
  afterAll(async () => {
    await app.close();
  });

  const login = async (token: string) => {
    const res = await app.inject({
      method: 'POST',
      url: '/auth/login',
      headers: { 'content-type': 'application/json', host: 'console.test', origin: 'http://console.test' },
      payload: { token },
    });
    const cookie = String(res.headers['set-cookie'] ?? '').split(';')[0] as string;
    return { res, cookie, csrf: (res.json() as { csrfToken?: string }).csrfToken ?? '' };
  };
  const post = (url: string, s: { cookie: string; csrf?: string }, extra: Record<string, string> = {}) =>
    app.inject({
      method: 'POST',
      url,
      headers: {
        cookie: s.cookie,
        host: 'console.test',
        'content-type': 'application/json',
        ...(s.csrf ? { 'x-csrf-token': s.csrf } : {}),
        ...extra,
      },
      payload: { comment: 'looks good' },
    });

  it('refuses the API without a session, and serves the page with a strict CSP', async () => {
    const res = await app.inject({ url: '/api/pipelines' });
    expect(res.statusCode).toBe(401);
    expect((await app.inject({ url: '/auth/session' })).json()).toEqual({ identity: null });
    expect(res.json()).toMatchObject({ error: 'unauthenticated' });
    const page = await app.inject({ url: '/', headers: { 'accept-encoding': 'gzip, br' } });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-encoding']).toBe('br');
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    expect(page.headers['x-content-type-options']).toBe('nosniff');
  });

  it('signs in with a CLI token into an HttpOnly, SameSite=Strict cookie that does not hold the token in clear', async () => {
    const { res, csrf } = await login('alice-token-123');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ identity: { name: 'alice', groups: ['release-managers'] } });
    const cookie = String(res.headers['set-cookie']);
    expect(cookie).toMatch(/^flotilla_session=[\w-]+; Path=\/; HttpOnly; SameSite=Strict; Max-Age=60$/);
    expect(cookie).not.toContain('alice-token-123');
    expect(Buffer.from(cookie.split('=')[1] as string, 'base64url').toString('latin1')).not.toContain(
      'alice',
    );
    expect(csrf.length).toBeGreaterThan(20);
    const session = await app.inject({
      url: '/auth/session',
      headers: { cookie: cookie.split(';')[0] as string },
    });
    expect(session.json()).toMatchObject({ identity: { name: 'alice' }, csrfToken: csrf });
  });

  it('refuses unknown and malformed tokens, and a login from another origin', async () => {
    expect((await login('nobody-token-99')).res.statusCode).toBe(401);
    expect((await login('x')).res.statusCode).toBe(401);
    expect((await login('a b c d e f g h')).res.statusCode).toBe(401);
    const cross = await app.inject({
      method: 'POST',
      url: '/auth/login',
      headers: { 'content-type': 'application/json', host: 'console.test', origin: 'https://evil.example' },
      payload: { token: 'alice-token-123' },
    });
    expect(cross.statusCode).toBe(403);
    expect(cross.json()).toMatchObject({ error: 'csrf' });
    const form = await app.inject({
      method: 'POST',
      url: '/auth/login',
      headers: { 'content-type': 'application/x-www-form-urlencoded', host: 'console.test' },
      payload: 'token=alice-token-123',
    });
    // Fastify has no form parser: a cross-site form post is refused before any handler runs.
    expect(form.statusCode).toBe(415);
  });

  it('refuses a forged or tampered session cookie', async () => {
    const { cookie } = await login('alice-token-123');
    const value = cookie.split('=')[1] as string;
    const flipped = `${value.slice(0, 20)}${value[20] === 'A' ? 'B' : 'A'}${value.slice(21)}`;
    for (const c of [
      `flotilla_session=${flipped}`,
      'flotilla_session=garbage',
      `flotilla_session=${'A'.repeat(9000)}`,
    ]) {
      const res = await app.inject({ url: '/api/pipelines', headers: { cookie: c } });
      expect(res.statusCode).toBe(401);
    }
    const other = new SessionSealer('another-secret-another-secret-another', 60_000);
    const foreign = other.seal(other.create({ provider: 'token', name: 'mallory', groups: [], bearer: 'x' }));
    expect(
      (await app.inject({ url: '/api/pipelines', headers: { cookie: `flotilla_session=${foreign}` } }))
        .statusCode,
    ).toBe(401);
  });

  it('shows pipelines with sync, health, drift (from the audit log) and whether you may approve', async () => {
    const alice = await login('alice-token-123');
    const res = await app.inject({ url: '/api/pipelines', headers: { cookie: alice.cookie } });
    expect(res.statusCode).toBe(200);
    type Stage = {
      name: string;
      clusters: Array<{ sync: string; health: string; drift: number | null }>;
      promotions: Array<{ youMayApprove: boolean }>;
      soakUntil: string | null;
    };
    const body = res.json() as { pipelines: Array<{ name: string; stages: Stage[] }> };
    const [dev, test, prod] = body.pipelines[0]?.stages ?? [];
    expect(dev?.clusters[0]).toMatchObject({ sync: 'synced', health: 'healthy', drift: 1 });
    expect(test?.soakUntil).toBe('2026-11-26T10:00:39.000Z');
    expect(prod?.clusters[0]).toMatchObject({
      sync: 'failed (apply.forbidden)',
      health: 'unknown',
      drift: 0,
    });
    expect(prod?.promotions[0]?.youMayApprove).toBe(true);
    const bob = await login('bob-token-4567');
    const asBob = (
      await app.inject({ url: '/api/pipelines', headers: { cookie: bob.cookie } })
    ).json() as typeof body;
    expect(asBob.pipelines[0]?.stages[2]?.promotions[0]?.youMayApprove).toBe(false);
  });

  it('answers the promotion page and the lead times whole, as their schemas describe them', async () => {
    const alice = await login('alice-token-123');
    const promotion = status.stages.flatMap((s) => s.promotions)[0];
    if (!promotion) throw new Error('the fixture has no promotion');
    const res = await app.inject({
      url: `/api/promotions/${promotion.id}`,
      headers: { cookie: alice.cookie },
    });
    expect(res.statusCode).toBe(200);
    const page = res.json() as PromotionPage;
    // The planner's promotion passes through whole; the stages around it are the overview's.
    expect(page.promotion).toEqual({ ...promotion, refusals: [] });
    expect(page.toStage?.name).toBe(promotion.toStage);
    // It comes from uat, a stage this status does not list (renamed since): no stage, not an error.
    expect(promotion.fromStage).toBe('uat');
    expect(page.fromStage).toBeNull();
    expect(page.current).toEqual(page.toStage?.images);
    expect(page.approvers).toEqual(page.toStage?.approvers);
    expect(page.youMayApprove).toBe(promotion.status === 'awaiting');
    expect(page.commitUrl).toBeNull();
    const lead = await app.inject({ url: '/api/lead-times', headers: { cookie: alice.cookie } });
    expect(lead.statusCode).toBe(200);
    // No image was pushed in these records: stages in pipeline order, nothing released yet.
    expect(lead.json()).toEqual({ stages: status.stages.map((s) => s.name), releases: [], markers: [] });
  });

  it('forwards approvals with the signed-in person’s own token, and passes refusals through', async () => {
    state.calls.decide.length = 0;
    const bob = await login('bob-token-4567');
    const refused = await post('/api/promotions/prod-0123456789abcdef/approve', bob);
    expect(refused.statusCode).toBe(403);
    expect(refused.json()).toEqual({
      error: 'forbidden',
      message: 'user:bob may not approve promotions into prod',
    });
    const alice = await login('alice-token-123');
    const ok = await post('/api/promotions/prod-0123456789abcdef/approve', alice);
    expect(ok.statusCode).toBe(200);
    expect(state.calls.decide).toMatchObject([
      { token: 'bob-token-4567', id: 'prod-0123456789abcdef', verb: 'approve', text: 'looks good' },
      { token: 'alice-token-123', id: 'prod-0123456789abcdef', verb: 'approve', text: 'looks good' },
    ]);
  });

  it("forwards the page's Idempotency-Key unchanged, keys a decision sent without one, refuses a bad one", async () => {
    state.calls.decide.length = 0;
    const alice = await login('alice-token-123');
    const url = '/api/promotions/prod-0123456789abcdef/approve';
    // The page retries one decision with its key: the planner sees the same key both times.
    for (let i = 0; i < 2; i++)
      expect((await post(url, alice, { 'idempotency-key': 'approve-prod-4b1d' })).statusCode).toBe(200);
    // Without a key (a script), each decision still reaches the planner with a key of its own.
    await post(url, alice);
    await post(url, alice);
    const keys = state.calls.decide.map((c) => c.key);
    expect(keys.slice(0, 2)).toEqual(['approve-prod-4b1d', 'approve-prod-4b1d']);
    expect(keys[2]).toMatch(/^[0-9a-f-]{36}$/);
    expect(keys[3]).toMatch(/^[0-9a-f-]{36}$/);
    expect(keys[2]).not.toBe(keys[3]);
    const bad = await post(url, alice, { 'idempotency-key': 'has spaces in it' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ error: 'bad-idempotency-key' });
    expect(state.calls.decide).toHaveLength(4);
  });

  it("passes the planner's rendered diff through with the person's own token, and its refusals", async () => {
    const { cookie } = await login('bob-token-4567');
    const res = await app.inject({ url: '/api/promotions/p-1/diff', headers: { cookie } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual(RENDERED_DIFF);
    expect(state.calls.diff.at(-1)).toEqual({ token: 'bob-token-4567', of: 'promotions', id: 'p-1' });
    const missing = await app.inject({ url: '/api/changes/c-9/diff', headers: { cookie } });
    expect(missing.statusCode).toBe(404);
    expect(state.calls.diff.at(-1)).toMatchObject({ of: 'changes', id: 'c-9' });
    expect((await app.inject({ url: '/api/promotions/p-1/diff' })).statusCode).toBe(401);
  });

  it('refuses mutating calls without the CSRF token, with a wrong one, from another origin, or as a form', async () => {
    state.calls.decide.length = 0;
    const alice = await login('alice-token-123');
    const cases = [
      await post('/api/promotions/p/approve', { cookie: alice.cookie }),
      await post('/api/promotions/p/approve', {
        cookie: alice.cookie,
        csrf: 'wrong-token-wrong-token-wrong',
      }),
      await post('/api/promotions/p/approve', alice, { origin: 'https://evil.example' }),
      await post('/api/promotions/p/reject', alice, { origin: 'null' }),
      await post('/api/promotions/p/approve', alice, { 'content-type': 'text/plain' }),
    ];
    for (const res of cases) {
      expect(res.statusCode).toBe(403);
      expect(res.json()).toMatchObject({ error: 'csrf' });
    }
    expect(state.calls.decide).toEqual([]);
  });

  it('says the planner is unreachable (503 with the reason) and recovers when it is back', async () => {
    const alice = await login('alice-token-123');
    state.plannerDown = true;
    try {
      const down = await app.inject({ url: '/api/pipelines', headers: { cookie: alice.cookie } });
      expect(down.statusCode).toBe(503);
      expect(down.json()).toMatchObject({ error: 'console.planner-unavailable', upstream: 'planner' });
      expect(down.json().message).toContain('the planner is unreachable: connect ECONNREFUSED');
      const signIn = await login('alice-token-123');
      expect(signIn.res.statusCode).toBe(503);
    } finally {
      state.plannerDown = false;
    }
    const up = await app.inject({ url: '/api/pipelines', headers: { cookie: alice.cookie } });
    expect(up.statusCode).toBe(200);
  });

  it('ends the session when the planner no longer accepts the token', async () => {
    const bob = await login('bob-token-4567');
    state.revoked.add('bob-token-4567');
    try {
      const res = await app.inject({ url: '/api/pipelines', headers: { cookie: bob.cookie } });
      expect(res.statusCode).toBe(401);
      expect(String(res.headers['set-cookie'])).toContain('Max-Age=0');
    } finally {
      state.revoked.delete('bob-token-4567');
    }
  });

  it('shows the timeline newest first with the chain status, and never a secret drift value', async () => {
    const alice = await login('alice-token-123');
    const res = await app.inject({ url: '/api/timeline?cluster=dev', headers: { cookie: alice.cookie } });
    expect(res.statusCode).toBe(200);
    const body = res.json() as { records: Array<{ seq: number; summary: string }>; verify: { ok: boolean } };
    expect(body.records.map((r) => r.seq)).toEqual([3, 2, 1]);
    expect(body.verify.ok).toBe(true);
    expect(res.body).not.toContain('czNjcjN0');
    expect(res.body).not.toContain('aHVudGVyMg==');
    expect(res.body).toContain('«redacted sha256:');
    // Non-secret drift values stay readable.
    expect(res.body).toContain('"actual":5');
    const detail = await app.inject({ url: '/api/clusters/dev', headers: { cookie: alice.cookie } });
    const d = detail.json() as {
      stage: string;
      drift: Array<{ object: string; diffs: Array<{ actual: string }> }>;
    };
    expect(d.stage).toBe('dev');
    expect(d.drift.map((x) => x.object)).toEqual(['Secret shop/db']);
    expect(d.drift[0]?.diffs[0]?.actual).toMatch(/^«redacted sha256:[0-9a-f]{12}»$/);
    expect(
      (await app.inject({ url: '/api/clusters/nope', headers: { cookie: alice.cookie } })).statusCode,
    ).toBe(404);
  });
});
