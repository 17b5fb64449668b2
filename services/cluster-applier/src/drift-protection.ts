import { randomBytes } from 'node:crypto';
import { type SensitiveFieldRule, sensitiveFieldRule } from '@flotilla/events';
import { type Logger, registerSecret } from '@flotilla/runtime';
import type { Config } from './config.ts';

/** How drift values are kept in the cluster: the HMAC key and which fields are sensitive. */
export interface DriftProtection {
  key: Uint8Array;
  /** Is `path` of `object` (`Secret ns/name`, `apps/Deployment ns/web`) sensitive? */
  sensitive: SensitiveFieldRule;
}

/**
 * The applier's drift protection from its config. The event contract's rule (Secrets,
 * credential-named fields) always applies; `sensitivePaths` only adds to it.
 */
export function driftProtection(config: Config['drift'], logger: Logger): DriftProtection {
  const sensitive = sensitiveFieldRule(config.sensitivePaths, 'drift.sensitivePaths');
  if (config.hashKey) registerSecret(config.hashKey);
  else
    logger.warn(
      'drift.hashKey is not set: secret values in drift reports are hashed under a random key, comparable only within this run',
    );
  return {
    key: config.hashKey ? Buffer.from(config.hashKey, 'utf8') : randomBytes(32),
    sensitive,
  };
}
