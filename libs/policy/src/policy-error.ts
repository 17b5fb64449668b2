import { FlotillaError } from '@flotilla/errors';

/**
 * Codes raised by @flotilla/policy, in the tree's `domain.kebab-case` scheme. All are `stall`: the
 * input (config, range, marker) must change before trying again can help.
 */
export const POLICY_ERROR_CODES = [
  'policy.pipeline-invalid',
  'policy.semver-range-invalid',
  'policy.tag-filter-invalid',
  'policy.tag-not-numeric',
  'policy.tag-policy-invalid',
  'policy.marker-invalid',
  'policy.manifest-invalid',
  'policy.image-ref-invalid',
  'policy.digest-required',
] as const;

export type PolicyErrorCode = (typeof POLICY_ERROR_CODES)[number];

export class PolicyError extends FlotillaError {
  declare readonly code: PolicyErrorCode;

  constructor(code: PolicyErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(code, message, { disposition: 'stall', details });
    this.name = 'PolicyError';
  }
}
