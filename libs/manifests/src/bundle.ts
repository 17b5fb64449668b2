import { canonicalJson, sha256Digest } from './canonical-json.ts';
import { ManifestError } from './errors.ts';
import { isPlainObject, type KubeObject } from './kube-object.ts';
import { type ManifestLimits, resolveLimits } from './limits.ts';
import { formatRef, refKey, refOf } from './object-ref.ts';
import { formatPath, validateObject } from './validate-object.ts';

export const BUNDLE_API_VERSION = 'flotilla.io/v1';
export const BUNDLE_KIND = 'Bundle';

/** Where the rendered state came from in Git. */
export interface BundleSource {
  repo: string;
  /** Repo-relative directory, never absolute and without `..` segments. */
  path: string;
}

/** The rendered desired state of one cluster at one Git revision. */
export interface Bundle {
  apiVersion: typeof BUNDLE_API_VERSION;
  kind: typeof BUNDLE_KIND;
  cluster: string;
  revision: string;
  source: BundleSource;
  /**
   * The cluster entry's namespace for namespaced objects that name none (the applier decides,
   * since only the cluster knows which kinds are namespaced). Absent when not configured, so
   * bundles without it keep their bytes and digest.
   */
  targetNamespace?: string;
  objects: KubeObject[];
}

export interface BundleInit {
  cluster: string;
  revision: string;
  source: BundleSource;
  targetNamespace?: string | undefined;
  objects: KubeObject[];
}

/** Builds a bundle with objects in canonical order (by refKey). Does not validate; encode does. */
export function createBundle(init: BundleInit): Bundle {
  return {
    apiVersion: BUNDLE_API_VERSION,
    kind: BUNDLE_KIND,
    cluster: init.cluster,
    revision: init.revision,
    source: { repo: init.source.repo, path: init.source.path },
    ...(init.targetNamespace ? { targetNamespace: init.targetNamespace } : {}),
    objects: sortObjects(init.objects),
  };
}

/** Objects sorted by refKey, so the same set always encodes to the same bytes. */
export function sortObjects<T extends KubeObject>(objects: readonly T[]): T[] {
  return objects
    .map((o) => ({ o, k: refKey(refOf(o)) }))
    .sort((a, b) => (a.k < b.k ? -1 : a.k > b.k ? 1 : 0))
    .map((x) => x.o);
}

/**
 * Canonical bytes of a bundle: canonical JSON with objects sorted by refKey. Throws a
 * {@link ManifestError} (its `details.errors` lists every problem) if the bundle is invalid.
 */
export function encodeBundle(bundle: Bundle, options: { limits?: Partial<ManifestLimits> } = {}): Uint8Array {
  const limits = resolveLimits(options.limits);
  const errors = validateBundleShape(bundle, limits, 'bundle');
  const first = errors[0];
  if (first) {
    throw new ManifestError(
      first.code,
      errors.length === 1 ? first.message : `${first.message} (and ${errors.length - 1} more)`,
      {
        ...(first.document === undefined ? {} : { document: first.document }),
        ...(first.path === undefined ? {} : { path: first.path }),
      },
    ).withErrors(errors);
  }
  const bytes = new TextEncoder().encode(canonicalJson({ ...bundle, objects: sortObjects(bundle.objects) }));
  if (bytes.byteLength > limits.maxBundleBytes) {
    throw new ManifestError(
      'bundle.too-large',
      `bundle is ${bytes.byteLength} bytes, over the limit of ${limits.maxBundleBytes}`,
    );
  }
  return bytes;
}

/** `sha256:<hex>` of the canonical encoding: the content address in the object store. */
export function bundleDigest(bundle: Bundle): string {
  return sha256Digest(encodeBundle(bundle));
}

/**
 * `sha256:<hex>` of what a bundle asks the cluster to run: its source path, objects (in bundle
 * order) and targetNamespace, without the revision and cluster that make each bundle's bytes
 * unique. Two bundles with the same content digest apply the same objects, so the planner signs
 * it into the plan and an applier that already applied that content need not read the bundle
 * again (a no-op resync). Absent targetNamespace hashes as before targetNamespace existed.
 */
export function bundleContentDigest(bundle: {
  source: Pick<BundleSource, 'path'>;
  objects: readonly KubeObject[];
  targetNamespace?: string | undefined;
}): string {
  return objectHash({
    path: bundle.source.path,
    objects: sortObjects(bundle.objects),
    ...(bundle.targetNamespace ? { targetNamespace: bundle.targetNamespace } : {}),
  });
}

/** `sha256:<hex>` of an object's canonical JSON; equal objects hash equal whatever their key order. */
export function objectHash(obj: unknown): string {
  return sha256Digest(canonicalJson(obj));
}

export interface DecodeBundleOptions {
  limits?: Partial<ManifestLimits>;
  /** If given, the sha256 of the bytes must match, else `bundle.digest-mismatch` and nothing else is checked. */
  expectedDigest?: string;
  /** Name used in error locations (e.g. the object-store key). */
  file?: string;
}

export type DecodeBundleResult =
  | { ok: true; bundle: Bundle; digest: string; errors: [] }
  | { ok: false; errors: ManifestError[]; digest?: string };

