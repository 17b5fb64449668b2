import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { Config as AuditConfig, type AuditWriter, startAuditWriter } from '@flotilla/audit-writer';
import { Bus } from '@flotilla/bus';
import { ApplySucceeded, HealthChanged } from '@flotilla/events';
import { Config as PlannerConfig, type PlannerHandle, startPlanner } from '@flotilla/planner';
import { createLogger } from '@flotilla/runtime';
import {
  freePort,
  type GitServer,
  type NatsServer,
  programArgs,
  rawNats,
  startGitServer,
  startNats,
} from '@flotilla/test-support';
import {
  generateSigningKey,
  openBundle,
  sealBundle,
  sealingPrivateKey,
  sealingPublicKey,
} from '@flotilla/trust';
import { Value } from '@sinclair/typebox/value';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderNatsAuthorization } from '../src/nats-auth.ts';

// The CLI as a user runs it (a child process: plain node on the built bundle), against the real planner and
// audit-writer started in-process on real NATS and Git, and real nats-servers for `events tail`.

const root = resolve(import.meta.dirname, '../..');
const FIXTURE = join(root, 'services/planner/test/fixtures/shop-config');
const ALICE = `alice-${randomBytes(8).toString('hex')}`;
const BOB = `bob-${randomBytes(8).toString('hex')}`;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(args: string[], env: Record<string, string> = {}): Promise<Result> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      programArgs('cli', ...args),
      {
        cwd: root,
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
        timeout: 60_000,
      },
      (err, stdout, stderr) =>
        done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

async function files(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string) => {
    for (const name of await readdir(d)) {
      const full = join(d, name);
      if ((await stat(full)).isDirectory()) await walk(full);
      else out[relative(dir, full)] = await readFile(full, 'utf8');
    }
  };
  await walk(dir);
  return out;
}

describe('flotilla against unreachable services', () => {
  it('exits 3 with a clear message when the planner API is down', async () => {
    const port = await freePort();
    const r = await cli(['status'], { FLOTILLA_PLANNER_URL: `http://127.0.0.1:${port}` });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`cannot reach the planner API at http://127.0.0.1:${port}`);
  });

  it('exits 3 when NATS is down, 2 on bad usage', async () => {
    const port = await freePort();
    const r = await cli(['events', 'tail', '--nats', `nats://127.0.0.1:${port}`]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('cannot reach NATS');
    expect((await cli(['reject', 'p-1'])).code).toBe(2); // more usage cases: src/program.test.ts
  });
});

