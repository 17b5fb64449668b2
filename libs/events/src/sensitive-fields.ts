// Which values may never travel in an event. Part of the event contract (a DriftDetected that
// breaks it is invalid, refused at publish and at receipt), so it lives beside the schemas.

/**
 * Names that say "credential": an env var `DB_PASSWORD`, a ConfigMap key `api-token`. Values
 * under such a name are treated as secret wherever they appear. Anchored at the end so field
 * names like `secretName` or `imagePullSecrets` (references, not values) stay readable.
 */
const CREDENTIAL_NAME =
  /((passw(or)?d|passphrase|secret|token|api[-_]?key|private[-_]?key|credentials?|dsn|connection[-_]?string)$|^key$|\.(key|pem)$)/i;

/** Paths of a Secret whose values are not secret: its type and whether it is immutable. */
const SECRET_PLAIN_PATHS = /^\.(type|immutable|metadata\.labels(\..*|\[.*)?)$/;

/**
 * Is `objectText` (as events name objects: `Secret ns/name`, `apps/Deployment ns/web`) a core
 * Secret? A CRD kind named Secret in another group would read `group/Secret`, and is not.
 */
export function isSecretObject(objectText: string): boolean {
  return /^(v1\/)?Secret\s/.test(objectText);
}

/**
 * Must the value at `path` of `objectText` be hashed, never sent? Every field of a Secret except
 * its type, immutability and labels (data, stringData and annotations, which can hold the
 * last-applied copy of the data); and, in any object, a field or env var whose name reads like a
 * credential. `.` (the object's presence) is never a value.
 */
export function isSensitiveField(objectText: string, path: string): boolean {
  if (path === '.' || path === '') return false;
  if (isSecretObject(objectText)) return !SECRET_PLAIN_PATHS.test(path);
  for (const m of path.matchAll(/\[name=([^\]]+)\]/g)) if (CREDENTIAL_NAME.test(m[1] as string)) return true;
  // `.volumes[name=x].secret` is a reference to a Secret (names only), not a value.
  return path
    .split(/[.[\]]/)
    .filter(Boolean)
    .some((s) => s !== 'secret' && CREDENTIAL_NAME.test(s));
}

/** Is `path` at or below `prefix` (`.data` covers `.data.x` and `.data["a.b"]`)? */
const under = (path: string, prefix: string) =>
  path === prefix || path.startsWith(`${prefix}.`) || path.startsWith(`${prefix}[`);

/** Which fields of an object are sensitive: the object as events name it and its kind. */
export type SensitiveFieldRule = (object: { kind: string; label: string }, path: string) => boolean;

/**
 * The contract's rule (`isSensitiveField`) plus configured paths, `Kind:.path` or `*:.path`,
 * comma-separated (`ConfigMap:.data.dsn,*:.spec.password`). Configuration only adds: what the
 * contract hides stays hidden. Shared by every component that reports field values (the
 * applier's drift reports, the planner's rendered diffs), so both hide the same fields.
 * Throws on a malformed entry, naming `setting`.
 */
export function sensitiveFieldRule(
  sensitivePaths: string | undefined,
  setting = 'sensitivePaths',
): SensitiveFieldRule {
  const rules = (sensitivePaths ?? '')
    .split(',')
    .map((r) => r.trim())
    .filter(Boolean)
    .map((r) => {
      const i = r.indexOf(':');
      if (i <= 0 || !r.slice(i + 1).startsWith('.'))
        throw new Error(`${setting}: "${r}" is not Kind:.path (or *:.path)`);
      return { kind: r.slice(0, i), path: r.slice(i + 1) };
    });
  return (object, path) =>
    isSensitiveField(object.label, path) ||
    rules.some((r) => (r.kind === '*' || r.kind === object.kind) && under(path, r.path));
}

/**
 * `path` with every list index whose element has a `name` written as `[name=<name>]`, read from
 * `object` (the manifest the path is into): the apiserver addresses list items by index
 * (`spec.template.spec.containers[0].env[3].value`), and only the item's name says whether its
 * value is a credential. An index the object does not resolve stays as it is.
 */
export function nameIndexedPath(object: unknown, path: string): string {
  let at: unknown = object;
  return path.replace(
    /([^.[\]]+)|\[(\d+)\]|\[[^\]]*\]/g,
    (step, key: string | undefined, index: string | undefined) => {
      if (key !== undefined) {
        at = isRecord(at) ? at[key] : undefined;
        return step;
      }
      if (index === undefined || !Array.isArray(at)) {
        at = undefined;
        return step;
      }
      const item: unknown = at[Number(index)];
      at = item;
      const name = isRecord(item) ? item.name : undefined;
      return typeof name === 'string' && !name.includes(']') ? `[name=${name}]` : step;
    },
  );
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * A list item of a container's `env` addressed by index (`env[3].value`) whose name is unknown:
 * it may be `DB_PASSWORD`, so its value is treated as a credential.
 */
export function isUnnamedEnvValue(path: string): boolean {
  return /(^|\.)env\[\d+\](\.value)?$/.test(path);
}
