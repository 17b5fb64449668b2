/**
 * Kubernetes name rules (k8s.io/apimachinery/pkg/util/validation), checked before anything reaches
 * an apiserver so a bad name is reported with its file and line instead of as a failed apply.
 */

const LABEL = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const DNS1123_LABEL = new RegExp(`^${LABEL}$`);
const DNS1123_SUBDOMAIN = new RegExp(`^${LABEL}(\\.${LABEL})*$`);
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;

/** RFC 1123 label: lower-case alphanumerics and `-`, at most 63 characters (namespaces). */
export function isDns1123Label(value: string): boolean {
  return value.length <= 63 && DNS1123_LABEL.test(value);
}

/** RFC 1123 subdomain: dot-separated labels, at most 253 characters (most object names). */
export function isDns1123Subdomain(value: string): boolean {
  return value.length <= 253 && DNS1123_SUBDOMAIN.test(value);
}

/** RFC 1035 label: like a 1123 label but starting with a letter (Service names). */
export function isDns1035Label(value: string): boolean {
  return value.length <= 63 && DNS1035_LABEL.test(value);
}

/** Path segment names (RBAC objects): anything but `.`, `..`, or names holding `/` or `%`. */
export function isPathSegmentName(value: string): boolean {
  return value !== '' && value !== '.' && value !== '..' && !value.includes('/') && !value.includes('%');
}

const RBAC_GROUP = 'rbac.authorization.k8s.io';

/** Returns why `name` is not a valid name for an object of this group/kind, or undefined if it is. */
export function nameProblem(group: string, kind: string, name: string): string | undefined {
  if (group === RBAC_GROUP && ['Role', 'ClusterRole', 'RoleBinding', 'ClusterRoleBinding'].includes(kind)) {
    return isPathSegmentName(name) ? undefined : `must not be "." or ".." nor contain "/" or "%"`;
  }
  if (group === '' && kind === 'Namespace') {
    return isDns1123Label(name) ? undefined : rule('an RFC 1123 label', 63);
  }
  if (group === '' && kind === 'Service') {
    return isDns1035Label(name) ? undefined : `${rule('an RFC 1035 label', 63)}, starting with a letter`;
  }
  return isDns1123Subdomain(name) ? undefined : rule('an RFC 1123 subdomain', 253);
}

function rule(what: string, max: number): string {
  return `must be ${what}: lower-case letters, digits, '-'${max > 63 ? " and '.'" : ''}, starting and ending with an alphanumeric, at most ${max} characters`;
}

/** Label keys: optional DNS-subdomain prefix `/` qualified name of at most 63 characters. */
export function labelKeyProblem(key: string): string | undefined {
  const slash = key.lastIndexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && !isDns1123Subdomain(prefix)) return 'prefix must be an RFC 1123 subdomain';
  if (name.length === 0 || name.length > 63 || !QUALIFIED_NAME.test(name)) {
    return "name part must be at most 63 characters of alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric";
  }
  return undefined;
}

export function labelValueProblem(value: string): string | undefined {
  if (value.length > 63 || !LABEL_VALUE.test(value)) {
    return "must be at most 63 characters of alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric";
  }
  return undefined;
}
