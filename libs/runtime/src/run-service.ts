import { messageOf } from '@flotilla/errors';
import { startTracing, tracingExporterFromEnv } from '@flotilla/telemetry';
import { ConfigError } from './config.ts';
import { createLogger, type Logger } from './logger.ts';

export interface ServiceHandle {
  /** Stop intake, finish work in flight, drain connections. */
  stop(): Promise<void>;
}

export interface RunServiceOptions {
  name: string;
  /** Longest a graceful shutdown may take before the process exits anyway. */
  shutdownTimeoutMs?: number;
  start(logger: Logger): Promise<ServiceHandle>;
}

/**
 * Process wiring shared by every service: start, then on SIGTERM/SIGINT stop gracefully.
 * A bad config exits 78 (EX_CONFIG) with the problems listed, before anything connects.
 */
export async function runService(opts: RunServiceOptions): Promise<void> {
  const logger = createLogger({ service: opts.name });
  // OpenTelemetry only when the standard OTEL_* variables ask for it (off by default).
  const tracing = await startTracing({ service: opts.name });
  if (tracing) logger.info({ exporter: tracingExporterFromEnv(process.env) }, 'tracing on');
  let handle: ServiceHandle;
  try {
    handle = await opts.start(logger);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${opts.name}: ${err.message}\n`);
      process.exit(78);
    }
    logger.fatal({ err }, `${opts.name} failed to start: ${messageOf(err)}`);
    process.exit(1);
  }
  logger.info(`${opts.name} started`);
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    const timer = setTimeout(() => {
      logger.error('graceful shutdown timed out');
      process.exit(1);
    }, opts.shutdownTimeoutMs ?? 25_000);
    try {
      await handle.stop();
      // Spans of the last work are exported before the process goes.
      await tracing?.shutdown().catch((err) => logger.warn({ err: messageOf(err) }, 'trace export failed'));
      logger.info('stopped');
      clearTimeout(timer);
      logger.flush?.();
      process.exit(0);
    } catch (err) {
      logger.error({ err }, 'error during shutdown');
      process.exit(1);
    }
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}