describe('flotilla against the real planner and audit-writer', () => {
  let nats: NatsServer;
  let git: GitServer;
  let tmp: string;
  let planner: PlannerHandle;
  let audit: AuditWriter;
  let applier: Bus;
  let env: Record<string, string>;

  beforeAll(async () => {
    nats = await startNats();
    git = await startGitServer();
    tmp = await mkdtemp(join(tmpdir(), 'flotilla-cli-'));
    const repo = `shop-${randomBytes(4).toString('hex')}`;
    const { url: repoUrl } = await git.createRepo(repo, { files: await files(FIXTURE) });
    const { url: auditUrl } = await git.createRepo(`audit-${randomBytes(4).toString('hex')}`);
    const key = generateSigningKey('cli-test');
    const keyFile = join(tmp, 'signing.pem');
    await writeFile(keyFile, key.privatePem, { mode: 0o600 });
    const silent = createLogger({ service: 'cli-test', level: 'silent' });
    audit = await startAuditWriter(
      Value.Default(AuditConfig, {
        nats: { servers: [nats.url] },
        http: { port: 0, host: '127.0.0.1' },
        audit: { url: auditUrl, dir: join(tmp, 'audit'), batchMaxDelayMs: 100 },
        consumer: {},
        lease: { ttlMs: 3000 },
        configRepo: { enabled: false },
        // The planner's token file, as in the install.
        api: {
          tokens: [
            { token: ALICE, name: 'alice', roles: ['read', 'operate', 'approve'] },
            { token: BOB, name: 'bob', groups: ['developers'], roles: ['read:shop'] },
          ],
        },
      }) as AuditConfig,
      silent,
    );
    await audit.whenActive();
    planner = await startPlanner(
      Value.Default(PlannerConfig, {
        instance: 'planner-cli',
        nats: { servers: [nats.url] },
        http: { port: 0, host: '127.0.0.1' },
        git: {
          url: repoUrl,
          branch: 'main',
          repo,
          authorName: 'Flotilla',
          authorEmail: 'flotilla@flotilla.invalid',
        },
        workDir: join(tmp, 'planner'),
        pipelineFile: 'flotilla.yaml',
        signing: { keyId: 'cli-test', keyFile },
        api: {
          tokens: [
            { token: ALICE, name: 'alice', roles: ['read', 'operate', 'approve'] },
            { token: BOB, name: 'bob', groups: ['developers'], roles: ['read:shop'] },
          ],
        },
        lease: { ttlMs: 2000 },
        bundles: { bucket: 'flotilla-bundles' },
        stateBucket: 'planner-state',
        evaluateIntervalMs: 500,
        kubectl: 'kubectl',
        kustomize: 'auto',
      }) as PlannerConfig,
      silent,
    );
    // Plays dev's applier: dev applied and healthy, so `status` has something to say.
    applier = await Bus.connect({ servers: nats.url, service: 'cluster-applier', instance: 'dev' });
    const sub = rawNats(applier).nc.subscribe('flotilla.v1.plan.created.dev', { max: 1 });
    for await (const m of sub) {
      const e = JSON.parse(new TextDecoder().decode(m.data));
      const base = {
        cluster: 'dev',
        planId: e.data.planId,
        revision: e.data.revision,
        bundleDigest: e.data.bundle.digest,
      };
      await applier.publish(ApplySucceeded, {
        ...base,
        counts: { total: 1, applied: 1, unchanged: 0, pruned: 0 },
        noop: false,
        startedAt: new Date().toISOString(),
        durationMs: 5,
      });
      await applier.publish(HealthChanged, { ...base, status: 'Current', objects: [] });
    }
    env = { FLOTILLA_PLANNER_URL: planner.url, FLOTILLA_AUDIT_URL: audit.url, FLOTILLA_TOKEN: ALICE };
  });

  afterAll(async () => {
    await applier?.close();
    await planner?.stop();
    await audit?.stop();
    await git?.stop();
    await nats?.dispose();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('status: a table per stage and cluster, and JSON with --output json', async () => {
    await expect
      .poll(async () => (await cli(['status', '-o', 'json'], env)).stdout, {
        timeout: 30_000,
        interval: 1000,
      })
      .toContain('"healthy"');
    const table = await cli(['status'], env);
    expect(table.code).toBe(0);
    const lines = table.stdout.split('\n');
    expect(lines.find((l) => l.startsWith('STAGE'))).toMatch(
      /STAGE\s+CLUSTER\s+REVISION\s+IMAGES\s+SYNC\s+HEALTH\s+DRIFT\s+PENDING/,
    );
    expect(lines.find((l) => /^dev\s/.test(l))).toMatch(/synced\s+healthy\s+none/);
    for (const stage of ['test', 'uat', 'prod']) expect(lines.some((l) => l.startsWith(stage))).toBe(true);
    const json = JSON.parse((await cli(['status', '--output', 'json'], env)).stdout);
    expect(json.stages.map((s: { name: string }) => s.name)).toEqual(['dev', 'test', 'uat', 'prod']);
  });

  it('refused (4) without or with a wrong token; API errors exit 1', async () => {
    const none = await cli(['status'], { ...env, FLOTILLA_TOKEN: '' });
    expect(none.code).toBe(4);
    expect(none.stderr).toContain('--token');
    expect((await cli(['lock', 'dev'], { ...env, FLOTILLA_TOKEN: 'not-a-valid-token-at-all' })).code).toBe(4);
    const missing = await cli(['approve', 'no-such-promotion'], env);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no promotion no-such-promotion');
    const first = await cli(['promote', 'dev'], env);
    expect(first.code).toBe(1);
    expect(first.stderr).toContain('first stage');
  });

  it('refused (4) with the role it lacks; a rollback target the stage never ran exits 1 with its code', async () => {
    const reader = await cli(['lock', 'uat'], { ...env, FLOTILLA_TOKEN: BOB });
    expect(reader.code).toBe(4);
    expect(reader.stderr).toContain('user:bob has no operate role for shop/uat');
    expect(reader.stderr).toContain('role-missing');
    const target = await cli(['rollback', 'dev', '--to', '0123456789abcdef0123456789abcdef01234567'], env);
    expect(target.code).toBe(1);
    expect(target.stderr).toContain('revision-never-healthy');
  });

  it('lock and unlock a stage', async () => {
    const locked = await cli(['lock', 'uat', '--reason', 'freeze'], env);
    expect(locked).toMatchObject({ code: 0, stdout: 'uat is locked\n' });
    expect((await cli(['status'], env)).stdout).toMatch(/uat \(locked\)/);
    expect((await cli(['unlock', 'uat'], env)).stdout).toBe('uat is unlocked\n');
  });

  it('history, audit verify and audit export from the audit-writer', async () => {
    await expect
      .poll(async () => (await cli(['history', '--type', 'StageLockChanged', '-o', 'json'], env)).stdout, {
        timeout: 20_000,
        interval: 1000,
      })
      .toMatch(/"count": 2/);
    const h = await cli(['history', '--type', 'StageLockChanged'], env);
    expect(h.code).toBe(0);
    expect(h.stdout).toMatch(/StageLockChanged\s+user:alice\s+uat/);
    // The audit API needs a token that reads every pipeline; bob reads only shop.
    const anonymous = await cli(['history'], { ...env, FLOTILLA_TOKEN: '' });
    expect(anonymous.code).toBe(4);
    const scoped = await cli(['audit', 'verify'], { ...env, FLOTILLA_TOKEN: BOB });
    expect(scoped.code).toBe(4);
    expect(scoped.stderr).toContain('role-missing');
    const v = await cli(['audit', 'verify'], env);
    expect(v.code).toBe(0);
    expect(v.stdout).toMatch(/audit chain intact: \d+ records/);
    const csv = await cli(['audit', 'export', '--since', '1d', '--format', 'csv'], env);
    expect(csv.code).toBe(0);
    expect(csv.stdout.split('\n')[0]).toContain('changeId');
    const json = JSON.parse((await cli(['audit', 'export', '--format', 'json'], env)).stdout);
    expect(json.metadata.kind).toBe('flotilla.production-changes.v1');

    // Offline, as an auditor: the clone, the writer's public key, the checkpoint stream.
    const kept = join(tmp, 'kept.checkpoint');
    const cp = await cli(['audit', 'checkpoint', '--out', kept, '-o', 'json'], env);
    expect(cp.code).toBe(0);
    const { verifierKey, origin } = JSON.parse(cp.stdout) as { verifierKey: string; origin: string };
    const offline = await cli(
      [
        'audit',
        'verify',
        '--dir',
        join(tmp, 'audit'),
        '--key',
        verifierKey,
        '--checkpoint',
        kept,
        '--stream',
        '--origin',
        origin,
      ],
      { ...env, FLOTILLA_NATS_URL: nats.url },
    );
    expect(offline.stdout).toMatch(/^ok: \d+ records in \d+ files, chain intact .*checkpoints verified/);
    expect(offline.code).toBe(0);
    expect((await cli(['audit', 'verify', '--key', verifierKey], env)).code).toBe(2);
  });
});

describe('flotilla events tail against a real nats-server with authorization', () => {
  let nats: NatsServer;
  const pw = (u: string) => `${u}-pw-${randomBytes(4).toString('hex')}`;
  const passwords = new Map<string, string>();
  const password = (u: string) => {
    if (!passwords.has(u)) passwords.set(u, pw(u));
    return passwords.get(u) as string;
  };

  beforeAll(async () => {
    nats = await startNats({
      extraConfig: renderNatsAuthorization({ clusters: ['dev', 'prod'], password }),
    });
  });
  afterAll(async () => {
    await nats?.dispose();
  });

  it('prints matching live events as the read-only subscriber, filtered by type and cluster', async () => {
    const tail = cli(
      ['events', 'tail', '--type', 'ApplySucceeded', '--cluster', 'prod', '--count', '1', '-o', 'json'],
      {
        FLOTILLA_NATS_URL: nats.url,
        FLOTILLA_NATS_USER: 'subscriber',
        FLOTILLA_NATS_PASSWORD: password('subscriber'),
      },
    );
    const bus = await Bus.connect({
      servers: nats.url,
      service: 'cluster-applier',
      instance: 'tail-test',
      user: 'admin',
      pass: password('admin'),
      ensureStream: true,
    });
    const base = { planId: 'p-1', revision: 'a'.repeat(40), bundleDigest: `sha256:${'b'.repeat(64)}` };
    const data = (cluster: string) => ({
      ...base,
      cluster,
      counts: { total: 1, applied: 1, unchanged: 0, pruned: 0 },
      noop: false,
      startedAt: new Date().toISOString(),
      durationMs: 1,
    });
    let finished = false;
    // Publish until the tail (a separate process that needs a moment to subscribe) has seen one.
    const publisher = (async () => {
      for (let i = 0; i < 60 && !finished; i++) {
        await bus.publish(HealthChanged, { ...base, cluster: 'prod', status: 'Current', objects: [] });
        await bus.publish(ApplySucceeded, data('dev'));
        await bus.publish(ApplySucceeded, data('prod'));
        await new Promise((r) => setTimeout(r, 250));
      }
    })();
    const r = await tail;
    finished = true;
    await publisher;
    await bus.close();
    expect(r.code).toBe(0);
    const printed = JSON.parse(r.stdout.trim());
    expect(printed).toMatchObject({ type: ApplySucceeded.type, data: { cluster: 'prod' } });
    expect(r.stderr).toContain('listening on flotilla.v1.apply.succeeded.*');
  });

  it('exits 4 when the identity may not read events', async () => {
    const r = await cli(['events', 'tail', '--count', '1'], {
      FLOTILLA_NATS_URL: nats.url,
      FLOTILLA_NATS_USER: 'applier-dev',
      FLOTILLA_NATS_PASSWORD: password('applier-dev'),
    });
    expect(r.code).toBe(4);
    expect(r.stderr).toContain('Permissions Violation');
  });
});

describe('flotilla seal-key', () => {
  it("writes a cluster's private key (0600, never over an existing file) and prints its recipient entry", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'flotilla-seal-'));
    try {
      const out = join(dir, 'prod.key');
      const r = await cli(['seal-key', 'prod', '--out', out]);
      expect(r.code).toBe(0);
      const m = /^prod=([A-Za-z0-9+/]{43}=)\n$/.exec(r.stdout);
      expect(m).not.toBeNull();
      expect((await stat(out)).mode & 0o777).toBe(0o600);
      const sealed = sealBundle(new TextEncoder().encode('bundle'), sealingPublicKey(m?.[1] ?? ''), 'prod');
      const opened = openBundle(sealed, sealingPrivateKey(await readFile(out, 'utf8')), 'prod');
      expect(new TextDecoder().decode(opened)).toBe('bundle');
      const again = await cli(['seal-key', 'prod', '--out', out]);
      expect(again.code).toBe(2);
      expect(again.stderr).toContain('never overwritten');
      expect((await cli(['seal-key', 'Prod_EU', '--out', join(dir, 'x.key')])).code).toBe(2);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
