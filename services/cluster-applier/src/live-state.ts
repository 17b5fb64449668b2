import { createHash } from 'node:crypto';
import { isKubeApiError, type KubeClient, mapLimit, type ResourceInfo } from '@flotilla/kube';
import { type KubeObject, refKey } from '@flotilla/manifests';
import { INVENTORY_LABEL } from './desired.ts';
import type { SharedLists } from './shared-lists.ts';

export interface Listable {
  info: ResourceInfo;
  ref: { namespace?: string };
}

/**
 * Reads the live objects of our inventory with one LIST per kind (label selector on our
 * inventory label), instead of one GET per object: 4000 objects are a handful of requests; with
 * `shared`, that LIST also answers the other pipelines reading the same kind at the same time.
 * An applier whose RBAC does not allow cluster-wide lists falls back to one list per namespace.
 */
export class LiveState {
  /** Resources we may not list cluster-wide (learned from a 403). */
  private readonly namespacedOnly = new Set<string>();

  constructor(
    private readonly client: KubeClient,
    private readonly inventoryName: string,
    private readonly parallelism: number,
    /** Another selection than "ours" (ownership checks list what other inventories hold). */
    private readonly selector?: string,
    /** LISTs shared with the other pipelines' appliers on this cluster (see SharedLists). */
    private readonly shared?: SharedLists,
  ) {}

  /**
   * Every live object of ours among the kinds (and namespaces) of `objects`, by object key, one
   * LIST page at a time: `fn` sees each object once, and a page is released before the next is
   * read. Callers keep only what they need of each (a marker, a health, a diff), so the applier
   * never holds the live objects of a whole bundle at once (#17).
   */
  async forEach(
    objects: readonly Listable[],
    opts: { metadataOnly: boolean },
    fn: (key: string, live: KubeObject) => void,
  ): Promise<void> {
    const groups = new Map<string, { info: ResourceInfo; namespaces: Set<string> }>();
    for (const o of objects) {
      const id = `${o.info.group}/${o.info.version}/${o.info.resource}`;
      let g = groups.get(id);
      if (!g) {
        g = { info: o.info, namespaces: new Set() };
        groups.set(id, g);
      }
      if (o.info.namespaced && o.ref.namespace) g.namespaces.add(o.ref.namespace);
    }
    const labelSelector = this.selector ?? `${INVENTORY_LABEL}=${this.inventoryName}`;
    const pageSize = opts.metadataOnly ? METADATA_PAGE : FULL_PAGE;
    const each = (info: ResourceInfo) => (items: readonly KubeObject[]) => {
      for (const item of items) {
        const ns = info.namespaced ? item.metadata.namespace : undefined;
        fn(
          refKey({
            group: info.group,
            kind: info.kind,
            name: item.metadata.name,
            ...(ns ? { namespace: ns } : {}),
          }),
          item,
        );
      }
    };
    // Our own objects through the shared LISTs where they may be listed cluster-wide.
    const shared = this.shared && this.selector === undefined ? this.shared : undefined;
    if (shared) {
      const answers = await Promise.all(
        [...groups].map(async ([id, g]) => ({
          id,
          answer: await shared.read(
            g.info,
            this.inventoryName,
            opts.metadataOnly,
            g.namespaces,
            each(g.info),
          ),
        })),
      );
      for (const { id, answer } of answers) if (answer === 'done') groups.delete(id);
    }
    const jobs: { info: ResourceInfo; namespace?: string }[] = [];
    for (const [id, g] of groups) {
      // One namespace: list just there (cheaper, and needs no cluster-wide permission).
      if (!g.info.namespaced || (g.namespaces.size > 1 && !this.namespacedOnly.has(id)))
        jobs.push({ info: g.info });
      else for (const namespace of g.namespaces) jobs.push({ info: g.info, namespace });
    }
    await mapLimit(jobs, this.parallelism, async (job) => {
      try {
        await this.client.listEach(
          job.info,
          { ...job, labelSelector, metadataOnly: opts.metadataOnly, pageSize },
          each(job.info),
        );
      } catch (err) {
        // A LIST answered 404 means the kind is not served (yet): a CRD arriving in this very
        // bundle has no objects anywhere, so nothing of it is ours or anyone else's. Both refusals
        // come with the first page, before `fn` has seen anything of this kind.
        if (isKubeApiError(err, 'kube.not-found')) return;
        if (!(isKubeApiError(err, 'kube.forbidden') && job.namespace === undefined && job.info.namespaced))
          throw err;
        const id = `${job.info.group}/${job.info.version}/${job.info.resource}`;
        this.namespacedOnly.add(id);
        const namespaces = [...(groups.get(id)?.namespaces ?? [])];
        await mapLimit(namespaces, this.parallelism, (namespace) =>
          this.client.listEach(
            job.info,
            { namespace, labelSelector, metadataOnly: opts.metadataOnly, pageSize },
            each(job.info),
          ),
        );
      }
    });
  }

