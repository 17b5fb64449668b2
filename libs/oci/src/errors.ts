import { type Disposition, FlotillaError } from '@flotilla/errors';

/**
 * Why each code has its disposition: bad credentials or missing permissions never fix themselves
 * (stall); an unknown repository or tag usually means "not pushed yet" for a watcher (wait); rate
 * limits mean "come back later" (wait); 5xx and network trouble are transient (retry).
 * One table, so a new code cannot be added without deciding what a caller does about it.
 */
const DISPOSITIONS = {
  'oci.unauthorized': 'stall',
  'oci.denied': 'stall',
  'oci.name-invalid': 'stall',
  'oci.tag-invalid': 'stall',
  'oci.manifest-invalid': 'stall',
  'oci.unsupported': 'stall',
  'oci.digest-mismatch': 'stall',
  'oci.protocol': 'stall',
  'oci.invalid-reference': 'stall',
  'oci.invalid-config': 'stall',
  'oci.too-large': 'stall',
  'oci.name-unknown': 'wait',
  'oci.manifest-unknown': 'wait',
  'oci.blob-unknown': 'wait',
  'oci.too-many-requests': 'wait',
  'oci.unavailable': 'retry',
  'oci.network': 'retry',
} as const satisfies Record<`oci.${string}`, Disposition>;

/** Flotilla's codes for registry failures, in the tree's `domain.kebab-case` scheme. */
export type OciErrorCode = keyof typeof DISPOSITIONS;
export const OCI_ERROR_CODES = Object.keys(DISPOSITIONS) as readonly OciErrorCode[];

/**
 * The distribution-spec codes a registry may put in its error body, and ours for each. The
 * registry's own code is a fact worth keeping (it is what its logs and docs say), so it travels
 * beside ours as `details.registryCode`; it is never our code: a registry may answer anything.
 */
const FROM_REGISTRY: ReadonlyMap<string, OciErrorCode> = new Map([
  ['UNAUTHORIZED', 'oci.unauthorized'],
  ['DENIED', 'oci.denied'],
  ['NAME_UNKNOWN', 'oci.name-unknown'],
  ['NAME_INVALID', 'oci.name-invalid'],
  ['MANIFEST_UNKNOWN', 'oci.manifest-unknown'],
  ['MANIFEST_INVALID', 'oci.manifest-invalid'],
  ['BLOB_UNKNOWN', 'oci.blob-unknown'],
  ['TAG_INVALID', 'oci.tag-invalid'],
  ['UNSUPPORTED', 'oci.unsupported'],
  ['TOOMANYREQUESTS', 'oci.too-many-requests'],
]);

/** Our code for a registry's distribution-spec code; undefined for one we do not know. */
export function codeForRegistryCode(registryCode: string): OciErrorCode | undefined {
  return FROM_REGISTRY.get(registryCode);
}

export interface OciErrorDetails {
  status?: number;
  registry?: string;
  repository?: string;
  reference?: string;
  /** The code the registry answered with (`MANIFEST_UNKNOWN`), verbatim, when its body had one. */
  registryCode?: string;
  /** Milliseconds the registry asked us to wait (Retry-After), when known. */
  retryAfterMs?: number;
  attempts?: number;
  registryMessage?: string;
  [key: string]: unknown;
}

export class OciError extends FlotillaError {
  declare readonly code: OciErrorCode;
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

/** What to do about a code; a code this library does not raise counts as transient. */
export function dispositionForCode(code: string): Disposition {
  return Object.hasOwn(DISPOSITIONS, code) ? DISPOSITIONS[code as OciErrorCode] : 'retry';
}

/** Code for an HTTP status when the body carries none we know (HEAD responses have no body). */
export function codeForStatus(status: number, kind?: string): OciErrorCode {
  if (status === 401) return 'oci.unauthorized';
  if (status === 403) return 'oci.denied';
  if (status === 404)
    return kind === 'tags'
      ? 'oci.name-unknown'
      : kind === 'blob'
        ? 'oci.blob-unknown'
        : 'oci.manifest-unknown';
  if (status === 429) return 'oci.too-many-requests';
  if (status >= 500) return 'oci.unavailable';
  return 'oci.protocol';
}

/** First entry of a `{"errors":[{code,message,detail}]}` body, if the body is one. */
export function parseErrorBody(text: string): { code: string; message: string } | undefined {
  if (!text) return undefined;
  try {
    const body = JSON.parse(text) as { errors?: { code?: unknown; message?: unknown }[] };
    const first = Array.isArray(body.errors) ? body.errors[0] : undefined;
    if (first && typeof first.code === 'string') {
      // Registry content is untrusted: bound what we carry into events and logs.
      return {
        code: first.code.slice(0, 64),
        message: typeof first.message === 'string' ? first.message : '',
      };
    }
  } catch {
    // not JSON: some proxies answer with HTML
  }
  return undefined;
}
