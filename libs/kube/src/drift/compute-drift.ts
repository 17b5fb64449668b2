import { canonicalJson, isPlainObject } from '@flotilla/manifests';
import {
  type FieldsV1,
  formatPathElement,
  isFieldsV1,
  type PathElement,
  parsePathElement,
} from './fields-v1.ts';
import type { DriftEntry, DriftOptions, ManagedFieldsEntry } from './types.ts';

/** Fields the server owns or that are not part of desired state. */
const IGNORED_TOP = new Set(['apiVersion', 'kind', 'status']);
const IGNORED_METADATA = new Set([
  'name',
  'namespace',
  'managedFields',
  'resourceVersion',
  'uid',
  'generation',
  'creationTimestamp',
  'selfLink',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'generateName',
]);
const IGNORED_ANNOTATIONS = new Set(['kubectl.kubernetes.io/last-applied-configuration']);

/** A manager's view of the current path: its trie node here, or that it owns an ancestor whole. */
interface Owner {
  manager: string;
  ours: boolean;
  time: number;
  node: FieldsV1 | undefined;
  /** Owns an ancestor as a leaf (atomic map/list), hence everything below. */
  whole: boolean;
}

/**
 * Field-level drift of a live object against the desired manifest, by server-side apply
 * ownership. Only fields present in the desired manifest are examined; one is drift when its live
 * value differs AND Flotilla's field manager no longer owns it (another manager took it over, or
 * it was removed). So:
 * - `kubectl edit` of an image we set → drift (ownership moved to `kubectl-edit`);
 * - an HPA changing replicas our manifest does not set → not drift (not in the manifest);
 * - a label someone else added → not drift;
 * - server defaults and normalisations of fields we still own (`0.5` → `500m`) → not drift.
 * Status, identity and server-populated metadata are never compared.
 */
