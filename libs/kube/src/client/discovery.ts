import { isKubeApiError } from './kube-errors.ts';
import type { KubeHttp } from './kube-http.ts';

/** How to reach one kind at one API version. */
export interface ResourceInfo {
  group: string;
  version: string;
  kind: string;
  /** Plural resource name used in URLs, e.g. `deployments`. */
  resource: string;
  namespaced: boolean;
}

interface ApiResourceList {
  resources?: { name: string; kind: string; namespaced: boolean }[];
}

/**
 * API discovery per group/version (`/api/v1`, `/apis/<group>/<version>`), cached. A kind we do not
 * find triggers one refresh of its group/version (at most every `minRefreshMs`), so a CRD that
 * became Established is picked up without restarting; {@link invalidate} forces it.
 */
export class Discovery {
  private readonly cache = new Map<
    string,
    { at: number; kinds: Promise<Map<string, ResourceInfo> | null> }
  >();

  constructor(
    private readonly http: KubeHttp,
    private readonly opts: { minRefreshMs?: number } = {},
  ) {}

  /** undefined when the group/version is not served or does not have this kind. */
  async resolve(apiVersion: string, kind: string): Promise<ResourceInfo | undefined> {
    let entry = this.entry(apiVersion);
    let found = (await entry.kinds)?.get(kind);
    if (!found && Date.now() - entry.at >= (this.opts.minRefreshMs ?? 2000)) {
      this.cache.delete(apiVersion);
      entry = this.entry(apiVersion);
      found = (await entry.kinds)?.get(kind);
    }
    return found;
  }

  /** Forget one group/version (e.g. after its CRD became Established) or everything. */
  invalidate(apiVersion?: string): void {
    if (apiVersion === undefined) this.cache.clear();
    else this.cache.delete(apiVersion);
  }

  private entry(apiVersion: string) {
    let entry = this.cache.get(apiVersion);
    if (!entry) {
      entry = { at: Date.now(), kinds: this.load(apiVersion) };
      // A failed load (apiserver down) must not be cached.
      entry.kinds.catch(() => this.cache.delete(apiVersion));
      this.cache.set(apiVersion, entry);
    }
    return entry;
  }

  private async load(apiVersion: string): Promise<Map<string, ResourceInfo> | null> {
    const slash = apiVersion.indexOf('/');
    const group = slash < 0 ? '' : apiVersion.slice(0, slash);
    const version = slash < 0 ? apiVersion : apiVersion.slice(slash + 1);
    const path = group === '' ? `/api/${version}` : `/apis/${group}/${version}`;
    let list: ApiResourceList;
    try {
      list = (
        await this.http.request<ApiResourceList>({
          method: 'GET',
          path,
          ctx: { verb: 'discover', object: apiVersion },
        })
      ).body;
    } catch (err) {
      if (isKubeApiError(err, 'kube.not-found')) return null;
      throw err;
    }
    const kinds = new Map<string, ResourceInfo>();
    for (const r of list.resources ?? []) {
      if (r.name.includes('/')) continue; // subresources
      if (!kinds.has(r.kind))
        kinds.set(r.kind, { group, version, kind: r.kind, resource: r.name, namespaced: r.namespaced });
    }
    return kinds;
  }
}
