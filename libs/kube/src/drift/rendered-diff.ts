import {
  canonicalJson,
  formatRef,
  isPlainObject,
  type KubeObject,
  objectHash,
  refKey,
  refOf,
} from '@flotilla/manifests';
import { isEmpty } from './compute-drift.ts';
import { formatPathElement } from './fields-v1.ts';
import { protectDrift } from './protect-values.ts';

// What a change of desired state does to each object, field by field: what a reviewer approves.
// Values leave through the same protection as drift reports (`protectDrift`): a Secret's data, a
// credential-named field or env var, or a configured sensitive path becomes its path and keyed
// hashes, never its value.

/** One changed field. `before`/`after` absent: the field was added/removed. */
export type FieldChange =
  | { path: string; before?: unknown; after?: unknown; truncated?: true }
  | { path: string; sensitive: true; beforeHash?: string; afterHash?: string };

export interface ObjectChange {
  /** As events name objects: `apps/Deployment shop/web`, `Secret shop/db`, `Namespace shop`. */
  object: string;
  kind: string;
  change: 'added' | 'removed' | 'changed';
  /** The changed fields (changed objects only), at most `maxFields`. */
  fields?: FieldChange[];
  /** Changed fields left out beyond `maxFields`. */
  moreFields?: number;
}

export interface RenderedDiff {
  added: number;
  removed: number;
  changed: number;
  unchanged: number;
  /** Added, removed and changed objects, sorted by name, at most `maxObjects`. */
  objects: ObjectChange[];
  /** Objects left out beyond `maxObjects`. */
  moreObjects: number;
}

export interface RenderedDiffOptions {
  /** HMAC key for sensitive values (the same protection as drift reports). */
  key: Uint8Array;
  /** Which fields are sensitive: `sensitiveFieldRule` of @flotilla/events. */
  sensitive(object: { kind: string; label: string }, path: string): boolean;
  /** Objects listed (default 200); counts are always complete. */
  maxObjects?: number;
  /** Fields listed per object (default 50). */
  maxFields?: number;
  /** Characters of a value's JSON shown before it is cut (default 1024). */
  maxValueChars?: number;
}

/** Never compared: server-populated or not desired state (as in drift). */
const IGNORED_METADATA = new Set([
  'managedFields',
  'resourceVersion',
  'uid',
  'generation',
  'creationTimestamp',
]);
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/**
 * Object- and field-level diff of two rendered sets of objects (what runs → what would run), with
 * values protected and the answer bounded. Pure.
 */
export function renderedDiff(
  before: readonly KubeObject[],
  after: readonly KubeObject[],
  o: RenderedDiffOptions,
): RenderedDiff {
  const maxObjects = o.maxObjects ?? 200;
  const maxFields = o.maxFields ?? 50;
  const maxValueChars = o.maxValueChars ?? 1024;
  const index = (objs: readonly KubeObject[]) => new Map(objs.map((x) => [refKey(refOf(x)), x]));
  const was = index(before);
  const will = index(after);
  const out: RenderedDiff = { added: 0, removed: 0, changed: 0, unchanged: 0, objects: [], moreObjects: 0 };
  const all: ObjectChange[] = [];
  for (const [k, next] of will) {
    const prev = was.get(k);
    const label = formatRef(refOf(next));
    if (!prev) {
      out.added++;
      all.push({ object: label, kind: next.kind, change: 'added' });
      continue;
    }
    if (objectHash(prev) === objectHash(next)) {
      out.unchanged++;
      continue;
    }
    out.changed++;
    const entries = fieldChanges(prev, next);
    const shown = protectDrift(
      entries.slice(0, maxFields).map((e) => ({ path: e.path, expected: e.after, actual: e.before })),
      { key: o.key, sensitive: (path) => o.sensitive({ kind: next.kind, label }, path) },
    ).map((d): FieldChange => {
      if ('sensitive' in d)
        return {
          path: d.path,
          sensitive: true,
          ...(d.actualHash ? { beforeHash: d.actualHash } : {}),
          ...(d.expectedHash ? { afterHash: d.expectedHash } : {}),
        };
      const b = cut(d.actual, maxValueChars);
      const a = cut(d.expected, maxValueChars);
      return {
        path: d.path,
        ...(d.actual === undefined ? {} : { before: b.value }),
        ...(d.expected === undefined ? {} : { after: a.value }),
        ...(a.cut || b.cut ? { truncated: true as const } : {}),
      };
    });
    all.push({
      object: label,
      kind: next.kind,
      change: 'changed',
      fields: shown,
      ...(entries.length > maxFields ? { moreFields: entries.length - maxFields } : {}),
    });
  }
  for (const [k, prev] of was)
    if (!will.has(k)) {
      out.removed++;
      all.push({ object: formatRef(refOf(prev)), kind: prev.kind, change: 'removed' });
    }
  all.sort((a, b) => (a.object < b.object ? -1 : a.object > b.object ? 1 : 0));
  out.objects = all.slice(0, maxObjects);
  out.moreObjects = all.length - out.objects.length;
  return out;
}

