import { readFileSync } from 'node:fs';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import { collectDefaultMetrics, Registry } from 'prom-client';
import type { Logger } from './logger.ts';
import { parseUntrustedJson, type UntrustedJsonError } from './untrusted-json.ts';

export interface ReadinessCheck {
  name: string;
  check: () => boolean | Promise<boolean>;
}

export interface ServerOptions {
  logger: Logger;
  registry?: Registry;
  /** Largest request body accepted (webhooks); bigger ones get 413 before any handler runs. */
  bodyLimit?: number;
  /** The service's `http` config group (service-config.ts), as it is: each service passes it whole. */
  http?: {
    /** Serve HTTPS with this certificate and key (PEM files, read once at start). */
    tls?: { certFile: string; keyFile: string } | undefined;
    /**
     * The whole request, headers and body, must arrive within this long, or the client gets 408
     * and the connection is closed (default 30 s). Fastify's own default is no limit: one client
     * trickling a webhook body a byte at a time could hold connections open for ever (slowloris).
     */
    requestTimeoutMs?: number;
  };
}

const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

export interface ServiceServer {
  app: FastifyInstance;
  registry: Registry;
  addReadinessCheck(check: ReadinessCheck): void;
  /** Flip readiness off during shutdown so load balancers stop sending work first. */
  setShuttingDown(): void;
  listen(port: number, host?: string): Promise<string>;
  close(): Promise<void>;
}

/**
 * Fastify with the three endpoints every Flotilla service has. JSON bodies are also kept as
 * raw bytes (`request.rawBody`) because webhook signatures are computed over the exact bytes.
 */
export function createServiceServer(opts: ServerOptions): ServiceServer {
  const registry = opts.registry ?? new Registry();
  collectDefaultMetrics({ register: registry });
  // Fastify's HTTPS instance differs from the HTTP one only in its raw server type; the routes,
  // hooks and inject() every service uses are the same, so one FastifyInstance type serves both.
  const requestTimeout = opts.http?.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const tls = opts.http?.tls;
  // Given to the Node server as it is made (Fastify sets only the property afterwards, which the
  // server's connection sweep does not read), and swept often enough to be on time.
  const timeouts = {
    requestTimeout,
    headersTimeout: Math.min(requestTimeout, 60_000),
    connectionsCheckingInterval: Math.min(30_000, Math.max(100, Math.floor(requestTimeout / 4))),
  };
  const app = Fastify({
    requestTimeout,
    ...(tls
      ? {
          https: {
            cert: readFileSync(tls.certFile),
            key: readFileSync(tls.keyFile),
            ...timeouts,
          },
        }
      : { http: timeouts }),
    loggerInstance: opts.logger.child({ component: 'http' }) as FastifyBaseLogger,
    // Per-request lines would be mostly probe noise (/readyz every few seconds).
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: opts.bodyLimit ?? 1024 * 1024,
  }) as unknown as FastifyInstance;
  app.addContentTypeParser(
    [
      'application/json',
      'application/vnd.docker.distribution.events.v1+json',
      'application/vnd.docker.distribution.events.v2+json',
      // Structured CloudEvents (Harbor's CloudEvents payload format).
      'application/cloudevents+json',
    ],
    { parseAs: 'buffer' },
    (req, body, done) => {
      (req as unknown as { rawBody: Buffer }).rawBody = body as Buffer;
      if ((body as Buffer).length === 0) return done(null, undefined);
      try {
        done(null, parseUntrustedJson((body as Buffer).toString('utf8')));
      } catch (e) {
        const err = new Error(`request body ${(e as UntrustedJsonError).message}`) as Error & {
          statusCode: number;
        };
        err.statusCode = 400;
        done(err, undefined);
      }
    },
  );
  const checks: ReadinessCheck[] = [];
  let shuttingDown = false;

  // Which service answers: a probe (or the test stack) on a port another process took is told so.
  const { service } = opts.logger.bindings() as { service?: string };
  const named = service ? { service } : {};
  app.get('/healthz', async () => ({ status: 'ok', ...named }));
  app.get('/readyz', async (_req, reply) => {
    const results: Record<string, boolean> = {};
    for (const c of checks) {
      try {
        results[c.name] = await c.check();
      } catch {
        results[c.name] = false;
      }
    }
    const ready = !shuttingDown && Object.values(results).every(Boolean);
    return reply.code(ready ? 200 : 503).send({ ready, ...named, shuttingDown, checks: results });
  });
  app.get('/metrics', async (_req, reply) => {
    reply.header('content-type', registry.contentType);
    return await registry.metrics();
  });

  return {
    app,
    registry,
    addReadinessCheck: (c) => checks.push(c),
    setShuttingDown: () => {
      shuttingDown = true;
    },
    listen: async (port, host = '127.0.0.1') => await app.listen({ port, host }),
    close: async () => await app.close(),
  };
}

declare module 'fastify' {
  interface FastifyRequest {
    rawBody?: Buffer;
  }
}
