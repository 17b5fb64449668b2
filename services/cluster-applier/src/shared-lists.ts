import { isKubeApiError, type KubeClient, type ResourceInfo } from '@flotilla/kube';
import type { KubeObject } from '@flotilla/manifests';
import { INVENTORY_LABEL } from './desired.ts';
import { FULL_PAGE, METADATA_PAGE } from './live-state.ts';

/** Inventories named in one LIST's selector (label values are ≤ 63 characters: URLs stay short). */
const MAX_BATCH = 50;

interface Waiter {
  inventory: string;
  /** Where its objects of this kind are (namespaced kinds). */
  namespaces: ReadonlySet<string>;
  /** Its objects of each page, as the page arrives. */
  onItems: (items: readonly KubeObject[]) => void;
  /** What went wrong in its own onItems: it gets that error, the others go on. */
  failed?: unknown;
  resolve: (answer: 'done' | 'unshared') => void;
  reject: (err: unknown) => void;
}

interface Batch {
  info: ResourceInfo;
  metadataOnly: boolean;
  waiters: Waiter[];
}

/**
 * One LIST per kind for many pipelines' live-state reads at once: a no-op resync of 200 pipelines
 * on one cluster would otherwise send 200 LISTs of each kind, one per inventory. A read joins the
 * next LIST of its kind that has not been sent yet (one per kind in flight; the reads arriving
 * meanwhile go together in the one after), so every read is answered by a LIST sent after it
 * was asked: as fresh as a LIST of its own. The LIST is cluster-wide with the selector
 * `flotilla.io/inventory in (<the inventories asking>)`, and each reader gets the items labelled
 * with its own inventory only. Only for the applier's own client: a tenant's (impersonated) reads
 * stay its own, within what its RBAC lets it see. A kind the applier may not list cluster-wide
 * (403) is answered `unshared` from then on, and the reader lists on its own as before. The LIST
 * is read page by page and each reader is handed its objects of each page as it arrives, so no
 * whole kind is held at once (#17).
 */
export class SharedLists {
  private readonly pending = new Map<string, Batch>();
  private readonly inFlight = new Set<string>();
  private readonly refused = new Set<string>();
  /** LISTs sent and reads they answered (tests and benches read these). */
  readonly stats = { lists: 0, reads: 0 };

  constructor(private readonly client: KubeClient) {}

  /**
   * Hands `onItems` the objects of `info` labelled with `inventory`, in every namespace, a page
   * at a time; `done` once all were handed over, `unshared` when this kind cannot be listed
   * cluster-wide (nothing was handed over: the caller lists on its own). A kind the cluster does
   * not serve has no objects (as a LIST of its own would say with a 404).
   */
  read(
    info: ResourceInfo,
    inventory: string,
    metadataOnly: boolean,
    namespaces: ReadonlySet<string>,
    onItems: (items: readonly KubeObject[]) => void,
  ): Promise<'done' | 'unshared'> {
    const key = `${info.group}/${info.version}/${info.resource}/${metadataOnly ? 'meta' : 'full'}`;
    if (this.refused.has(key)) return Promise.resolve('unshared');
    return new Promise((resolve, reject) => {
      let batch = this.pending.get(key);
      if (!batch) {
        batch = { info, metadataOnly, waiters: [] };
        this.pending.set(key, batch);
      }
      batch.waiters.push({ inventory, namespaces, onItems, resolve, reject });
      if (!this.inFlight.has(key)) queueMicrotask(() => this.send(key));
    });
  }

  private send(key: string): void {
    if (this.inFlight.has(key)) return;
    const batch = this.pending.get(key);
    if (!batch) return;
    const inventories = [...new Set(batch.waiters.map((w) => w.inventory))];
    const now = new Set(inventories.slice(0, MAX_BATCH));
    const taken = batch.waiters.filter((w) => now.has(w.inventory));
    const left = batch.waiters.filter((w) => !now.has(w.inventory));
    if (left.length > 0) batch.waiters = left;
    else this.pending.delete(key);
    this.inFlight.add(key);
    this.stats.lists++;
    this.stats.reads += taken.length;
    // All in one namespace (a lone pipeline, usually): listed just there, as it would on its own.
    const where = new Set(taken.flatMap((w) => [...w.namespaces]));
    const namespace = batch.info.namespaced && where.size === 1 ? [...where][0] : undefined;
    const byInventory = new Map<string, Waiter[]>();
    for (const w of taken) byInventory.set(w.inventory, [...(byInventory.get(w.inventory) ?? []), w]);
    let delivered = false;
    void this.client
      .listEach(
        batch.info,
        {
          ...(namespace ? { namespace } : {}),
          labelSelector: `${INVENTORY_LABEL} in (${[...now].sort().join(',')})`,
          metadataOnly: batch.metadataOnly,
          pageSize: batch.metadataOnly ? METADATA_PAGE : FULL_PAGE,
        },
        (items) => {
          delivered = true;
          const page = new Map<string, KubeObject[]>();
          for (const item of items) {
            const inv = (item.metadata.labels as Record<string, string> | undefined)?.[INVENTORY_LABEL];
            if (inv === undefined) continue;
            let list = page.get(inv);
            if (!list) {
              list = [];
              page.set(inv, list);
            }
            list.push(item);
          }
          for (const [inv, list] of page)
            for (const w of byInventory.get(inv) ?? []) {
              if (w.failed !== undefined) continue;
              try {
                w.onItems(list);
              } catch (err) {
                w.failed = err;
              }
            }
        },
      )
      .then(
        () => {
          for (const w of taken)
            if (w.failed === undefined) w.resolve('done');
            else w.reject(w.failed);
        },
        (err) => {
          if (isKubeApiError(err, 'kube.not-found') && !delivered) for (const w of taken) w.resolve('done');
          else if (isKubeApiError(err, 'kube.forbidden') && !delivered) {
            // Cluster-wide refused: from now on each reader lists on its own (per namespace).
            if (!namespace) this.refused.add(key);
            for (const w of taken) w.resolve('unshared');
          } else for (const w of taken) w.reject(err);
        },
      )
      .finally(() => {
        this.inFlight.delete(key);
        if (this.refused.has(key)) {
          const rest = this.pending.get(key);
          this.pending.delete(key);
          for (const w of rest?.waiters ?? []) w.resolve('unshared');
        } else if (this.pending.has(key)) this.send(key);
      });
  }
}
