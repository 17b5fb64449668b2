// HTTPS for the service APIs: a real audit-writer serves its API with a certificate from a test CA
// (`http.tls`), and the CLI verifies it against the CA it is given (`--cacert` / FLOTILLA_CACERT).
// Without that CA, or with another one, the CLI refuses the server and says how to fix it. The
// console, given the CA (and a client certificate) in its config, reaches HTTPS backends the same way.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { auditApi, Config as ConsoleConfig, plannerApi } from '@flotilla/console';
import { loadConfig } from '@flotilla/runtime';
import {
  createTestCa,
  freePort,
  type GitServer,
  GiveUp,
  type NatsServer,
  programArgs,
  type Spawned,
  spawnTracked,
  startGitServer,
  startNats,
  stopProcess,
  type TestCa,
  waitFor,
} from '@flotilla/test-support';
import { Agent, fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify as toYaml } from 'yaml';

let dir: string;
let ca: TestCa;
let otherCa: TestCa;
let nats: NatsServer;
let git: GitServer;
let audit: Spawned;
let url: string;
const token = randomBytes(24).toString('hex');

function cli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const { FLOTILLA_CACERT: _ignored, ...base } = process.env;
  return new Promise((done) =>
    execFile(
      process.execPath,
      programArgs('cli', ...args),
      { timeout: 60_000, env: { ...base, FLOTILLA_AUDIT_URL: url, FLOTILLA_TOKEN: token, ...env } },
      (err, stdout, stderr) =>
        done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    ),
  );
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flotilla-https-'));
  [ca, otherCa] = await Promise.all([createTestCa('flotilla-api'), createTestCa('impostor')]);
  const cert = await ca.issue('audit-writer', 'server');
  [nats, git] = await Promise.all([startNats(), startGitServer()]);
  const [configRepo, auditRepo] = await Promise.all([
    git.createRepo('shop-config', { files: { 'README.md': '# config\n' } }),
    git.createRepo('audit'),
  ]);
  const port = await freePort();
  url = `https://127.0.0.1:${port}`;
  const configFile = join(dir, 'audit-writer.yaml');
  await writeFile(
    configFile,
    toYaml({
      instance: 'audit-https',
      nats: { servers: [nats.url] },
      http: { port, tls: { certFile: cert.certFile, keyFile: cert.keyFile } },
      audit: { url: auditRepo.url, dir: join(dir, 'audit'), batchMaxDelayMs: 200 },
      configRepo: { url: configRepo.url, dir: join(dir, 'audit-config'), debounceMs: 200 },
      api: { tokens: [{ token, name: 'alice', groups: ['ops'], roles: ['read', 'operate', 'approve'] }] },
      productionStages: ['prod'],
    }),
  );
  const logFile = join(dir, 'audit-writer.log');
  audit = spawnTracked(process.execPath, programArgs('audit-writer'), {
    logFile,
    env: { ...process.env, FLOTILLA_CONFIG: configFile },
  });
  // Readiness over HTTPS too, trusting the test CA only.
  const trusting = new Agent({ connect: { ca: readFileSync(ca.caFile, 'utf8') } });
  await waitFor(
    `audit-writer /readyz over HTTPS (log: ${logFile})`,
    async () => {
      if (audit.child.exitCode !== null) throw new GiveUp(`audit-writer exited with ${audit.child.exitCode}`);
      const res = await fetch(`${url}/readyz`, { dispatcher: trusting });
      return res.ok ? true : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 250 },
  );
  await trusting.close();
}, 120_000);

afterAll(async () => {
  if (audit) await stopProcess(audit, 10_000);
  await Promise.all([nats?.dispose(), git?.stop()]);
  await Promise.all(
    [dir, ca?.dir, otherCa?.dir]
      .filter(Boolean)
      .map((d) => rm(d as string, { recursive: true, force: true })),
  );
});

