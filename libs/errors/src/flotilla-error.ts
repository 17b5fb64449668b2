/**
 * What a caller should do about a failure, in Flux's vocabulary:
 * - `retry`: transient (network, 5xx, conflict on a CAS); try again soon with backoff.
 * - `wait`: a precondition is not met yet (CRD not established, approval pending); try later, not an error.
 * - `stall`: retrying cannot help (invalid input, forbidden, bad signature); give up and report.
 */
export type Disposition = 'retry' | 'wait' | 'stall';

export interface FlotillaErrorOptions {
  disposition?: Disposition;
  cause?: unknown;
  /** Structured details safe to log and to put into events (never secrets). */
  details?: Record<string, unknown>;
}

/**
 * The one naming scheme for error codes: `domain.kebab-case` (`oci.manifest-unknown`,
 * `git.unreachable`, `registry-watcher.check-failed`). A third party's own code (a registry's
 * `MANIFEST_UNKNOWN`) is never ours: carry it in `details` beside ours. `npm run codes:check`
 * holds the source to this.
 */
export const ERROR_CODE_PATTERN = /^[a-z][a-z0-9]*(-[a-z0-9]+)*(\.[a-z0-9]+(-[a-z0-9]+)*)+$/;

export function isErrorCode(code: string): boolean {
  return ERROR_CODE_PATTERN.test(code);
}

export class FlotillaError extends Error {
  readonly code: string;
  readonly disposition: Disposition;
  readonly details: Record<string, unknown>;

  constructor(code: string, message: string, options: FlotillaErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'FlotillaError';
    this.code = code;
    this.disposition = options.disposition ?? 'stall';
    this.details = options.details ?? {};
  }

  get retryable(): boolean {
    return this.disposition !== 'stall';
  }

  toJSON(): { code: string; message: string; disposition: Disposition; details: Record<string, unknown> } {
    return { code: this.code, message: this.message, disposition: this.disposition, details: this.details };
  }
}

export const retryable = (
  code: string,
  message: string,
  opts: Omit<FlotillaErrorOptions, 'disposition'> = {},
) => new FlotillaError(code, message, { ...opts, disposition: 'retry' });

export const waiting = (
  code: string,
  message: string,
  opts: Omit<FlotillaErrorOptions, 'disposition'> = {},
) => new FlotillaError(code, message, { ...opts, disposition: 'wait' });

export const stalled = (
  code: string,
  message: string,
  opts: Omit<FlotillaErrorOptions, 'disposition'> = {},
) => new FlotillaError(code, message, { ...opts, disposition: 'stall' });

export function isFlotillaError(err: unknown): err is FlotillaError {
  return err instanceof FlotillaError;
}

/** Unknown errors are assumed transient: a bug that throws would otherwise drop work silently. */
export function dispositionOf(err: unknown): Disposition {
  return isFlotillaError(err) ? err.disposition : 'retry';
}

export function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  return typeof err === 'string' ? err : JSON.stringify(err);
}