  /** Every live object of ours among the kinds of `objects`, by key: for small selections only. */
  async read(
    objects: readonly Listable[],
    opts: { metadataOnly: boolean },
  ): Promise<Map<string, KubeObject>> {
    const live = new Map<string, KubeObject>();
    await this.forEach(objects, opts, (key, obj) => live.set(key, obj));
    return live;
  }
}

/**
 * Objects per LIST page, so that one page's JSON stays under V8's largest regular heap object
 * (128 KiB): a response text above it is allocated in large-object space, which only a full GC
 * frees, and health polls and drift checks of thousands of objects then pile up tens of MiB of
 * dead page texts between full GCs (#17). A live Deployment with managedFields and status is
 * about 2–2.5 KiB of JSON, its metadata alone about 1 KiB. More requests, each cheap: 1000
 * Deployments are 25 LISTs.
 */
export const FULL_PAGE = 40;
export const METADATA_PAGE = 100;

interface ManagedFieldsEntry {
  manager?: string;
  operation?: string;
  apiVersion?: string;
  time?: string;
  subresource?: string;
  fieldsV1?: Record<string, unknown>;
}

/** A write to the status subresource: by its `subresource`, or (older servers) by owning only status. */
function isStatusEntry(e: ManagedFieldsEntry): boolean {
  if (e.subresource === 'status') return true;
  const keys = Object.keys(e.fieldsV1 ?? {});
  return e.subresource === undefined && keys.length === 1 && keys[0] === 'f:status';
}

/**
 * What changes when someone edits an object's desired state, so an unchanged object is not sent
 * again: `generation` where the kind has one. Kinds without it (APIService, ConfigMap, RBAC…)
 * bump only resourceVersion, and so does every status update (an APIService's availability
 * moves all the time), so for them the marker is a digest of the managedFields entries that are
 * not status writes: any other writer, or any other change of a field, shows up there (manager,
 * fields owned, time of the last change), a controller updating status does not.
 * resourceVersion is the fallback when the server sends no managedFields.
 */
export function liveMarker(obj: KubeObject | undefined): string | undefined {
  if (!obj) return undefined;
  const g = obj.metadata.generation;
  if (typeof g === 'number') return `g${g}`;
  const managed = obj.metadata.managedFields as ManagedFieldsEntry[] | undefined;
  if (Array.isArray(managed) && managed.length > 0) {
    const spec = managed
      .filter((e) => !isStatusEntry(e))
      .map((e) => [e.manager, e.operation, e.apiVersion, e.subresource ?? '', e.time, e.fieldsV1]);
    return `m${createHash('sha256').update(JSON.stringify(spec)).digest('hex').slice(0, 32)}`;
  }
  const rv = obj.metadata.resourceVersion;
  return typeof rv === 'string' ? `r${rv}` : undefined;
}