/** A value as shown: its JSON cut to `max` characters (a string ending in `…`) when longer. */
function cut(value: unknown, max: number): { value: unknown; cut: boolean } {
  if (value === undefined) return { value, cut: false };
  const json = canonicalJson(value);
  if (json.length <= max) return { value, cut: false };
  return { value: `${json.slice(0, max)}…`, cut: true };
}

/** An unprotected field change: for `renderedDiff` only, never to be sent as it is. */
interface RawChange {
  path: string;
  before: unknown;
  after: unknown;
}

/**
 * Field-level changes from `prev` to `next`, in the path form of drift reports
 * (`.spec.template.spec.containers[name=web].image`). Lists whose items all have distinct names
 * are matched by name (an inserted container is one change, not a shift of all that follow);
 * other lists of equal length item by item; anything else changes as a whole.
 */
export function fieldChanges(prev: KubeObject, next: KubeObject): RawChange[] {
  const out: RawChange[] = [];
  const strip = (o: KubeObject) => {
    const copy: Record<string, unknown> = { ...o };
    delete copy.status;
    if (isPlainObject(o.metadata)) {
      const m: Record<string, unknown> = { ...o.metadata };
      for (const k of IGNORED_METADATA) delete m[k];
      if (isPlainObject(m.annotations) && LAST_APPLIED in m.annotations) {
        const a = { ...m.annotations };
        delete a[LAST_APPLIED];
        m.annotations = a;
      }
      copy.metadata = m;
    }
    return copy;
  };
  walk(strip(prev), strip(next), '', out);
  return out;
}

function walk(a: unknown, b: unknown, path: string, out: RawChange[]): void {
  // `{}`, `[]`, null and absent render alike for the apiserver: not a change.
  if (isEmpty(a) && isEmpty(b)) return;
  // Maps and lists are always entered, also when one side is absent: every reported value is a
  // leaf under its own full path, so a credential inside an added container or env list is
  // judged by its own name (`env[name=DB_PASSWORD].value`), never shipped inside its parent.
  const shape = (v: unknown) =>
    isPlainObject(v) ? 'map' : Array.isArray(v) ? 'list' : isEmpty(v) ? 'none' : 'scalar';
  const sa = shape(a);
  const sb = shape(b);
  const container = sa === 'map' || sa === 'list' ? sa : sb === 'map' || sb === 'list' ? sb : null;
  if (container && (sa === container || sa === 'none') && (sb === container || sb === 'none')) {
    if (container === 'map') {
      const ma = (isPlainObject(a) ? a : {}) as Record<string, unknown>;
      const mb = (isPlainObject(b) ? b : {}) as Record<string, unknown>;
      for (const k of [...new Set([...Object.keys(ma), ...Object.keys(mb)])].sort())
        walk(ma[k], mb[k], `${path}${formatPathElement({ type: 'field', name: k })}`, out);
      return;
    }
    const la = Array.isArray(a) ? a : [];
    const lb = Array.isArray(b) ? b : [];
    if ((la.length === 0 || byName(la)) && (lb.length === 0 || byName(lb))) {
      const named = (xs: unknown[]) => new Map(xs.map((x) => [(x as { name: string }).name, x]));
      const ma = named(la);
      const mb = named(lb);
      for (const n of [...new Set([...ma.keys(), ...mb.keys()])])
        walk(ma.get(n), mb.get(n), `${path}${formatPathElement({ type: 'key', fields: { name: n } })}`, out);
      return;
    }
    for (let i = 0; i < Math.max(la.length, lb.length); i++) walk(la[i], lb[i], `${path}[${i}]`, out);
    return;
  }
  if (container) {
    // A map became a scalar or a list (or the reverse): what went, then what came, leaf by leaf.
    walk(a, undefined, path, out);
    walk(undefined, b, path, out);
    return;
  }
  if (a !== undefined && b !== undefined && canonicalJson(a) === canonicalJson(b)) return;
  out.push({ path: path || '.', before: a, after: b });
}

/** Every item an object with a string `name`, all names distinct (containers, env, volumes, ports). */
function byName(xs: unknown[]): boolean {
  if (xs.length === 0) return false;
  const names = new Set<string>();
  for (const x of xs) {
    if (!isPlainObject(x) || typeof x.name !== 'string' || names.has(x.name)) return false;
    names.add(x.name);
  }
  return true;
}
