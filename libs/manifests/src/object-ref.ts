import { isKnownClusterScoped } from './known-kinds.ts';
import { type KubeObject, splitApiVersion } from './kube-object.ts';

/**
 * Identity of an object. `group`+`kind`+`namespace`+`name` identify it; `version` says which API
 * version we speak to it with and is not part of the identity (the same object is reachable under
 * several versions).
 */
export interface ObjectRef {
  group: string;
  version: string;
  kind: string;
  namespace?: string;
  name: string;
}

/**
 * The identity of a (structurally valid) object. A namespace on a known cluster-scoped kind is
 * dropped, like the apiserver does.
 */
export function refOf(obj: Pick<KubeObject, 'apiVersion' | 'kind' | 'metadata'>): ObjectRef {
  const { group, version } = splitApiVersion(obj.apiVersion);
  const ref: ObjectRef = { group, version, kind: obj.kind, name: obj.metadata.name };
  const ns = obj.metadata.namespace;
  if (typeof ns === 'string' && ns !== '' && !isKnownClusterScoped(group, obj.kind)) ref.namespace = ns;
  return ref;
}

/**
 * Stable, readable key: `<group>_<kind>_<namespace>_<name>` (core group and cluster scope are empty),
 * e.g. `apps_Deployment_team-a_web`, `_Namespace__team-a`. Group, kind and namespace can never hold
 * `_`, so the key splits back unambiguously even for RBAC names such as `system:a_b`.
 */
export function refKey(ref: Pick<ObjectRef, 'group' | 'kind' | 'namespace' | 'name'>): string {
  return `${ref.group}_${ref.kind}_${ref.namespace ?? ''}_${ref.name}`;
}

/** Inverse of {@link refKey}; the version is unknown, so it is `''`. Returns undefined for a malformed key. */
export function parseRefKey(key: string): ObjectRef | undefined {
  const parts = key.split('_');
  if (parts.length < 4) return undefined;
  const [group, kind, namespace] = parts as [string, string, string];
  const name = parts.slice(3).join('_');
  if (kind === '' || name === '') return undefined;
  const ref: ObjectRef = { group, version: '', kind, name };
  if (namespace !== '') ref.namespace = namespace;
  return ref;
}

/** For humans: `apps/Deployment team-a/web`, `Namespace team-a`, `ConfigMap team-a/settings`. */
export function formatRef(ref: Pick<ObjectRef, 'group' | 'kind' | 'namespace' | 'name'>): string {
  const type = ref.group === '' ? ref.kind : `${ref.group}/${ref.kind}`;
  return ref.namespace ? `${type} ${ref.namespace}/${ref.name}` : `${type} ${ref.name}`;
}

/** `apiVersion` for a ref: `v1` for the core group, `<group>/<version>` otherwise. */
export function apiVersionOf(ref: Pick<ObjectRef, 'group' | 'version'>): string {
  return ref.group === '' ? ref.version : `${ref.group}/${ref.version}`;
}

/** Total order on refs by {@link refKey}, in code units (locale-independent). */
export function compareRefs(a: ObjectRef, b: ObjectRef): number {
  const ka = refKey(a);
  const kb = refKey(b);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}
