import pino, { type Logger } from 'pino';
import { scrubSecrets } from './secrets.ts';

const SECRET_KEYS = [
  'password',
  'pass',
  'token',
  'secret',
  'authorization',
  'privateKey',
  'apiKey',
  'credentials',
  'signingKey',
  'webhookSecret',
  'cookie',
];

// pino's wildcard matches exactly one level, so list a few depths explicitly.
export const REDACT_PATHS = SECRET_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`, `*.*.*.${k}`]).concat([
  'req.headers.authorization',
  'req.headers["x-gitlab-token"]',
  'req.headers["x-hub-signature-256"]',
  'headers.authorization',
]);

export interface LoggerOptions {
  service: string;
  level?: string;
  destination?: pino.DestinationStream;
}

export function createLogger(opts: LoggerOptions): Logger {
  return pino(
    {
      name: opts.service,
      level: opts.level ?? process.env.LOG_LEVEL ?? 'info',
      redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
      base: { service: opts.service, pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      hooks: { streamWrite: scrubSecrets },
      serializers: { err: pino.stdSerializers.err },
    },
    opts.destination,
  );
}

export type { Logger };
