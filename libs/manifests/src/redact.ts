import { isPlainObject } from './kube-object.ts';

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/**
 * A copy of an object that is safe to log: Secrets lose `data` and `stringData` (the key names are
 * kept in `dataKeys` so logs still say what changed), and the kubectl last-applied annotation,
 * which holds a full copy of the Secret, is removed. managedFields go too (noise). Lists are
 * redacted item by item. Non-objects are returned as they are.
 */
export function redactManifestForLog<T>(obj: T): T {
  if (!isPlainObject(obj)) return obj;
  const copy: Record<string, unknown> = { ...obj };
  if (isPlainObject(copy.metadata)) {
    const metadata: Record<string, unknown> = { ...copy.metadata };
    delete metadata.managedFields;
    if (isPlainObject(metadata.annotations) && LAST_APPLIED in metadata.annotations) {
      const annotations = { ...metadata.annotations };
      delete annotations[LAST_APPLIED];
      metadata.annotations = annotations;
    }
    copy.metadata = metadata;
  }
  if (copy.kind === 'Secret') {
    const keys = new Set<string>();
    for (const field of ['data', 'stringData']) {
      const v = copy[field];
      if (isPlainObject(v)) for (const k of Object.keys(v)) keys.add(k);
      delete copy[field];
    }
    if (keys.size > 0) copy.dataKeys = [...keys].sort();
  }
  if (Array.isArray(copy.items)) copy.items = copy.items.map((item) => redactManifestForLog(item));
  return copy as T;
}
