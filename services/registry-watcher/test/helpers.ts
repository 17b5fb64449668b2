import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { type Bus, EVENT_STREAM, type Subscription } from '@flotilla/bus';
import { buildSubject, type FlotillaEvent } from '@flotilla/events';
import { createLogger, type Logger, loadConfig } from '@flotilla/runtime';
import { rawNats, scrapeMetric, waitUntil } from '@flotilla/test-support';
import { Config, type RegistryWatcher, startRegistryWatcher, type WatchedImageConfig } from '../src/index.ts';

export const rand = () => randomBytes(4).toString('hex');

/** test-support's waitUntil with this suite's short poll interval. */
export function until(
  what: string,
  pred: () => boolean | Promise<boolean>,
  timeoutMs = 20_000,
): Promise<void> {
  return waitUntil(what, pred, { timeoutMs, intervalMs: 50 });
}

/** Every event stored in the stream for the image(s), read back through a JetStream consumer. */
export async function collect(bus: Bus, scopes: string[], domain = 'image') {
  const events: FlotillaEvent[] = [];
  const durable = `t-${rand()}`;
  const sub: Subscription = await bus.consume({
    durable,
    filters: scopes.map((s) => buildSubject(domain, '*', s)),
    handler: async (e) => {
      events.push(e);
    },
  });
  return {
    events,
    of: (type: string) => events.filter((e) => e.type === type),
    /** Resolves once every event stored so far for these scopes has been handled here. */
    caughtUp: () =>
      until('collector caught up with the stream', async () => {
        const info = await rawNats(bus).jsm.consumers.info(EVENT_STREAM, durable);
        return info.num_pending === 0 && info.num_ack_pending === 0;
      }),
    stop: () => sub.stop(),
  };
}

/**
 * Resolves once the watcher has finished `n` more image checks than `since` (a check is counted
 * when it is done, its events published), so whatever those checks would report is in the
 * stream: the condition to wait on before asserting that nothing more was reported.
 */
export async function checksDone(
  w: { url: string },
  since: number,
  n: number,
  labels: Record<string, string> = {},
  timeoutMs = 30_000,
): Promise<number> {
  let now = since;
  await until(
    `${n} more image checks`,
    async () => {
      now = await scrapeMetric(w.url, 'registry_watcher_polls_total', labels);
      return now - since >= n;
    },
    timeoutMs,
  );
  return now;
}

/** A logger whose output the test can search (for leaked secrets). */
export function captureLogger(name: string): { logger: Logger; text: () => string } {
  let out = '';
  const destination = new Writable({
    write(chunk, _enc, cb) {
      out += chunk.toString();
      cb();
    },
  });
  return { logger: createLogger({ service: name, level: 'debug', destination }), text: () => out };
}

export interface WatcherOptions {
  natsUrl: string;
  images: WatchedImageConfig[];
  env?: Record<string, string>;
  logger?: Logger;
  instance?: string;
}

/** Starts the real service in-process with config taken through the same env variables as production. */
export async function startWatcher(opts: WatcherOptions): Promise<RegistryWatcher> {
  const config = loadConfig(Config, {
    env: {
      FLOTILLA_INSTANCE: opts.instance ?? `w-${rand()}`,
      FLOTILLA_NATS_SERVERS: opts.natsUrl,
      FLOTILLA_HTTP_PORT: '0',
      FLOTILLA_IMAGES: JSON.stringify(opts.images),
      FLOTILLA_POLL_INTERVAL_MS: '400',
      FLOTILLA_LEASE_TTL_MS: '3000',
      ...opts.env,
    },
  });
  return await startRegistryWatcher(
    config,
    opts.logger ?? createLogger({ service: 'rw-test', level: 'silent' }),
  );
}

export interface RegistryProxy {
  url: string;
  host: string;
  /** Requests seen, as `METHOD path`. */
  seen: string[];
  close(): Promise<void>;
}

const HOP = new Set(['host', 'connection', 'keep-alive', 'transfer-encoding', 'content-length']);

/**
 * A tiny HTTP proxy in front of the real registry: `intercept` may answer a request itself
 * (e.g. 429 with Retry-After); otherwise it is forwarded unchanged.
 */
export async function startProxy(
  upstream: string,
  intercept: (req: IncomingMessage, res: ServerResponse) => boolean,
): Promise<RegistryProxy> {
  const seen: string[] = [];
  const server = createServer(async (req, res) => {
    seen.push(`${req.method} ${req.url}`);
    if (intercept(req, res)) return;
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers))
      if (!HOP.has(k) && typeof v === 'string') headers[k] = v;
    try {
      const body = Buffer.concat(chunks);
      const r = await fetch(`${upstream}${req.url}`, {
        method: req.method ?? 'GET',
        headers,
        redirect: 'manual',
        ...(body.length > 0 ? { body } : {}),
      });
      const out: Record<string, string> = {};
      r.headers.forEach((v, k) => {
        if (k !== 'transfer-encoding' && k !== 'connection' && k !== 'content-encoding') out[k] = v;
      });
      const data = Buffer.from(await r.arrayBuffer());
      res.writeHead(r.status, out).end(req.method === 'HEAD' ? undefined : data);
    } catch (err) {
      res.writeHead(502).end(String(err));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    seen,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
