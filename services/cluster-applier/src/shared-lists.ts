import { isKubeApiError, type KubeClient, type ResourceInfo } from '@flotilla/kube';
import type { KubeObject } from '@flotilla/manifests';
import { INVENTORY_LABEL } from './desired.ts';

/** Inventories named in one LIST's selector (label values are ≤ 63 characters: URLs stay short). */
const MAX_BATCH = 50;

interface Waiter {
  inventory: string;
  /** Where its objects of this kind are (namespaced kinds). */
  namespaces: ReadonlySet<string>;
  resolve: (items: KubeObject[] | 'unshared') => void;
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
 * (403) is answered `unshared` from then on, and the reader lists on its own as before.
 */
export class SharedLists {
  private readonly pending = new Map<string, Batch>();
  private readonly inFlight = new Set<string>();
  private readonly refused = new Set<string>();
  /** LISTs sent and reads they answered (tests and benches read these). */
  readonly stats = { lists: 0, reads: 0 };

  constructor(private readonly client: KubeClient) {}

  /**
   * The objects of `info` labelled with `inventory`, in every namespace; `unshared` when this
   * kind cannot be listed cluster-wide (the caller lists on its own). A kind the cluster does not
   * serve has no objects (as a LIST of its own would say with a 404).
   */
  read(
    info: ResourceInfo,
    inventory: string,
    metadataOnly: boolean,
    namespaces: ReadonlySet<string> = new Set(),
  ): Promise<KubeObject[] | 'unshared'> {
    const key = `${info.group}/${info.version}/${info.resource}/${metadataOnly ? 'meta' : 'full'}`;
    if (this.refused.has(key)) return Promise.resolve('unshared');
    return new Promise((resolve, reject) => {
      let batch = this.pending.get(key);
      if (!batch) {
        batch = { info, metadataOnly, waiters: [] };
        this.pending.set(key, batch);
      }
      batch.waiters.push({ inventory, namespaces, resolve, reject });
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
    void this.client
      .list(batch.info, {
        ...(namespace ? { namespace } : {}),
        labelSelector: `${INVENTORY_LABEL} in (${[...now].sort().join(',')})`,
        metadataOnly: batch.metadataOnly,
      })
      .then(
        (items) => {
          const byInventory = new Map<string, KubeObject[]>();
          for (const item of items) {
            const inv = (item.metadata.labels as Record<string, string> | undefined)?.[INVENTORY_LABEL];
            if (inv === undefined) continue;
            let list = byInventory.get(inv);
            if (!list) {
              list = [];
              byInventory.set(inv, list);
            }
            list.push(item);
          }
          for (const w of taken) w.resolve(byInventory.get(w.inventory) ?? []);
        },
        (err) => {
          if (isKubeApiError(err, 'kube.not-found')) for (const w of taken) w.resolve([]);
          else if (isKubeApiError(err, 'kube.forbidden')) {
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