describe('service APIs over HTTPS, verified by the CLI', () => {
  it('the audit-writer speaks HTTPS only: a plain HTTP request to its port gets no API answer', async () => {
    const plain = await fetch(`${url.replace('https:', 'http:')}/history`).then(
      (r) => `HTTP ${r.status}`,
      (err: Error) => `failed: ${err.message}`,
    );
    expect(plain).toMatch(/^failed: /);
  });

  it('the CLI trusts the audit API with --cacert, and with FLOTILLA_CACERT', async () => {
    const flag = await cli(['--cacert', ca.caFile, 'history', '-o', 'json']);
    expect(flag.stderr).toBe('');
    expect(flag.code).toBe(0);
    expect(JSON.parse(flag.stdout)).toHaveProperty('records');
    const env = await cli(['history', '-o', 'json'], { FLOTILLA_CACERT: ca.caFile });
    expect(env.code).toBe(0);
    expect(JSON.parse(env.stdout)).toEqual(JSON.parse(flag.stdout));
  });

  it('without the CA the CLI refuses the server (exit 4) and says to pass --cacert', async () => {
    const res = await cli(['history', '-o', 'json']);
    expect(res.code).toBe(4);
    expect(res.stdout).toBe('');
    expect(res.stderr).toContain(`refusing the audit API at ${url}: its TLS certificate is not trusted`);
    expect(res.stderr).toContain('--cacert');
  });

  it('a certificate from another CA is refused too, naming the CA file it checked', async () => {
    const res = await cli(['history', '-o', 'json'], { FLOTILLA_CACERT: otherCa.caFile });
    expect(res.code).toBe(4);
    expect(res.stderr).toContain('its TLS certificate is not trusted');
    expect(res.stderr).toContain(`not issued by the CA in ${otherCa.caFile}`);
  });

  it('an unreadable --cacert is a usage error, not a silent fallback to the system roots', async () => {
    const res = await cli(['--cacert', join(dir, 'missing.pem'), 'history']);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('cannot read --cacert');
  });
});

describe("the console's HTTPS upstreams (audit.tls / planner.tls)", () => {
  it('with the CA in its config, the console reads the HTTPS audit API; without it, or with another CA, it refuses the server', async () => {
    const config = loadConfig(ConsoleConfig, {
      env: { FLOTILLA_AUDIT_URL: url, FLOTILLA_AUDIT_TLS_CA_FILE: ca.caFile },
    }) as { audit: { url: string; timeoutMs: number; tls?: { caFile: string } } };
    expect(config.audit.tls?.caFile).toBe(ca.caFile);
    const trusted = await auditApi(config.audit).history(token, {});
    expect(trusted.status).toBe(200);
    expect(trusted.body).toHaveProperty('records');
    // The export passes through the same connection settings.
    const exported = await auditApi(config.audit).fetch?.(
      auditApi(config.audit).exportUrl({ format: 'json' }),
      { headers: { authorization: `Bearer ${token}` } },
    );
    expect(exported?.status).toBe(200);
    for (const tls of [undefined, { caFile: otherCa.caFile }]) {
      const refused = await auditApi({ url, timeoutMs: 10_000, tls })
        .history(token, {})
        .then(
          () => 'answered',
          (err: { code?: string; message: string }) => `${err.code}: ${err.message}`,
        );
      expect(refused).toMatch(/^console\.audit-unavailable: .*certificate/i);
    }
  });

  it('presents its client certificate to an upstream that asks for one, and is refused without it', async () => {
    // A TLS terminator in front of the planner that demands client certificates from the CA.
    const [server, client] = await Promise.all([
      ca.issue('planner-proxy', 'server'),
      ca.issue('console', 'client'),
    ]);
    const proxy = createHttpsServer(
      {
        cert: readFileSync(server.certFile),
        key: readFileSync(server.keyFile),
        ca: readFileSync(ca.caFile),
        requestCert: true,
        rejectUnauthorized: true,
      },
      (req, res) => {
        const peer = (req.socket as TLSSocket).getPeerCertificate();
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ name: String(peer.subject?.CN), groups: [] }));
      },
    );
    await new Promise<void>((done) => proxy.listen(0, '127.0.0.1', done));
    const proxyUrl = `https://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    try {
      const withCert = plannerApi({
        url: proxyUrl,
        timeoutMs: 10_000,
        tls: { caFile: ca.caFile, certFile: client.certFile, keyFile: client.keyFile },
      });
      expect(await withCert.whoami('t')).toEqual({ name: 'console', groups: [] });
      const without = await plannerApi({ url: proxyUrl, timeoutMs: 10_000, tls: { caFile: ca.caFile } })
        .whoami('t')
        .then(
          () => 'answered',
          (err: { code?: string }) => String(err.code),
        );
      expect(without).toBe('console.planner-unavailable');
      // Half a client certificate, or an unreadable CA, stops the start instead of failing later.
      expect(() =>
        plannerApi({ url: proxyUrl, timeoutMs: 1000, tls: { caFile: ca.caFile, certFile: client.certFile } }),
      ).toThrow(/certFile and keyFile go together/);
      expect(() => auditApi({ url, timeoutMs: 1000, tls: { caFile: join(dir, 'missing.pem') } })).toThrow(
        /audit\.tls\.caFile: cannot read/,
      );
    } finally {
      await new Promise((done) => proxy.close(done));
    }
  });
});
