import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { createLogger } from '@flotilla/runtime';
import { freePort, GitWorkdir } from '@flotilla/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Env, startEnv, uniq } from './harness.ts';

let env: Env;
let refusing: Server;
const logs: string[] = [];
const TOKEN = 'tok-SECRET-9f8e7d6c5b4a';

beforeAll(async () => {
  env = await startEnv();
  // A smart-HTTP endpoint that refuses every credential, as a forge does for a revoked token.
  refusing = createServer((_req, res) => {
    res.writeHead(401, { 'www-authenticate': 'Basic realm="git"' });
    res.end('denied');
  });
  await new Promise<void>((r) => refusing.listen(0, '127.0.0.1', r));
});

afterAll(async () => {
  await env?.stop();
  await new Promise((r) => refusing?.close(r));
});

type Failed = { repo: string; code: string; message: string; consecutiveFailures: number; url: string };

describe('git-watcher source failures', () => {
  it('reports unreachable remotes and bad credentials with clear codes while other repos go on', async () => {
    const good = uniq('good');
    const { url } = await env.git.createRepo(good, { files: { 'a.txt': '0' } });
    const unreachable = uniq('down');
    const badCreds = uniq('denied');
    const port = (refusing.address() as AddressInfo).port;
    const logger = createLogger({
      service: 'git-watcher',
      level: 'debug',
      destination: new Writable({
        write(chunk, _enc, cb) {
          logs.push(String(chunk));
          cb();
        },
      }),
    });
    const w = await env.start(
      {
        repositories: [
          { name: unreachable, url: `git://127.0.0.1:${await freePort()}/nothing.git` },
          { name: badCreds, url: `http://127.0.0.1:${port}/org/private.git`, credentials: { token: TOKEN } },
          { name: good, url },
        ],
        poll: { intervalMs: 200, maxBackoffMs: 800, failureThreshold: 2 },
      },
      logger,
    );
    const failed = await env.log.until('both failures', () => {
      const down = env.log.of<Failed>('git.source-failed', unreachable)[0];
      const denied = env.log.of<Failed>('git.source-failed', badCreds)[0];
      return down && denied ? { down, denied } : undefined;
    });
    expect(failed.down.data).toMatchObject({ code: 'git.unreachable', consecutiveFailures: 2 });
    // Retrying cannot fix credentials: reported at the first failure.
    expect(failed.denied.data).toMatchObject({ code: 'git.auth-failed', consecutiveFailures: 1 });
    expect(failed.denied.data.url).toBe(`http://127.0.0.1:${port}/org/private.git`);

    // The healthy repo is unaffected.
    await env.log.until('initial', () => env.log.of('git.commit-detected', good).length === 1);
    const work = await GitWorkdir.clone(url);
    await work.writeFile('a.txt', '1');
    const sha = await work.commit('one');
    await work.push();
    await env.log.until('good commit', () =>
      env.log.of<{ sha: string }>('git.commit-detected', good).find((e) => e.data.sha === sha),
    );
    await work.remove();

    // Failing repos back off instead of hammering the remote, and are not re-reported every attempt.
    expect(w.watcher(unreachable)!.consecutiveFailures).toBeGreaterThanOrEqual(2);
    expect(env.log.of('git.source-failed', unreachable).length).toBeLessThan(
      w.watcher(unreachable)!.consecutiveFailures,
    );

    // The token never shows: not in events, not in logs.
    const all = JSON.stringify(env.log.events) + logs.join('');
    expect(all).toContain('git.auth-failed');
    expect(all).not.toContain(TOKEN);
    expect(all).not.toContain(Buffer.from(`x-access-token:${TOKEN}`).toString('base64'));
  });
});
