import { FlotillaError } from '@flotilla/errors';

/** Codes raised by @flotilla/policy. All are `stall`: the input (config, range, marker) must change. */
export type PolicyErrorCode =
  | 'PIPELINE_INVALID'
  | 'SEMVER_RANGE_INVALID'
  | 'TAG_FILTER_INVALID'
  | 'TAG_NOT_NUMERIC'
  | 'TAG_POLICY_INVALID'
  | 'MARKER_INVALID'
  | 'MANIFEST_INVALID'
  | 'IMAGE_REF_INVALID'
  | 'DIGEST_REQUIRED';

export class PolicyError extends FlotillaError {
  declare readonly code: PolicyErrorCode;

  constructor(code: PolicyErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(code, message, { disposition: 'stall', details });
    this.name = 'PolicyError';
  }
}
