/**
 * The server-side apply field set format (`managedFields[].fieldsV1`): a trie whose keys are
 * - `f:<name>`   a field of a map/struct,
 * - `k:<json>`   an item of an associative list, by its key fields (e.g. `k:{"name":"web"}`),
 * - `v:<json>`   an item of a set-like list, by value,
 * - `i:<index>`  an item of a list by position,
 * - `.`          the node itself (present when a node with children is also owned as a whole).
 * A leaf is `{}`: the manager owns that field (and, for atomic maps/lists, everything below it).
 */
export interface FieldsV1 {
  [key: string]: FieldsV1;
}

export type PathElement =
  | { type: 'field'; name: string }
  | { type: 'key'; fields: Record<string, unknown> }
  | { type: 'value'; value: unknown }
  | { type: 'index'; index: number };

/** Parses one trie key; undefined for `.` and for keys it does not understand. */
export function parsePathElement(key: string): PathElement | undefined {
  const prefix = key.slice(0, 2);
  const rest = key.slice(2);
  try {
    switch (prefix) {
      case 'f:':
        return { type: 'field', name: rest };
      case 'k:': {
        const fields: unknown = JSON.parse(rest);
        if (typeof fields !== 'object' || fields === null || Array.isArray(fields)) return undefined;
        return { type: 'key', fields: fields as Record<string, unknown> };
      }
      case 'v:':
        return { type: 'value', value: JSON.parse(rest) };
      case 'i:': {
        const index = Number(rest);
        return Number.isInteger(index) && index >= 0 ? { type: 'index', index } : undefined;
      }
      default:
        return undefined;
    }
  } catch {
    return undefined;
  }
}

const SIMPLE_FIELD = /^[A-Za-z_$][A-Za-z0-9_$-]*$/;

/** One path segment for humans: `.spec`, `["app.kubernetes.io/name"]`, `[name=web]`, `[=value]`, `[0]`. */
export function formatPathElement(el: PathElement): string {
  switch (el.type) {
    case 'field':
      return SIMPLE_FIELD.test(el.name) ? `.${el.name}` : `[${JSON.stringify(el.name)}]`;
    case 'key':
      return `[${Object.entries(el.fields)
        .map(([k, v]) => `${k}=${formatScalar(v)}`)
        .join(',')}]`;
    case 'value':
      return `[=${formatScalar(el.value)}]`;
    case 'index':
      return `[${el.index}]`;
  }
}

function formatScalar(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

export function isFieldsV1(value: unknown): value is FieldsV1 {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Every path a field set owns, formatted for humans (`.spec.replicas`,
 * `.spec.template.spec.containers[name=web].image`). A node is listed when it is a leaf or marked
 * with `.`. Useful for debugging and for explaining conflicts.
 */
export function fieldSetPaths(fields: FieldsV1): string[] {
  const out: string[] = [];
  const visit = (node: FieldsV1, path: string) => {
    const keys = Object.keys(node);
    if (keys.length === 0 || '.' in node) out.push(path || '.');
    for (const key of keys) {
      if (key === '.') continue;
      const el = parsePathElement(key);
      const child = node[key];
      if (!el || !isFieldsV1(child)) continue;
      visit(child, path + formatPathElement(el));
    }
  };
  visit(fields, '');
  return out.filter((p) => p !== '.');
}