/**
 * Decodes and validates bundle bytes: size limits first (before parsing), then digest, JSON,
 * shape, every object (structure, names, size) and duplicates. Returns every problem found.
 */
export function decodeBundle(
  data: Uint8Array | string,
  options: DecodeBundleOptions = {},
): DecodeBundleResult {
  const limits = resolveLimits(options.limits);
  const file = options.file ?? 'bundle';
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  if (bytes.byteLength > limits.maxBundleBytes) {
    return fail([
      new ManifestError(
        'bundle.too-large',
        `bundle is ${bytes.byteLength} bytes, over the limit of ${limits.maxBundleBytes}`,
        { file },
      ),
    ]);
  }
  const digest = sha256Digest(bytes);
  if (options.expectedDigest !== undefined && options.expectedDigest !== digest) {
    return fail(
      [
        new ManifestError(
          'bundle.digest-mismatch',
          `bundle digest is ${digest}, expected ${options.expectedDigest}`,
          {
            file,
          },
        ),
      ],
      digest,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (err) {
    return fail(
      [
        new ManifestError(
          'bundle.invalid-json',
          `bundle is not valid UTF-8 JSON: ${(err as Error).message}`,
          { file },
          err,
        ),
      ],
      digest,
    );
  }
  const errors = validateBundleShape(value, limits, file);
  if (errors.length > 0) return fail(errors, digest);
  return { ok: true, bundle: value as Bundle, digest, errors: [] };
}

function fail(errors: ManifestError[], digest?: string): DecodeBundleResult {
  return digest === undefined ? { ok: false, errors } : { ok: false, errors, digest };
}

const BUNDLE_FIELDS = new Set([
  'apiVersion',
  'kind',
  'cluster',
  'revision',
  'source',
  'targetNamespace',
  'objects',
]);
/** A namespace name: an RFC 1123 DNS label. */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

function validateBundleShape(value: unknown, limits: ManifestLimits, file: string): ManifestError[] {
  const errors: ManifestError[] = [];
  const shape = (message: string, path: string) =>
    errors.push(new ManifestError('bundle.invalid-shape', message, { file, path }));
  if (!isPlainObject(value)) {
    shape('bundle must be a JSON object', '.');
    return errors;
  }
  if (value.apiVersion !== BUNDLE_API_VERSION)
    shape(`apiVersion must be ${BUNDLE_API_VERSION}`, '.apiVersion');
  if (value.kind !== BUNDLE_KIND) shape(`kind must be ${BUNDLE_KIND}`, '.kind');
  for (const key of Object.keys(value)) {
    if (!BUNDLE_FIELDS.has(key)) shape(`unknown field ${JSON.stringify(key)}`, `.${key}`);
  }
  for (const key of ['cluster', 'revision'] as const) {
    const v = value[key];
    if (typeof v !== 'string' || v.length === 0 || v.length > 253 || /\s/.test(v)) {
      shape(`${key} must be a non-empty string without whitespace (at most 253 characters)`, `.${key}`);
    }
  }
  const source = value.source;
  if (
    !isPlainObject(source) ||
    typeof source.repo !== 'string' ||
    source.repo === '' ||
    typeof source.path !== 'string'
  ) {
    shape('source must be { repo: string, path: string }', '.source');
  } else if (!isSafeRepoPath(source.path)) {
    shape(
      `source.path ${JSON.stringify(source.path)} must be repo-relative without ".." segments`,
      '.source.path',
    );
  }
  if (
    'targetNamespace' in value &&
    !(typeof value.targetNamespace === 'string' && DNS_LABEL.test(value.targetNamespace))
  )
    shape('targetNamespace must be a namespace name (DNS label)', '.targetNamespace');
  const objects = value.objects;
  if (!Array.isArray(objects)) {
    shape('objects must be an array', '.objects');
    return errors;
  }
  if (objects.length > limits.maxBundleObjects) {
    errors.push(
      new ManifestError(
        'bundle.too-many-objects',
        `bundle has ${objects.length} objects, over the limit of ${limits.maxBundleObjects}`,
        { file, path: '.objects' },
      ),
    );
    return errors;
  }
  const seen = new Map<string, number>();
  objects.forEach((obj: unknown, i) => {
    const problems = validateObject(obj, limits);
    for (const p of problems) {
      const path = `.objects[${i}]${formatPath(p.path)}`;
      errors.push(new ManifestError(p.code, p.message, { file, document: i, path }));
    }
    if (problems.length > 0) return;
    const ref = refOf(obj as KubeObject);
    const key = refKey(ref);
    const first = seen.get(key);
    if (first !== undefined) {
      errors.push(
        new ManifestError(
          'manifest.duplicate-object',
          `duplicate object ${formatRef(ref)}: first at .objects[${first}]`,
          {
            file,
            document: i,
            path: `.objects[${i}]`,
          },
        ),
      );
    } else {
      seen.set(key, i);
    }
  });
  return errors;
}

/** Repo-relative, no `..`, no absolute or drive paths, no NUL: what a bundle may name as its source. */
export function isSafeRepoPath(path: string): boolean {
  if (path.includes('\0') || path.startsWith('/') || path.startsWith('\\') || /^[A-Za-z]:/.test(path))
    return false;
  return path.split(/[\\/]/).every((seg) => seg !== '..');
}
