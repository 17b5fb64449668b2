import { randomBytes } from 'node:crypto';
import { isSensitiveField } from '@flotilla/events';
import { type Logger, registerSecret } from '@flotilla/runtime';
import type { Config } from './config.ts';

/** How drift values are kept in the cluster: the HMAC key and which fields are sensitive. */
export interface DriftProtection {
  key: Uint8Array;
  /** Is `path` of `object` (`Secret ns/name`, `apps/Deployment ns/web`) sensitive? */
  sensitive(object: { kind: string; label: string }, path: string): boolean;
}

const under = (path: string, prefix: string) =>
  path === prefix || path.startsWith(`${prefix}.`) || path.startsWith(`${prefix}[`);

/**
 * The applier's drift protection from its config. The event contract's rule (Secrets,
 * credential-named fields) always applies; `sensitivePaths` only adds to it.
 */
export function driftProtection(config: Config['drift'], logger: Logger): DriftProtection {
  const rules = (config.sensitivePaths ?? '')
    .split(',')
    .map((r) => r.trim())
    .filter(Boolean)
    .map((r) => {
      const i = r.indexOf(':');
      if (i <= 0 || !r.slice(i + 1).startsWith('.'))
        throw new Error(`drift.sensitivePaths: "${r}" is not Kind:.path (or *:.path)`);
      return { kind: r.slice(0, i), path: r.slice(i + 1) };
    });
  if (config.hashKey) registerSecret(config.hashKey);
  else
    logger.warn(
      'drift.hashKey is not set: secret values in drift reports are hashed under a random key, comparable only within this run',
    );
  return {
    key: config.hashKey ? Buffer.from(config.hashKey, 'utf8') : randomBytes(32),
    sensitive: (object, path) =>
      isSensitiveField(object.label, path) ||
      rules.some((r) => (r.kind === '*' || r.kind === object.kind) && under(path, r.path)),
  };
}
