import { createHmac } from 'node:crypto';
import { GitWorkdir, rawNats } from '@flotilla/test-support';
import type { GitWatcherHandle } from '../../services/git-watcher/src/service.ts';

/** The generic-webhook secret the benches' watchers are configured with (`webhooks.genericSecret`). */
export const SECRET = 'bench-webhook-secret';

/** Polls `fn` every `intervalMs` until it gives a value; short by default, as it times latencies. */
export async function waitFor<T>(
  what: string,
  fn: () => T | undefined | Promise<T | undefined>,
  timeoutMs: number,
  intervalMs = 2,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * What the git-watcher webhook benches (latency.ts, webhook-after.ts) time, one way: push a
 * commit to `repository`'s main, POST the signed generic hook for it as a forge does, and wait for
 * its GitCommitDetected on NATS. Resolves once the watcher has reported the repo's first head.
 */
export async function webhookPushes(
  w: GitWatcherHandle,
  repository: string,
  url: string,
): Promise<{
  /** Pushes the next commit; ms from the hook's POST to its event. `after` names the commit in the payload. */
  push(opts: { after: boolean }): Promise<number>;
  close(): Promise<void>;
}> {
  const arrived = new Map<string, number>();
  const sub = rawNats(w.bus).nc.subscribe('flotilla.v1.git.commit-detected.>', {
    callback: (_err, msg) => {
      arrived.set(msg.json<{ data: { sha: string } }>().data.sha, performance.now());
    },
  });
  await waitFor('initial event', () => (arrived.size > 0 ? true : undefined), 60_000);
  const work = await GitWorkdir.clone(url);
  let pushes = 0;
  return {
    async push({ after }) {
      pushes++;
      await work.writeFile('apps/web.yaml', `v: ${pushes}\n`);
      const sha = await work.commit(`bump ${pushes}`);
      await work.push();
      const body = JSON.stringify({ repository, ref: 'refs/heads/main', ...(after ? { after: sha } : {}) });
      const t0 = performance.now();
      const res = await fetch(`${w.url}/hooks/generic`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-flotilla-signature': createHmac('sha256', SECRET).update(body).digest('hex'),
        },
        body,
      });
      if (res.status !== 202) throw new Error(`webhook answered ${res.status}`);
      return (await waitFor('event', () => arrived.get(sha), 60_000)) - t0;
    },
    async close() {
      sub.unsubscribe();
      await work.remove();
    },
  };
}
