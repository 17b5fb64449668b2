import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { type AddressInfo, connect, createServer as createTcpServer } from 'node:net';
import { Writable } from 'node:stream';
import { createLogger } from '@flotilla/runtime';
import { freePort, GitWorkdir, waitUntil } from '@flotilla/test-support';
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

  it('retries the check a webhook asked for within seconds when the forge drops it, not at the next poll', async () => {
    const name = uniq('flaky');
    const { url } = await env.git.createRepo(name, { files: { 'a.txt': '0' } });
    const git = new URL(url);
    // The forge behind a flapping load balancer: the next `drop` connections are reset.
    let drop = 0;
    let dropped = 0;
    const front = createTcpServer((socket) => {
      if (drop > 0) {
        drop--;
        dropped++;
        socket.destroy();
        return;
      }
      const upstream = connect(Number(git.port), git.hostname);
      socket.pipe(upstream).pipe(socket);
      socket.on('error', () => upstream.destroy());
      upstream.on('error', () => socket.destroy());
    });
    await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
    try {
      const secret = 'generic-secret-flaky';
      const w = await env.start({
        repositories: [
          { name, url: `git://127.0.0.1:${(front.address() as AddressInfo).port}${git.pathname}` },
        ],
        // Any commit seen after the first check came from the webhook's check or its retry.
        poll: { intervalMs: 3_600_000 },
        webhooks: { genericSecret: secret },
      });
      await env.log.until('first check', () => env.log.of('git.commit-detected', name).length === 1);

      const work = await GitWorkdir.clone(url);
      await work.writeFile('a.txt', '1');
      const sha = await work.commit('pushed while the forge flaps');
      await work.push();
      await work.remove();
      drop = 1;
      const body = JSON.stringify({ repository: name });
      const res = await fetch(`${w.url}/hooks/generic`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-flotilla-signature': createHmac('sha256', secret).update(body).digest('hex'),
        },
        body,
      });
      expect(res.status).toBe(202);
      const ev = await env.log.until(
        'the commit, found by the retry',
        () =>
          env.log
            .of<{ sha: string; trigger: string }>('git.commit-detected', name)
            .find((e) => e.data.sha === sha),
        15_000,
      );
      expect(dropped).toBe(1);
      expect(ev.data.trigger).toBe('webhook');
      // The check's success is counted after its event is out: wait for it, then it has none left.
      await waitUntil('the retry counted as a success', () => w.watcher(name)!.consecutiveFailures === 0);
    } finally {
      await new Promise((r) => front.close(r));
    }
  });
});
