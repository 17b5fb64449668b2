import type { ManifestErrorCode } from './errors.ts';
import { isPlainObject, splitApiVersion } from './kube-object.ts';
import type { ManifestLimits } from './limits.ts';
import { isDns1123Label, labelKeyProblem, labelValueProblem, nameProblem } from './names.ts';

/** One thing wrong with an object; `path` is a list of keys so callers can map it to a position. */
export interface ObjectProblem {
  code: ManifestErrorCode;
  message: string;
  path: (string | number)[];
}

const API_VERSION =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?v[0-9]+((alpha|beta)[0-9]+)?$/;
const KIND = /^[A-Za-z][A-Za-z0-9]*$/;

/**
 * Structural checks every object must pass before it is given an identity: a mapping with
 * apiVersion, kind, metadata.name (valid for its kind), a valid namespace, string labels and
 * annotations, within the size limit. Returns every problem found, not just the first.
 */
export function validateObject(
  value: unknown,
  limits: Pick<ManifestLimits, 'maxObjectBytes'>,
): ObjectProblem[] {
  if (!isPlainObject(value)) {
    const what = value === null ? 'null' : Array.isArray(value) ? 'a sequence' : `a ${typeof value}`;
    return [{ code: 'manifest.not-an-object', message: `document is ${what}, not a mapping`, path: [] }];
  }
  const problems: ObjectProblem[] = [];
  const add = (code: ManifestErrorCode, message: string, ...path: (string | number)[]) =>
    problems.push({ code, message, path });

  const size = jsonSize(value);
  if (size > limits.maxObjectBytes) {
    add('manifest.too-large', `object is ${size} bytes, over the limit of ${limits.maxObjectBytes}`);
  }

  const { apiVersion, kind, metadata } = value;
  let group: string | undefined;
  if (apiVersion === undefined || apiVersion === null || apiVersion === '') {
    add('manifest.missing-field', 'apiVersion is required', 'apiVersion');
  } else if (typeof apiVersion !== 'string' || !API_VERSION.test(apiVersion)) {
    add(
      'manifest.invalid-field',
      `apiVersion ${JSON.stringify(apiVersion)} is not "<version>" or "<group>/<version>"`,
      'apiVersion',
    );
  } else {
    group = splitApiVersion(apiVersion).group;
  }
  let kindOk = false;
  if (kind === undefined || kind === null || kind === '') {
    add('manifest.missing-field', 'kind is required', 'kind');
  } else if (typeof kind !== 'string' || !KIND.test(kind)) {
    add('manifest.invalid-field', `kind ${JSON.stringify(kind)} is not a valid kind`, 'kind');
  } else {
    kindOk = true;
  }

  if (metadata === undefined || metadata === null) {
    add('manifest.missing-field', 'metadata.name is required', 'metadata');
    return problems;
  }
  if (!isPlainObject(metadata)) {
    add('manifest.invalid-field', 'metadata must be a mapping', 'metadata');
    return problems;
  }
  const { name, namespace, labels, annotations } = metadata;
  if (name === undefined || name === null || name === '') {
    const hint =
      metadata.generateName !== undefined ? ' (generateName is not supported: names must be stable)' : '';
    add('manifest.missing-field', `metadata.name is required${hint}`, 'metadata', 'name');
  } else if (typeof name !== 'string') {
    add(
      'manifest.invalid-name',
      `metadata.name must be a string, got ${JSON.stringify(name)}`,
      'metadata',
      'name',
    );
  } else if (group !== undefined && kindOk) {
    const why = nameProblem(group, kind as string, name);
    if (why)
      add(
        'manifest.invalid-name',
        `invalid name ${JSON.stringify(name)} for ${kind}: ${why}`,
        'metadata',
        'name',
      );
  }
  if (group === 'apiextensions.k8s.io' && kind === 'CustomResourceDefinition' && typeof name === 'string') {
    // The apiserver requires <plural>.<group>; catching it here names the file and line.
    const spec = isPlainObject(value.spec) ? value.spec : {};
    const plural = isPlainObject(spec.names) ? spec.names.plural : undefined;
    if (typeof plural === 'string' && typeof spec.group === 'string' && name !== `${plural}.${spec.group}`) {
      add(
        'manifest.invalid-name',
        `CustomResourceDefinition name must be "${plural}.${spec.group}", got ${JSON.stringify(name)}`,
        'metadata',
        'name',
      );
    }
  }
  if (namespace !== undefined && namespace !== null) {
    if (typeof namespace !== 'string' || !isDns1123Label(namespace)) {
      add(
        'manifest.invalid-name',
        `invalid namespace ${JSON.stringify(namespace)}: must be an RFC 1123 label`,
        'metadata',
        'namespace',
      );
    }
  }
  checkStringMap(labels, 'labels', add, true);
  checkStringMap(annotations, 'annotations', add, false);
  return problems;
}

function checkStringMap(
  value: unknown,
  field: 'labels' | 'annotations',
  add: (code: ManifestErrorCode, message: string, ...path: (string | number)[]) => void,
  strict: boolean,
): void {
  if (value === undefined || value === null) return;
  if (!isPlainObject(value)) {
    add('manifest.invalid-field', `metadata.${field} must be a mapping of strings`, 'metadata', field);
    return;
  }
  for (const [key, v] of Object.entries(value)) {
    if (typeof v !== 'string') {
      add(
        'manifest.invalid-field',
        `metadata.${field}.${key} must be a string (quote it), got ${JSON.stringify(v)}`,
        'metadata',
        field,
        key,
      );
      continue;
    }
    const keyWhy = labelKeyProblem(key);
    if (keyWhy)
      add(
        'manifest.invalid-field',
        `metadata.${field} key ${JSON.stringify(key)}: ${keyWhy}`,
        'metadata',
        field,
        key,
      );
    const valueWhy = strict ? labelValueProblem(v) : undefined;
    if (valueWhy)
      add(
        'manifest.invalid-field',
        `label ${key} value ${JSON.stringify(v)}: ${valueWhy}`,
        'metadata',
        field,
        key,
      );
  }
}

/** Compact JSON size in UTF-8 bytes. */
export function jsonSize(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value) ?? '', 'utf8');
}

/** `['items', 0, 'metadata']` → `.items[0].metadata`. */
export function formatPath(path: readonly (string | number)[]): string {
  return path.map((s) => (typeof s === 'number' ? `[${s}]` : `.${s}`)).join('');
}
