import { type Disposition, FlotillaError } from '@flotilla/errors';

/**
 * Codes a registry puts in its error body (OCI distribution-spec) plus the client's own.
 * Registry codes are kept verbatim so callers can match on what the registry said.
 */
export type OciErrorCode =
  | 'UNAUTHORIZED'
  | 'DENIED'
  | 'NAME_UNKNOWN'
  | 'NAME_INVALID'
  | 'MANIFEST_UNKNOWN'
  | 'MANIFEST_INVALID'
  | 'BLOB_UNKNOWN'
  | 'TAG_INVALID'
  | 'UNSUPPORTED'
  | 'TOOMANYREQUESTS'
  | 'UNAVAILABLE'
  | 'NETWORK'
  | 'DIGEST_MISMATCH'
  | 'PROTOCOL'
  | 'INVALID_REFERENCE'
  | 'INVALID_CONFIG'
  | (string & {});

export interface OciErrorDetails {
  status?: number;
  registry?: string;
  repository?: string;
  reference?: string;
  /** Milliseconds the registry asked us to wait (Retry-After), when known. */
  retryAfterMs?: number;
  attempts?: number;
  registryMessage?: string;
  [key: string]: unknown;
}

export class OciError extends FlotillaError {
  readonly status: number | undefined;
  override readonly details: OciErrorDetails;

  constructor(
    code: OciErrorCode,
    message: string,
    options: { disposition?: Disposition; cause?: unknown; details?: OciErrorDetails } = {},
  ) {
    super(code, message, {
      disposition: options.disposition ?? dispositionForCode(code),
      cause: options.cause,
      details: options.details ?? {},
    });
    this.name = 'OciError';
    this.status = options.details?.status;
    this.details = options.details ?? {};
  }
}

export function isOciError(err: unknown): err is OciError {
  return err instanceof OciError;
}

/**
 * Why these dispositions: bad credentials or missing permissions never fix themselves (stall);
 * an unknown repository or tag usually means "not pushed yet" for a watcher (wait); rate limits
 * mean "come back later" (wait); 5xx and network trouble are transient (retry).
 */
export function dispositionForCode(code: string): Disposition {
  switch (code) {
    case 'UNAUTHORIZED':
    case 'DENIED':
    case 'NAME_INVALID':
    case 'TAG_INVALID':
    case 'MANIFEST_INVALID':
    case 'UNSUPPORTED':
    case 'DIGEST_MISMATCH':
    case 'PROTOCOL':
    case 'INVALID_REFERENCE':
    case 'INVALID_CONFIG':
      return 'stall';
    case 'NAME_UNKNOWN':
    case 'MANIFEST_UNKNOWN':
    case 'BLOB_UNKNOWN':
    case 'TOOMANYREQUESTS':
      return 'wait';
    default:
      return 'retry';
  }
}

/** Code for an HTTP status when the body carries none (HEAD responses have no body). */
export function codeForStatus(status: number, kind?: string): OciErrorCode {
  if (status === 401) return 'UNAUTHORIZED';
  if (status === 403) return 'DENIED';
  if (status === 404)
    return kind === 'tags' ? 'NAME_UNKNOWN' : kind === 'blob' ? 'BLOB_UNKNOWN' : 'MANIFEST_UNKNOWN';
  if (status === 429) return 'TOOMANYREQUESTS';
  if (status >= 500) return 'UNAVAILABLE';
  return 'PROTOCOL';
}

/** First entry of a `{"errors":[{code,message,detail}]}` body, if the body is one. */
export function parseErrorBody(text: string): { code: string; message: string } | undefined {
  if (!text) return undefined;
  try {
    const body = JSON.parse(text) as { errors?: { code?: unknown; message?: unknown }[] };
    const first = Array.isArray(body.errors) ? body.errors[0] : undefined;
    if (first && typeof first.code === 'string') {
      return { code: first.code, message: typeof first.message === 'string' ? first.message : '' };
    }
  } catch {
    // not JSON: some proxies answer with HTML
  }
  return undefined;
}