export function computeDrift(
  desired: Record<string, unknown>,
  live: Record<string, unknown>,
  options: DriftOptions,
): DriftEntry[] {
  const entries = options.managedFields ?? readManagedFields(live);
  const owners: Owner[] = entries
    .filter((e) => e.subresource !== 'status' && isFieldsV1(e.fieldsV1) && typeof e.manager === 'string')
    .map((e) => ({
      manager: e.manager as string,
      ours: e.manager === options.fieldManager,
      time: Date.parse(e.time ?? '') || 0,
      node: e.fieldsV1,
      whole: false,
    }));
  const ignorePaths = options.ignorePaths ?? [];
  const ignoreManagers = new Set(options.ignoreManagers ?? []);
  const drift: DriftEntry[] = [];

  const ignored = (path: string) =>
    ignorePaths.some((p) => path === p || path.startsWith(`${p}.`) || path.startsWith(`${p}[`));

  const leaf = (expected: unknown, actual: unknown, here: Owner[], path: string) => {
    if (ignored(path) || semanticallyEqual(expected, actual)) return;
    const owning = here.filter(owns);
    // Still ours: the apiserver normalised or defaulted it on our own apply. Not someone else's change.
    if (owning.some((o) => o.ours)) return;
    const others = owning.filter((o) => !o.ours).sort((a, b) => b.time - a.time);
    if (others.some((o) => ignoreManagers.has(o.manager))) return;
    const entry: DriftEntry = { path, expected, actual };
    const manager = others[0]?.manager;
    if (manager !== undefined) entry.manager = manager;
    drift.push(entry);
  };

  const walk = (d: unknown, l: unknown, here: Owner[], path: string): void => {
    if (ignored(path)) return;
    if (isPlainObject(d)) {
      if (isAtomic(here) || Object.keys(d).length === 0 || !(isPlainObject(l) || l === undefined)) {
        leaf(d, l, here, path);
        return;
      }
      for (const [key, value] of Object.entries(d)) {
        walk(value, isPlainObject(l) ? l[key] : undefined, descend(here, `f:${key}`), path + fieldSeg(key));
      }
      return;
    }
    if (Array.isArray(d)) {
      walkList(d, l, here, path);
      return;
    }
    leaf(d, l, here, path);
  };

  const walkList = (d: unknown[], l: unknown, here: Owner[], path: string): void => {
    const liveItems = Array.isArray(l) ? l : [];
    const childKeys = new Set<string>();
    for (const o of here)
      if (!o.whole && o.node) for (const k of Object.keys(o.node)) if (k !== '.') childKeys.add(k);
    const keys = [...childKeys];
    const keyed = keys
      .filter((k) => k.startsWith('k:'))
      .map((raw) => ({ raw, el: parsePathElement(raw) }))
      .filter((x): x is { raw: string; el: Extract<PathElement, { type: 'key' }> } => x.el?.type === 'key');

    if (d.length === 0 || !Array.isArray(l) || (keys.length === 0 && isAtomic(here))) {
      leaf(d, l, here, path);
      return;
    }
    if (
      keyed.length > 0 ||
      (keys.length === 0 && d.every((x) => isPlainObject(x) && typeof x.name === 'string'))
    ) {
      // Associative list: match items by their key fields, not by position.
      const keyNames = keyed.length > 0 ? Object.keys(keyed[0]!.el.fields) : ['name'];
      for (const item of d) {
        if (!isPlainObject(item)) {
          leaf(d, l, here, path);
          return;
        }
        const trie =
          keyed.find((k) => matchesKey(item, k.el.fields, false)) ??
          keyed.find((k) => matchesKey(item, k.el.fields, true));
        const own = pick(item, keyNames);
        const key = trie?.el.fields ?? own;
        const liveItem =
          liveItems.find((x) => isPlainObject(x) && matchesKey(x, key, false)) ??
          liveItems.find((x) => isPlainObject(x) && matchesKey(x, own, false));
        const seg = formatPathElement({ type: 'key', fields: key });
        const child = descend(here, trie?.raw ?? `k:${canonicalJson(own)}`);
        if (liveItem === undefined) leaf(item, undefined, child, path + seg);
        else walk(item, liveItem, child, path + seg);
      }
      return;
    }
    if (keys.some((k) => k.startsWith('v:'))) {
      // Set: each desired value must be present; extra live values belong to others.
      for (const item of d) {
        const present = liveItems.some((x) => semanticallyEqual(item, x));
        if (!present) {
          leaf(
            item,
            undefined,
            descend(here, `v:${JSON.stringify(item)}`),
            path + formatPathElement({ type: 'value', value: item }),
          );
        }
      }
      return;
    }
    if (keys.some((k) => k.startsWith('i:'))) {
      d.forEach((item, index) => {
        walk(
          item,
          liveItems[index],
          descend(here, `i:${index}`),
          path + formatPathElement({ type: 'index', index }),
        );
      });
      return;
    }
    leaf(d, l, here, path);
  };

  for (const [key, value] of Object.entries(desired)) {
    if (IGNORED_TOP.has(key)) continue;
    const here = descend(owners, `f:${key}`);
    if (key === 'metadata' && isPlainObject(value)) {
      const liveMeta = isPlainObject(live.metadata) ? live.metadata : {};
      for (const [mk, mv] of Object.entries(value)) {
        if (IGNORED_METADATA.has(mk)) continue;
        let v = mv;
        if (mk === 'annotations' && isPlainObject(mv)) {
          v = Object.fromEntries(Object.entries(mv).filter(([a]) => !IGNORED_ANNOTATIONS.has(a)));
          if (Object.keys(v as object).length === 0) continue;
        }
        walk(v, liveMeta[mk], descend(here, `f:${mk}`), `.metadata${fieldSeg(mk)}`);
      }
      continue;
    }
    walk(value, live[key], here, fieldSeg(key));
  }
  return drift.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

function readManagedFields(live: Record<string, unknown>): ManagedFieldsEntry[] {
  const mf = isPlainObject(live.metadata) ? live.metadata.managedFields : undefined;
  return Array.isArray(mf) ? mf.filter(isPlainObject) : [];
}

function descend(owners: Owner[], key: string): Owner[] {
  return owners.map((o) => {
    if (o.whole) return o;
    const child = o.node?.[key];
    const node = isFieldsV1(child) ? child : undefined;
    return { ...o, node, whole: node !== undefined && Object.keys(node).length === 0 };
  });
}

function owns(o: Owner): boolean {
  return o.whole || o.node !== undefined;
}

/** Owned as a leaf by someone and tracked field-by-field by no one: compare as one value. */
function isAtomic(here: Owner[]): boolean {
  const granular = here.some((o) => !o.whole && o.node && Object.keys(o.node).some((k) => k !== '.'));
  return !granular && here.some((o) => o.whole);
}

function fieldSeg(name: string): string {
  return formatPathElement({ type: 'field', name });
}

function pick(item: Record<string, unknown>, names: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const n of names) if (item[n] !== undefined) out[n] = item[n];
  return out;
}

/**
 * Does `item` have these key values? With `lenient`, key fields the item leaves out match too:
 * the server fills defaults (`protocol: TCP`) into the keys it records in managedFields.
 */
function matchesKey(item: Record<string, unknown>, key: Record<string, unknown>, lenient: boolean): boolean {
  const entries = Object.entries(key);
  if (entries.length === 0) return false;
  return entries.every(([k, v]) => (item[k] === undefined ? lenient : semanticallyEqual(item[k], v)));
}

/**
 * Deep equality that treats "absent", `null`, `{}` and `[]` alike (the apiserver drops empty
 * values) and compares numbers by value.
 */
function semanticallyEqual(a: unknown, b: unknown): boolean {
  if (isEmpty(a) && isEmpty(b)) return true;
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((x, i) => semanticallyEqual(x, b[i]));
  }
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const k of keys) if (!semanticallyEqual(a[k], b[k])) return false;
    return true;
  }
  return a === b;
}

/** An absent, null, empty list or empty map value: the apiserver stores none of them, so drift
 * and the rendered diff both treat them as the same "nothing". */
export function isEmpty(v: unknown): boolean {
  return (
    v === undefined ||
    v === null ||
    (Array.isArray(v) && v.length === 0) ||
    (isPlainObject(v) && Object.keys(v).length === 0)
  );
}
