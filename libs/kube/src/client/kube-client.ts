import { formatRef, type KubeObject, type ObjectRef, refOf } from '@flotilla/manifests';
import { Discovery, type ResourceInfo } from './discovery.ts';
import { type KubeAccess, type KubeAccessOptions, loadKubeAccess } from './kube-access.ts';
import { isKubeApiError, KubeApiError } from './kube-errors.ts';
import { KubeHttp, type KubeHttpOptions, type KubeRequest } from './kube-http.ts';

export interface ApplyOptions {
  /** Take over fields owned by other managers instead of failing with a conflict. */
  force?: boolean;
  /**
   * The object as JSON already (`JSON.stringify(obj)`): an object dry-run and then applied is
   * serialised once for both requests.
   */
  json?: string;
}

export interface ListOptions {
  namespace?: string;
  labelSelector?: string;
  /** `PartialObjectMetadataList`: names, versions, labels, managedFields; no spec or status. */
  metadataOnly?: boolean;
  pageSize?: number;
}

const METADATA_LIST = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json';

export function resourcePath(info: ResourceInfo, namespace?: string, name?: string): string {
  const base = info.group === '' ? `/api/${info.version}` : `/apis/${info.group}/${info.version}`;
  const ns = info.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  return `${base}${ns}/${info.resource}${name === undefined ? '' : `/${encodeURIComponent(name)}`}`;
}

type Target = Pick<ObjectRef, 'group' | 'kind' | 'namespace' | 'name'>;

/**
 * The few calls the applier needs, as raw JSON: server-side apply (and its dry-run), get, list,
 * delete, plus plain create/replace for our own bookkeeping objects (Lease, inventory).
 */
export class KubeClient {
  readonly discovery: Discovery;

  constructor(
    readonly http: KubeHttp,
    readonly fieldManager: string,
  ) {
    this.discovery = new Discovery(http);
  }

  static async connect(
    access: KubeAccessOptions,
    opts: KubeHttpOptions & { fieldManager?: string } = {},
  ): Promise<KubeClient> {
    return new KubeClient(new KubeHttp(await loadKubeAccess(access), opts), opts.fieldManager ?? 'flotilla');
  }

  get identity(): string {
    return this.http.identity;
  }

  /**
   * The same apiserver, every request authorised as `user` (`Impersonate-User`): a tenant's
   * pipeline writes only where its ServiceAccount may. Our own identity needs the `impersonate`
   * verb on that user (for a ServiceAccount: on `serviceaccounts`, by resourceName).
   */
  impersonating(user: string, opts: KubeHttpOptions = {}): KubeClient {
    const access = this.http.access;
    const as: KubeAccess = {
      ...access,
      identity: `${access.identity} as ${user}`,
      headers: async () => ({ ...(await access.headers()), 'impersonate-user': user }),
    };
    return new KubeClient(new KubeHttp(as, opts), this.fieldManager);
  }

  /** Discovery for an object's kind, or a `kube.unknown-kind` error naming the object. */
  async resolve(apiVersion: string, kind: string, object?: string): Promise<ResourceInfo> {
    const info = await this.discovery.resolve(apiVersion, kind);
    if (!info)
      throw new KubeApiError(
        'kube.unknown-kind',
        `${object ?? kind}: the cluster does not serve kind ${kind} in ${apiVersion} (CRD missing or not established?)`,
        { httpStatus: 404, disposition: 'stall', ctx: { verb: 'discover', ...(object ? { object } : {}) } },
      );
    return info;
  }

  /** Server-side apply (`PATCH application/apply-patch+yaml` with a JSON body); returns the live object. */
  async apply(obj: KubeObject, info: ResourceInfo, opts: ApplyOptions = {}): Promise<KubeObject> {
    return (await this.http.request<KubeObject>(this.applyRequest(obj, info, opts, false))).body;
  }

  /**
   * The same apply with `dryRun=All`: admission and validation run, nothing is stored. Resolves
   * when the apiserver accepts it, with the warnings it gave (its answer, the object as it would
   * be, is not read); throws its refusal as {@link apply} would.
   */
  async applyDryRun(
    obj: KubeObject,
    info: ResourceInfo,
    opts: ApplyOptions = {},
  ): Promise<{ warnings: string[] }> {
    const res = await this.http.request({ ...this.applyRequest(obj, info, opts, true), discardBody: true });
    return { warnings: res.warnings };
  }

  private applyRequest(
    obj: KubeObject,
    info: ResourceInfo,
    opts: ApplyOptions,
    dryRun: boolean,
  ): KubeRequest {
    return {
      method: 'PATCH',
      path: resourcePath(info, obj.metadata.namespace, obj.metadata.name),
      query: {
        fieldManager: this.fieldManager,
        force: opts.force ? 'true' : undefined,
        dryRun: dryRun ? 'All' : undefined,
        // Server-side apply refuses a field the kind lacks on its own (a 500 we read as
        // kube.invalid), whatever this says. The apiserver's default (Warn) and Strict add a second,
        // strict YAML parse of every body, only to find duplicate keys, which JSON.stringify never
        // writes: about 3 % of the control plane's CPU under a bulk apply (bench/results/apiserver-profile.md).
        fieldValidation: 'Ignore',
      },
      body: opts.json ?? obj,
      contentType: 'application/apply-patch+yaml',
      ctx: { verb: dryRun ? 'dry-run apply' : 'apply', object: formatRef(refOf(obj)) },
    };
  }

