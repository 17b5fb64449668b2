import { type Disposition, FlotillaError } from '@flotilla/errors';

/** A `metav1.Status` as the apiserver returns it for failures. */
export interface KubeStatus {
  kind?: string;
  status?: string;
  message?: string;
  reason?: string;
  code?: number;
  details?: {
    name?: string;
    group?: string;
    kind?: string;
    causes?: { reason?: string; message?: string; field?: string }[];
  };
}

export type KubeErrorCode =
  | 'kube.forbidden'
  | 'kube.unauthorized'
  | 'kube.not-found'
  | 'kube.namespace-not-found'
  | 'kube.field-conflict'
  | 'kube.conflict'
  | 'kube.already-exists'
  | 'kube.invalid'
  | 'kube.immutable'
  | 'kube.bad-request'
  | 'kube.gone'
  | 'kube.unavailable'
  | 'kube.unknown-kind'
  | 'kube.failed';

/** What was being attempted, so a message can say "cannot patch apps/Deployment team-a/web". */
export interface KubeRequestContext {
  verb: string;
  /** Human-readable object or collection, e.g. `apps/Deployment team-a/web`. */
  object?: string;
  /** Who we are, if known (`system:serviceaccount:ns:name`). */
  identity?: string;
}

export interface KubeErrorCause {
  reason?: string;
  message?: string;
  field?: string;
}

export class KubeApiError extends FlotillaError {
  declare readonly code: KubeErrorCode;
  readonly httpStatus: number;
  readonly reason: string;
  readonly causes: KubeErrorCause[];
  readonly verb: string;
  readonly object: string | undefined;

  constructor(
    code: KubeErrorCode,
    message: string,
    init: {
      httpStatus: number;
      reason?: string;
      causes?: KubeErrorCause[];
      disposition: Disposition;
      ctx: KubeRequestContext;
      cause?: unknown;
      details?: Record<string, unknown>;
    },
  ) {
    super(code, message, {
      disposition: init.disposition,
      cause: init.cause,
      details: { httpStatus: init.httpStatus, verb: init.ctx.verb, ...init.details },
    });
    this.name = 'KubeApiError';
    this.httpStatus = init.httpStatus;
    this.reason = init.reason ?? '';
    this.causes = init.causes ?? [];
    this.verb = init.ctx.verb;
    this.object = init.ctx.object;
  }
}

export function isKubeApiError(err: unknown, code?: KubeErrorCode): err is KubeApiError {
  return err instanceof KubeApiError && (code === undefined || err.code === code);
}

function parseStatus(body: string): KubeStatus | undefined {
  try {
    const v = JSON.parse(body) as KubeStatus;
    return v && typeof v === 'object' ? v : undefined;
  } catch {
    return undefined;
  }
}

const IMMUTABLE = /field is immutable|immutable field|cannot be changed|may not be changed/i;

/**
 * Server-side apply answers 500 when an object does not fit its kind's schema (a field the kind
 * does not have, a string where a number goes, or a live object that no longer fits a changed
 * CRD): the apiserver fails to build the typed value and calls that an internal error (Kubernetes
 * 1.34: `failed to create typed patch object (ns/name; apps/v1, Kind=Deployment): .spec.replica:
 * field not declared in schema`). No retry mends it; someone must fix the manifest.
 */
const SCHEMA_MISMATCH = /failed to create typed (?:patch |live )?object/;

/**
 * Turns a non-2xx response into a typed error that says what to do: 5xx, 429, timeouts → retry;
 * RBAC, validation, conflicts with other field managers → stall (a person must change something).
 */
export function kubeErrorFromResponse(
  httpStatus: number,
  body: string,
  ctx: KubeRequestContext,
): KubeApiError {
  const status = parseStatus(body);
  const serverMessage = status?.message ?? body.slice(0, 500);
  const reason = status?.reason ?? '';
  const causes = (status?.details?.causes ?? []).map((c) => ({
    ...(c.reason ? { reason: c.reason } : {}),
    ...(c.message ? { message: c.message } : {}),
    ...(c.field ? { field: c.field } : {}),
  }));
  const what = ctx.object ? `${ctx.verb} ${ctx.object}` : ctx.verb;
  const mk = (code: KubeErrorCode, message: string, disposition: Disposition) =>
    new KubeApiError(code, message, { httpStatus, reason, causes, disposition, ctx });

  switch (httpStatus) {
    case 401:
      return mk(
        'kube.unauthorized',
        `${what}: apiserver rejected our credentials (${serverMessage})`,
        'retry',
      );
    case 403: {
      const user = /User "([^"]+)"/.exec(serverMessage)?.[1] ?? ctx.identity ?? 'the applier';
      const verb = /cannot (\w+) resource/.exec(serverMessage)?.[1] ?? ctx.verb;
      return mk(
        'kube.forbidden',
        `RBAC: ${user} may not ${verb} ${ctx.object ?? 'this resource'} (${serverMessage})`,
        'stall',
      );
    }
    case 404: {
      if (status?.details?.kind === 'namespaces' && /namespaces? "[^"]+" not found/.test(serverMessage))
        return mk('kube.namespace-not-found', `${what}: ${serverMessage}`, 'stall');
      return mk('kube.not-found', `${what}: ${serverMessage}`, 'stall');
    }
    case 409: {
      const conflicts = causes.filter((c) => c.reason === 'FieldManagerConflict');
      if (conflicts.length > 0) {
        const list = conflicts.map((c) => `${c.field ?? '?'} (${c.message ?? ''})`).join('; ');
        return mk('kube.field-conflict', `${what}: fields owned by another manager: ${list}`, 'stall');
      }
      if (reason === 'AlreadyExists') return mk('kube.already-exists', `${what}: ${serverMessage}`, 'retry');
      return mk('kube.conflict', `${what}: ${serverMessage}`, 'retry');
    }
    case 410:
      return mk('kube.gone', `${what}: ${serverMessage}`, 'retry');
    case 422: {
      const immutable = IMMUTABLE.test(serverMessage) || causes.some((c) => IMMUTABLE.test(c.message ?? ''));
      if (immutable)
        return mk('kube.immutable', `${what}: immutable field changed: ${serverMessage}`, 'stall');
      return mk('kube.invalid', `${what}: invalid: ${serverMessage}`, 'stall');
    }
    case 400:
    case 405:
    case 406:
    case 413:
    case 415:
      return mk('kube.bad-request', `${what}: ${serverMessage}`, 'stall');
    default:
      if (httpStatus === 500 && SCHEMA_MISMATCH.test(serverMessage))
        return mk('kube.invalid', `${what}: does not fit its kind's schema: ${serverMessage}`, 'stall');
      if (httpStatus === 429 || httpStatus >= 500 || httpStatus === 408)
        return mk('kube.unavailable', `${what}: apiserver answered ${httpStatus}: ${serverMessage}`, 'retry');
      return mk('kube.failed', `${what}: apiserver answered ${httpStatus}: ${serverMessage}`, 'stall');
  }
}

/** Network-level failure (refused, reset, TLS, timeout): the apiserver may be restarting. */
export function kubeNetworkError(err: unknown, server: string, ctx: KubeRequestContext): KubeApiError {
  const code = (err as { code?: string }).code;
  const msg = (err as Error).message ?? String(err);
  return new KubeApiError(
    'kube.unavailable',
    `${ctx.verb}${ctx.object ? ` ${ctx.object}` : ''}: apiserver ${server} unreachable: ${code ? `${code} ` : ''}${msg}`,
    { httpStatus: 0, disposition: 'retry', ctx, cause: err },
  );
}
