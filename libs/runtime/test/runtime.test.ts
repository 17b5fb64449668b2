import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { trickleRequest } from '@flotilla/test-support';
import { Type } from '@sinclair/typebox';
import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  createLogger,
  createServiceServer,
  hmacSha256Hex,
  loadConfig,
  registerSecret,
  verifyBasicAuth,
  verifyGithubSignature,
  verifyGitlabToken,
  verifyHexHmac,
  verifyJfrogEventAuth,
  verifyNexusSignature,
  verifyStandardWebhook,
} from '../src/index.ts';

const Schema = Type.Object({
  nats: Type.Object({
    url: Type.String({ default: 'nats://127.0.0.1:4222' }),
    password: Type.Optional(Type.String({ secret: true })),
  }),
  cluster: Type.String({ minLength: 1 }),
  http: Type.Object({ port: Type.Integer({ default: 8080, minimum: 0, maximum: 65535 }) }),
  prune: Type.Boolean({ default: true }),
  namespaces: Type.Array(Type.String(), { default: [] }),
});

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  return { lines, destination };
}

describe('config', () => {
  it('merges file, environment and defaults', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    const file = join(dir, 'c.yaml');
    writeFileSync(file, 'cluster: from-file\nhttp:\n  port: 9000\n');
    const cfg = loadConfig(Schema, {
      file,
      env: { FLOTILLA_CLUSTER: 'dev', FLOTILLA_PRUNE: 'false', FLOTILLA_NAMESPACES: 'a, b' },
    });
    expect(cfg).toEqual({
      nats: { url: 'nats://127.0.0.1:4222' },
      cluster: 'dev',
      http: { port: 9000 },
      prune: false,
      namespaces: ['a', 'b'],
    });
  });

  it('names the bad field and the variable that sets it', () => {
    const err = (() => {
      try {
        loadConfig(Schema, { env: { FLOTILLA_HTTP_PORT: '70000' } });
      } catch (e) {
        return e as ConfigError;
      }
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect(err?.message).toMatch(/cluster \(FLOTILLA_CLUSTER\): .*\(missing\)/);
    expect(err?.message).toMatch(
      /http\.port \(FLOTILLA_HTTP_PORT\): Expected integer to be less or equal to 65535/,
    );
    expect(() =>
      loadConfig(Schema, { env: { FLOTILLA_CLUSTER: 'x', FLOTILLA_HTTP_PORT: 'eighty' } }),
    ).toThrow(/FLOTILLA_HTTP_PORT: "eighty" is not a number/);
  });

  it('a service with a bad config exits non-zero with a message naming the field', async () => {
    const script = `
      import { trickleRequest } from '@flotilla/test-support';
import { Type } from '@sinclair/typebox';
      import { runService, loadConfig } from './libs/runtime/src/index.ts';
      await runService({ name: 'probe', start: async () => { loadConfig(Type.Object({ cluster: Type.String() })); return { stop: async () => {} }; } });
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: join(import.meta.dirname, '../../..'),
      env: { ...process.env, FLOTILLA_CLUSTER: '' },
    });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const code = await new Promise((r) => child.on('exit', r));
    expect(code).toBe(78);
    expect(stderr).toMatch(/cluster \(FLOTILLA_CLUSTER\)/);
  });
});

describe('logger', () => {
  it('redacts secret fields and scrubs registered secret values anywhere in a line', () => {
    const { lines, destination } = capture();
    const logger = createLogger({ service: 't', destination });
    registerSecret('s3cr3t-token-value');
    logger.info(
      { config: { nats: { password: 'hunter22' } }, token: 'abc' },
      'connecting with s3cr3t-token-value',
    );
    const text = lines.join('');
    expect(text).not.toContain('hunter22');
    expect(text).not.toContain('s3cr3t-token-value');
    expect(text).toContain('[REDACTED]');
    expect(JSON.parse(text).msg).toBe('connecting with [REDACTED]');
  });
});

describe('service server', () => {
  it('serves healthz, readyz (false until checks pass) and metrics', async () => {
    const { destination } = capture();
    const server = createServiceServer({ logger: createLogger({ service: 't', destination }) });
    let connected = false;
    server.addReadinessCheck({ name: 'bus', check: () => connected });
    const health = await server.app.inject({ url: '/healthz' });
    expect(health.statusCode).toBe(200);
    // Each answer names the service, so a probe on the wrong port is not fooled.
    expect(health.json()).toEqual({ status: 'ok', service: 't' });
    const notReady = await server.app.inject({ url: '/readyz' });
    expect(notReady.statusCode).toBe(503);
    expect(notReady.json()).toMatchObject({ ready: false, service: 't', checks: { bus: false } });
    connected = true;
    expect((await server.app.inject({ url: '/readyz' })).statusCode).toBe(200);
    server.setShuttingDown();
    expect((await server.app.inject({ url: '/readyz' })).statusCode).toBe(503);
    const metrics = await server.app.inject({ url: '/metrics' });
    expect(metrics.body).toContain('process_cpu_user_seconds_total');
    await server.close();
  });

  it('keeps raw bytes for signatures and refuses oversized bodies with 413', async () => {
    const { destination } = capture();
    const server = createServiceServer({
      logger: createLogger({ service: 't', destination }),
      bodyLimit: 1024,
    });
    server.app.post('/hook', async (req) => ({ raw: req.rawBody?.toString('utf8') }));
    const ok = await server.app.inject({
      method: 'POST',
      url: '/hook',
      headers: { 'content-type': 'application/json' },
      payload: '{"a": 1}',
    });
    expect(ok.json()).toEqual({ raw: '{"a": 1}' });
    const big = await server.app.inject({
      method: 'POST',
      url: '/hook',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ x: 'y'.repeat(2048) }),
    });
    expect(big.statusCode).toBe(413);
    const bad = await server.app.inject({
      method: 'POST',
      url: '/hook',
      headers: { 'content-type': 'application/json' },
      payload: '{',
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().message).toBe('request body is not valid JSON');
    // JSON that reaches for a prototype is refused, not kept for a later merge to pollute with.
    const polluting = await server.app.inject({
      method: 'POST',
      url: '/hook',
      headers: { 'content-type': 'application/json' },
      payload: '{"__proto__": {"isAdmin": true}}',
    });
    expect(polluting.statusCode).toBe(400);
    expect(polluting.json().message).toBe(
      'request body has a forbidden "__proto__" or "constructor.prototype" key',
    );
    await server.close();
  });

  it('cuts off a client that trickles its request (slowloris) with 408, and still serves the next', async () => {
    const { destination } = capture();
    const server = createServiceServer({
      logger: createLogger({ service: 't', destination }),
      http: { requestTimeoutMs: 800 },
    });
    server.app.post('/hook', async () => ({ ok: true }));
    const url = new URL(await server.listen(0));
    try {
      // Headers in full, then one byte of a 100-byte body, then nothing.
      const { answer, tookMs: took } = await trickleRequest(
        url.href,
        'POST /hook HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{',
      );
      expect(answer).toMatch(/^HTTP\/1\.1 408 /);
      expect(took).toBeGreaterThanOrEqual(700);
      // Within the timeout and the server's sweep of connections (a quarter of it), with slack.
      expect(took).toBeLessThan(10_000);
      const next = await fetch(`${url.origin}/hook`, {
        method: 'POST',
        body: '{}',
        headers: { 'content-type': 'application/json' },
      });
      expect(await next.json()).toEqual({ ok: true });
    } finally {
      await server.close();
    }
  });
});

describe('webhook signatures', () => {
  it("matches GitHub's published test vector", () => {
    const body = new TextEncoder().encode('Hello, World!');
    const secret = "It's a Secret to Everybody";
    expect(hmacSha256Hex(secret, body)).toBe(
      '757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17',
    );
    expect(
      verifyGithubSignature(
        secret,
        body,
        'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17',
      ),
    ).toEqual({ ok: true });
    expect(verifyGithubSignature(secret, body, 'sha256=00')).toEqual({ ok: false, reason: 'bad-signature' });
    expect(verifyGithubSignature(secret, body, undefined)).toEqual({
      ok: false,
      reason: 'missing-signature',
    });
    expect(
      verifyHexHmac(secret, body, '757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17'),
    ).toEqual({ ok: true });
    // RFC 2202 HMAC-SHA1 test case 2, the scheme of Nexus' X-Nexus-Webhook-Signature.
    const nexusBody = new TextEncoder().encode('what do ya want for nothing?');
    expect(verifyNexusSignature('Jefe', nexusBody, 'effcdf6ae5eb2fa2d27416d5f184df9c259a7c79')).toEqual({
      ok: true,
    });
    expect(verifyNexusSignature('Jefe', nexusBody, 'effcdf6ae5eb2fa2d27416d5f184df9c259a7c7a')).toEqual({
      ok: false,
      reason: 'bad-signature',
    });
    expect(verifyNexusSignature('Jefe', nexusBody, undefined)).toEqual({
      ok: false,
      reason: 'missing-signature',
    });
    // JFrog: the secret token as is, or (payload signing) the hex HMAC-SHA256 of the body, here
    // GitHub's published vector above; an HMAC of other bytes, or of the secret, is no token.
    const hmac = '757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17';
    expect(verifyJfrogEventAuth(secret, body, hmac)).toEqual({ ok: true });
    expect(verifyJfrogEventAuth(secret, body, hmac.toUpperCase())).toEqual({ ok: true });
    expect(verifyJfrogEventAuth(secret, body, secret)).toEqual({ ok: true });
    expect(verifyJfrogEventAuth(secret, new TextEncoder().encode('Hello, World?'), hmac)).toEqual({
      ok: false,
      reason: 'bad-signature',
    });
    expect(verifyJfrogEventAuth(secret, body, `${secret} `.repeat(2))).toEqual({
      ok: false,
      reason: 'bad-signature',
    });
    expect(verifyJfrogEventAuth(secret, body, `sha256=${hmac}`)).toEqual({
      ok: false,
      reason: 'bad-signature',
    });
    expect(verifyJfrogEventAuth(secret, body, undefined)).toEqual({ ok: false, reason: 'missing-signature' });
    expect(verifyJfrogEventAuth(secret, body, ' ')).toEqual({ ok: false, reason: 'missing-signature' });
    expect(verifyGitlabToken('tok', 'tok')).toEqual({ ok: true });
    expect(verifyGitlabToken('tok', 'tok2')).toEqual({ ok: false, reason: 'bad-signature' });
  });

  // RFC 7617's example credentials (Aladdin / open sesame); Azure DevOps service hooks send these.
  it('checks HTTP Basic credentials, user and password both, in constant time', () => {
    const header = 'Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==';
    expect(verifyBasicAuth('Aladdin', 'open sesame', header)).toEqual({ ok: true });
    expect(verifyBasicAuth('Aladdin', 'open sesame', 'basic  QWxhZGRpbjpvcGVuIHNlc2FtZQ== ')).toEqual({
      ok: true,
    });
    const bad = { ok: false, reason: 'bad-signature' };
    expect(verifyBasicAuth('Aladdin', 'open sesam', header)).toEqual(bad);
    expect(verifyBasicAuth('aladdin', 'open sesame', header)).toEqual(bad);
    // A password with a colon: only the first one separates the user name.
    const colon = `Basic ${Buffer.from('u:p:q').toString('base64')}`;
    expect(verifyBasicAuth('u', 'p:q', colon)).toEqual({ ok: true });
    expect(verifyBasicAuth('u:p', 'q', colon)).toEqual(bad);
    expect(verifyBasicAuth('u', 'p', `Basic ${Buffer.from('up').toString('base64')}`)).toEqual(bad);
    expect(verifyBasicAuth('u', 'p', 'Basic %%%')).toEqual(bad);
    const missing = { ok: false, reason: 'missing-signature' };
    expect(verifyBasicAuth('u', 'p', undefined)).toEqual(missing);
    expect(verifyBasicAuth('u', 'p', 'Bearer dTpw')).toEqual(missing);
  });

  // The test vector of the Standard Webhooks reference libraries (standard-webhooks/standard-webhooks),
  // the scheme GitLab's signing token follows (gitlab-org/gitlab MR 230944: HMAC-SHA256 over
  // `{webhook-id}.{timestamp}.{body}`, sent as `webhook-signature: v1,<base64>`).
  it('verifies Standard Webhooks signatures (GitLab signing token), with a replay window', () => {
    const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    const body = new TextEncoder().encode('{"test": 2432232314}');
    const headers = {
      id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
      timestamp: '1614265330',
      signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
    };
    const at = 1614265330 * 1000;
    expect(verifyStandardWebhook(secret, body, headers, at)).toEqual({ ok: true });
    // Several signatures (key rotation): one match is enough.
    expect(
      verifyStandardWebhook(secret, body, { ...headers, signature: `v1,AAAA ${headers.signature}` }, at),
    ).toEqual({ ok: true });
    const bad = { ok: false, reason: 'bad-signature' };
    expect(verifyStandardWebhook(secret, new TextEncoder().encode('{}'), headers, at)).toEqual(bad);
    expect(verifyStandardWebhook(secret, body, { ...headers, id: 'msg_other' }, at)).toEqual(bad);
    expect(verifyStandardWebhook(secret, body, headers, at + 6 * 60_000)).toEqual(bad);
    expect(verifyStandardWebhook(secret, body, { ...headers, timestamp: '1e9' }, at)).toEqual(bad);
    expect(verifyStandardWebhook(secret, body, { ...headers, signature: undefined }, at)).toEqual({
      ok: false,
      reason: 'missing-signature',
    });
  });
});
