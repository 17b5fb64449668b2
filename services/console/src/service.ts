import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Bus, natsOptions } from '@flotilla/bus';
import type { Producer } from '@flotilla/events';
import { createServiceServer, type Logger, type ServiceHandle } from '@flotilla/runtime';
import { registerConsole } from './app.ts';
import { loadAssets } from './assets.ts';
import { auditApi } from './audit-client.ts';
import { buildWeb, DEFAULT_ASSETS_DIR, WEB_SRC } from './build-web.ts';
import type { Config } from './config.ts';
import { bearerTokenProvider } from './identity.ts';
import { EventHub, startLiveFeed } from './live-feed.ts';
import { plannerApi } from './planner-adapter.ts';
import { SessionSealer } from './session.ts';

/** True when `built` is missing or any file under web/ (sources not shipped: false) is newer. */
function webSourcesNewer(built: string): boolean {
  if (!existsSync(built)) return true;
  if (!existsSync(WEB_SRC)) return false;
  const builtAt = statSync(built).mtimeMs;
  const newer = (dir: string): boolean =>
    readdirSync(dir, { withFileTypes: true }).some((e) =>
      e.isDirectory() ? newer(join(dir, e.name)) : statSync(join(dir, e.name)).mtimeMs > builtAt,
    );
  return newer(WEB_SRC);
}

export interface ConsoleService extends ServiceHandle {
  url: string;
  hub: EventHub;
}

/** Wires the console: bus subscription → hub → SSE; planner and audit clients → API; the page. */
export async function startConsole(config: Config, logger: Logger): Promise<ConsoleService> {
  const assetsDir = config.assetsDir ?? DEFAULT_ASSETS_DIR;
  if (webSourcesNewer(join(assetsDir, 'index.html'))) {
    // Images ship the built assets; a checkout builds them when missing or older than web/ (~1 s).
    logger.info({ assetsDir }, 'building the web assets');
    await buildWeb(assetsDir);
  }
  const assets = loadAssets(assetsDir);
  if (!config.session.secret)
    logger.warn('session.secret is not set: sessions end when this process stops and are not shared');

  const server = createServiceServer({
    logger,
    bodyLimit: 64 * 1024,
    http: config.http,
  });
  const bus = await Bus.connect({
    ...natsOptions(config.nats),
    // The console never publishes (it is no event producer); the name only labels its connection.
    service: 'console' as unknown as Producer,
    instance: config.instance,
    metrics: server.registry,
    logger,
  });
  const hub = new EventHub();
  const feed = startLiveFeed(bus, hub, logger);
  server.addReadinessCheck({ name: 'nats', check: () => bus.connected });

  const planner = plannerApi(config.planner);
  registerConsole(server.app, {
    planner,
    audit: auditApi(config.audit),
    identity: bearerTokenProvider(planner),
    sessions: new SessionSealer(config.session.secret, config.session.ttlMinutes * 60_000),
    hub,
    assets,
    logger,
    secureCookie: config.session.secureCookie,
    heartbeatMs: config.heartbeatMs,
    ...(config.commitUrl ? { commitUrl: config.commitUrl } : {}),
  });
  const url = await server.listen(config.http.port, config.http.host);
  logger.info({ url }, 'console listening');
  return {
    url,
    hub,
    async stop() {
      server.setShuttingDown();
      await feed.stop();
      // Open event streams never end by themselves: close the sockets, then the server.
      server.app.server.closeAllConnections?.();
      await server.close();
      await bus.close();
    },
  };
}
