import { connect as connectH2 } from 'node:http2';
import { Agent, request } from 'node:https';
import type { TestCluster } from '@flotilla/test-support';
import { cpuSeconds } from '../cluster-cpu.ts';

/** One raw server-side apply: its path with the query, and its body serialised before any clock starts. */
export interface RawApply {
  path: string;
  body: string;
}

export interface RawSsaClient {
  /**
   * Every request once (`dryRun=All` added for a dry-run pass), `concurrency` in flight; the
   * pass's wall time and the cluster process's CPU over it. Throws on any non-2xx answer.
   */
  pass(dryRun: boolean): Promise<{ s: number; cpu: number }>;
  close(): void;
}

/**
 * The least any client can do to apply `reqs`: raw SSA PATCH requests (`application/apply-patch+yaml`,
 * the cluster's client certificate) on keep-alive TLS, over `concurrency` HTTP/1.1 connections or,
 * with `h2`, as that many streams on one HTTP/2 connection. No dry-run of its own, no bookkeeping:
 * the apiserver's ceiling for the same objects (bench/applier/mttp.ts) and what its profile
 * measures (bench/apiserver/ssa-profile.ts).
 */
export function rawSsaClient(
  cluster: TestCluster,
  reqs: readonly RawApply[],
  opts: { h2: boolean; concurrency: number },
): RawSsaClient {
  const kc = cluster.kubeConfig;
  const b64 = (v?: string) => (v ? Buffer.from(v, 'base64') : undefined);
  const tls = {
    ca: b64(kc.getCurrentCluster()?.caData),
    cert: b64(kc.getCurrentUser()?.certData),
    key: b64(kc.getCurrentUser()?.keyData),
  };
  const url = new URL(cluster.server);
  const session = opts.h2 ? connectH2(url.origin, tls) : undefined;
  const agent = opts.h2 ? undefined : new Agent({ keepAlive: true, maxSockets: opts.concurrency, ...tls });
  const settle =
    (r: RawApply, resolve: () => void, reject: (e: Error) => void) => (status: number | undefined) =>
      status && status < 300 ? resolve() : reject(new Error(`HTTP ${status} for ${r.path}`));

  const patch = (r: RawApply, dryRun: boolean) =>
    new Promise<void>((resolve, reject) => {
      const path = dryRun ? `${r.path}&dryRun=All` : r.path;
      const done = settle(r, resolve, reject);
      if (session) {
        const stream = session.request({
          ':method': 'PATCH',
          ':path': path,
          'content-type': 'application/apply-patch+yaml',
        });
        let status = 0;
        stream.on('response', (h) => {
          status = Number(h[':status']);
        });
        stream.on('error', reject);
        stream.resume();
        stream.on('end', () => done(status));
        stream.end(r.body);
        return;
      }
      const req = request(
        {
          agent,
          host: url.hostname,
          port: url.port,
          method: 'PATCH',
          path,
          headers: {
            'content-type': 'application/apply-patch+yaml',
            'content-length': Buffer.byteLength(r.body),
          },
        },
        (res) => {
          res.resume();
          res.on('end', () => done(res.statusCode));
        },
      );
      req.on('error', reject);
      req.end(r.body);
    });

  return {
    async pass(dryRun) {
      let next = 0;
      const cpu0 = cpuSeconds(cluster.pid);
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: opts.concurrency }, async () => {
          while (next < reqs.length) await patch(reqs[next++] as RawApply, dryRun);
        }),
      );
      return { s: (performance.now() - t0) / 1000, cpu: cpuSeconds(cluster.pid) - cpu0 };
    },
    close() {
      agent?.destroy();
      session?.close();
    },
  };
}
