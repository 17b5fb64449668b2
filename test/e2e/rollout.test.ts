import { execFileSync } from 'node:child_process';
import { type FlotillaStack, natsGreeting, startFlotillaStack, waitFor } from '@flotilla/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approve, plannerApi, pushRelease, waitForAwaitingApproval, waitForDigest } from './story.ts';

// The whole product, real and local: NATS, git daemon, docker-registry, four kube control planes,
// the five services as separate processes. One image goes dev → test → uat → (approval) → prod,
// the way an install runs: NATS over mutual TLS (every service presents a client certificate from
// the stack's CA and verifies the server's) and every cluster's bundles sealed to its applier.
let stack: FlotillaStack;
/** The audit API needs a token that reads every pipeline: alice's. */
const auditAuth = () => ({ headers: { authorization: `Bearer ${stack.tokens.approver}` } });

beforeAll(async () => {
  stack = await startFlotillaStack({
    clusters: ['dev', 'test', 'uat', 'prod'],
    sealBundles: true,
    tls: true,
  });
}, 600_000);

afterAll(async () => {
  await stack?.stop();
}, 120_000);

const git = (dir: string, ...args: string[]) =>
  execFileSync('git', ['-C', dir, ...args], { encoding: 'utf8' });

describe('rollout dev → test → uat → prod', () => {
  let digest: string;

  it('runs over NATS that requires TLS and a client certificate', async () => {
    const info = await natsGreeting(stack.nats.url);
    expect(info.tls_required).toBe(true);
    expect(info.tls_verify).toBe(true);
    expect(stack.natsTls?.certFile).toBeTruthy();
  });

  it('a new image reaches dev, test and uat by itself and stops before prod', async () => {
    digest = await pushRelease(stack, '1.4.7');
    for (const cluster of ['dev', 'test', 'uat']) {
      const image = await waitForDigest(stack, cluster, digest);
      expect(image).toBe(`${stack.image}:1.4.7@${digest}`);
    }
    const promotion = await waitForAwaitingApproval(stack, 'prod', digest);
    expect(promotion.status).toBe('awaiting');
  }, 600_000);

  it('refuses an unauthorised approver, then prod converges after an allowed one approves', async () => {
    const promotion = await waitForAwaitingApproval(stack, 'prod', digest);
    const refused = await approve(stack, promotion.id, stack.tokens.viewer);
    expect(refused.status).toBe(403);
    const approved = await approve(stack, promotion.id, stack.tokens.approver);
    expect(approved.status).toBeLessThan(300);
    const image = await waitForDigest(stack, 'prod', digest);
    expect(image).toBe(`${stack.image}:1.4.7@${digest}`);
  }, 300_000);

  it('recorded every step in Git: commits with trailers, the approver, notes', async () => {
    const dir = `${stack.workDir}/verify-config`;
    execFileSync('git', ['clone', '-q', stack.configRepoUrl, dir]);
    git(dir, 'fetch', '-q', 'origin', 'refs/notes/*:refs/notes/*');
    const log = git(dir, 'log', '--format=%H%x00%an%x00%(trailers:only,unfold)%x1e');
    const commits = log
      .split('\x1e')
      .map((c) => c.trim())
      .filter(Boolean)
      .map((c) => {
        const [sha, author, trailers] = c.split('\x00') as [string, string, string];
        return { sha, author, trailers };
      });
    const imageUpdate = commits.find((c) => c.trailers.includes('Flotilla-Policy:'));
    expect(imageUpdate?.trailers).toContain(digest);
    expect(imageUpdate?.trailers).toMatch(/Flotilla-Event: /);
    const prodPromotion = commits.find((c) => /Flotilla-Approved-By: .*alice/.test(c.trailers));
    expect(prodPromotion?.trailers).toMatch(/Flotilla-To-Stage: prod/);
    expect(prodPromotion?.trailers).toContain(digest);
    // Automatic promotions to test and uat are commits too, without an approver.
    for (const stage of ['test', 'uat']) {
      expect(
        commits.some(
          (c) => c.trailers.includes(`Flotilla-To-Stage: ${stage}`) && c.trailers.includes(digest),
        ),
      ).toBe(true);
    }
    // The same digest is pinned in every stage's overlay: promoted by config, never rebuilt.
    for (const stage of ['dev', 'test', 'uat', 'prod']) {
      expect(git(dir, 'show', `HEAD:clusters/${stage}/web-image.yaml`)).toContain(`1.4.7@${digest}`);
    }
    const notes = await waitForNote(dir, prodPromotion!.sha);
    expect(notes).toMatch(/prod/);
  }, 120_000);

  it('the audit log has the prod change with author and approver, and its chain verifies', async () => {
    const verify = (await (await fetch(`${stack.auditUrl}/verify`, auditAuth())).json()) as {
      ok: boolean;
      records: number;
    };
    expect(verify.ok).toBe(true);
    expect(verify.records).toBeGreaterThan(10);
    const exported = (await (await fetch(`${stack.auditUrl}/export?format=json`, auditAuth())).json()) as {
      changes: Array<Record<string, unknown>>;
    };
    const prod = exported.changes.find((c) => JSON.stringify(c).includes(digest));
    expect(JSON.stringify(prod)).toMatch(/alice/);
    const history = await plannerApi<{ events: unknown[] }>(stack, '/history?stage=prod');
    expect(history.status).toBe(200);
  }, 120_000);
});

describe('secrets', () => {
  it('never appear in any service log of the whole run', async () => {
    const { readdirSync, readFileSync } = await import('node:fs');
    const logs = readdirSync(stack.logDir).map((f) => readFileSync(`${stack.logDir}/${f}`, 'utf8'));
    expect(logs.join('').length).toBeGreaterThan(1000);
    const key = readFileSync(`${stack.workDir}/planner-signing.pem`, 'utf8').split('\n')[1] ?? 'missing';
    for (const secret of [
      stack.tokens.approver,
      stack.tokens.viewer,
      stack.secrets.registryWebhookToken,
      key,
    ]) {
      for (const log of logs) expect(log.includes(secret)).toBe(false);
    }
  });
});

async function waitForNote(dir: string, sha: string): Promise<string> {
  return await waitFor(
    `a git note naming prod on ${sha}`,
    async () => {
      git(dir, 'fetch', '-q', 'origin', '+refs/notes/*:refs/notes/*');
      const note = git(dir, 'notes', '--ref=flotilla', 'show', sha);
      return note.includes('prod') ? note : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 1000 },
  );
}