  async get(info: ResourceInfo, ref: Target): Promise<KubeObject | undefined> {
    try {
      return (
        await this.http.request<KubeObject>({
          method: 'GET',
          path: resourcePath(info, ref.namespace, ref.name),
          ctx: { verb: 'get', object: formatRef(ref) },
        })
      ).body;
    } catch (err) {
      if (isKubeApiError(err, 'kube.not-found') || isKubeApiError(err, 'kube.namespace-not-found'))
        return undefined;
      throw err;
    }
  }

  /** Deletes with background propagation; false when it was already gone. */
  async delete(
    info: ResourceInfo,
    ref: Target,
    opts: { propagation?: 'Background' | 'Foreground'; uid?: string } = {},
  ): Promise<boolean> {
    try {
      await this.http.request({
        method: 'DELETE',
        path: resourcePath(info, ref.namespace, ref.name),
        body: {
          apiVersion: 'v1',
          kind: 'DeleteOptions',
          propagationPolicy: opts.propagation ?? 'Background',
          ...(opts.uid ? { preconditions: { uid: opts.uid } } : {}),
        },
        ctx: { verb: 'delete', object: formatRef(ref) },
      });
      return true;
    } catch (err) {
      if (isKubeApiError(err, 'kube.not-found') || isKubeApiError(err, 'kube.namespace-not-found'))
        return false;
      throw err;
    }
  }

  /** Every item of a LIST, all pages gathered: for small lists only (see {@link listEach}). */
  async list(info: ResourceInfo, opts: ListOptions = {}): Promise<KubeObject[]> {
    const items: KubeObject[] = [];
    await this.listEach(info, opts, (page) => {
      for (const item of page) items.push(item);
    });
    return items;
  }

  /**
   * A LIST read page by page (`limit` + `continue`): each page's items go to `onPage`, and the
   * page is dropped before the next is requested, so a caller that keeps only what it needs of
   * each object (a marker, a health, a diff) never holds a whole kind's objects at once. The
   * applier's 1000 Deployments with managedFields and status are several MiB of JSON and about
   * ten times that as parsed objects; holding every kind's at once was most of its peak memory.
   */
  async listEach(
    info: ResourceInfo,
    opts: ListOptions,
    onPage: (items: KubeObject[]) => void | Promise<void>,
  ): Promise<void> {
    let cont: string | undefined;
    const what = `${info.group ? `${info.group}/` : ''}${info.resource}${opts.namespace ? ` in ${opts.namespace}` : ''}`;
    // List items come without apiVersion/kind; give them back so they read like single GETs.
    const apiVersion = info.group === '' ? info.version : `${info.group}/${info.version}`;
    do {
      const res = await this.http.request<{ items?: KubeObject[]; metadata?: { continue?: string } }>({
        method: 'GET',
        path: resourcePath(info, opts.namespace),
        query: {
          labelSelector: opts.labelSelector,
          limit: String(opts.pageSize ?? 1000),
          continue: cont,
        },
        ...(opts.metadataOnly ? { accept: METADATA_LIST } : {}),
        ctx: { verb: 'list', object: what },
      });
      const items = res.body.items ?? [];
      if (!opts.metadataOnly)
        for (const item of items) {
          item.apiVersion = apiVersion;
          item.kind = info.kind;
        }
      cont = res.body.metadata?.continue || undefined;
      await onPage(items);
    } while (cont);
  }

  async create(info: ResourceInfo, obj: KubeObject): Promise<KubeObject> {
    return (
      await this.http.request<KubeObject>({
        method: 'POST',
        path: resourcePath(info, obj.metadata.namespace),
        query: { fieldManager: this.fieldManager },
        body: obj,
        ctx: { verb: 'create', object: formatRef(refOf(obj)) },
      })
    ).body;
  }

  /** PUT with the object's resourceVersion: optimistic concurrency (409 kube.conflict if it moved). */
  async replace(info: ResourceInfo, obj: KubeObject): Promise<KubeObject> {
    return (
      await this.http.request<KubeObject>({
        method: 'PUT',
        path: resourcePath(info, obj.metadata.namespace, obj.metadata.name),
        query: { fieldManager: this.fieldManager },
        body: obj,
        ctx: { verb: 'update', object: formatRef(refOf(obj)) },
      })
    ).body;
  }

  async close(): Promise<void> {
    await this.http.close();
  }
}

/** Built-in resources the applier itself uses, so it needs no discovery round trip for them. */
export const CORE_RESOURCES = {
  configMap: { group: '', version: 'v1', kind: 'ConfigMap', resource: 'configmaps', namespaced: true },
  namespace: { group: '', version: 'v1', kind: 'Namespace', resource: 'namespaces', namespaced: false },
  lease: {
    group: 'coordination.k8s.io',
    version: 'v1',
    kind: 'Lease',
    resource: 'leases',
    namespaced: true,
  },
  crd: {
    group: 'apiextensions.k8s.io',
    version: 'v1',
    kind: 'CustomResourceDefinition',
    resource: 'customresourcedefinitions',
    namespaced: false,
  },
} satisfies Record<string, ResourceInfo>;
