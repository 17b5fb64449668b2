import { createHash } from 'node:crypto';
import { ManifestError } from './errors.ts';

/**
 * Canonical JSON: object keys sorted by UTF-16 code units, no whitespace, numbers and strings as
 * `JSON.stringify` writes them. For the JSON values manifests hold this matches RFC 8785 (JCS), so the
 * bytes are stable across runs, machines and key order, which digests and signatures depend on.
 *
 * Only plain JSON data is accepted: non-finite numbers, bigint, functions, symbols, class instances
 * (Date, Map, ...), `undefined` inside arrays and cycles are rejected rather than silently coerced,
 * because a silent coercion would make two different inputs hash the same. `undefined` object
 * properties are omitted, as JSON.stringify does.
 */
export function canonicalJson(value: unknown): string {
  const out: string[] = [];
  write(value, out, new Set(), '');
  return out.join('');
}

/** UTF-8 bytes of {@link canonicalJson}. */
export function canonicalJsonBytes(value: unknown): Uint8Array {
  return new TextEncoder().encode(canonicalJson(value));
}

/** `sha256:<hex>` of the given bytes (or of the UTF-8 encoding of a string). */
export function sha256Digest(data: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

function unsupported(path: string, what: string): ManifestError {
  return new ManifestError('canonical-json.unsupported-value', `cannot encode ${what} at ${path || '.'}`, {
    path: path || '.',
  });
}

function write(value: unknown, out: string[], stack: Set<object>, path: string): void {
  switch (typeof value) {
    case 'string':
      out.push(JSON.stringify(value));
      return;
    case 'boolean':
      out.push(value ? 'true' : 'false');
      return;
    case 'number':
      if (!Number.isFinite(value)) throw unsupported(path, String(value));
      // JSON.stringify prints -0 as 0, like JCS.
      out.push(JSON.stringify(value));
      return;
    case 'object':
      break;
    default:
      throw unsupported(path, typeof value);
  }
  if (value === null) {
    out.push('null');
    return;
  }
  if (stack.has(value)) throw unsupported(path, 'a cycle');
  stack.add(value);
  if (Array.isArray(value)) {
    out.push('[');
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out.push(',');
      const item: unknown = value[i];
      if (item === undefined) throw unsupported(`${path}[${i}]`, 'undefined');
      write(item, out, stack, `${path}[${i}]`);
    }
    out.push(']');
  } else {
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) {
      throw unsupported(path, `an instance of ${proto?.constructor?.name ?? 'unknown class'}`);
    }
    const record = value as Record<string, unknown>;
    // Default sort compares UTF-16 code units, which is what JCS specifies.
    const keys = Object.keys(record).sort();
    out.push('{');
    let first = true;
    for (const key of keys) {
      const v = record[key];
      if (v === undefined) continue;
      if (!first) out.push(',');
      first = false;
      out.push(JSON.stringify(key), ':');
      write(v, out, stack, `${path}.${key}`);
    }
    out.push('}');
  }
  stack.delete(value);
}
