import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { FlotillaError } from '@flotilla/errors';
import type { KubeObject } from '@flotilla/manifests';
import { CORE_RESOURCES, type KubeClient } from '../client/kube-client.ts';

/** One object we applied: how to address it again and what we sent. */
export interface InventoryEntry {
  /** apiVersion it was applied with (refKeys carry no version; deletes need one). */
  v: string;
  /** objectHash of the body we applied; '' while an apply is in progress. */
  h: string;
  /** Live marker right after our apply: `g<generation>` or `r<resourceVersion>`. */
  m?: string;
}

/**
 * What the applier owns in a cluster, stored in the cluster itself (a ConfigMap), so a restarted
 * or newly elected applier knows what to prune and which plan it applied last.
 */
export interface Inventory {
  name: string;
  cluster: string;
  /** Sequence of the last plan applied completely; plans at or below (epoch, sequence) are replays. */
  sequence: number;
  /** The planner epoch (leader fencing token) of that plan; absent in inventories from before epochs. */
  epoch?: number;
  digest?: string;
  revision?: string;
  planId?: string;
  appliedAt?: string;
  /**
   * Set while a plan is being applied: entries are then the union of the old and new objects,
   * so a crash half-way leaves nothing we created unowned.
   */
  applying?: { planId: string; sequence: number };
  entries: Record<string, InventoryEntry>;
}

const ENTRIES_KEY = 'entries.json.gz';
/** ConfigMaps are capped at 1 MiB; leave room for metadata. */
const MAX_COMPRESSED = 900 * 1024;

/**
 * The inventory of one pipeline in a cluster: each pipeline prunes only what it applied and owns
 * its objects (label value, so at most 63 characters; a long name ends in a hash instead).
 * Without a pipeline (a repo's root flotilla.yaml) it is the cluster's inventory, as before.
 */
export function pipelineInventoryName(cluster: string, pipeline?: string): string {
  const base = inventoryName(cluster);
  if (!pipeline) return base;
  const name = `${base}.${pipeline}`;
  if (name.length <= 63) return name;
  return `${base.slice(0, 49)}.${createHash('sha256').update(pipeline).digest('hex').slice(0, 12)}`;
}

export function inventoryName(cluster: string): string {
  const safe = cluster
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40);
  return `flotilla-inventory-${safe || 'cluster'}`;
}

export class InventoryStore {
  constructor(
    private readonly client: KubeClient,
    readonly namespace: string,
  ) {}

  async read(name: string): Promise<Inventory | undefined> {
    const cm = await this.client.get(CORE_RESOURCES.configMap, {
      group: '',
      kind: 'ConfigMap',
      namespace: this.namespace,
      name,
    });
    if (!cm) return undefined;
    const data = (cm.data ?? {}) as Record<string, string>;
    const bin = (cm.binaryData ?? {}) as Record<string, string>;
    let entries: Record<string, InventoryEntry> = {};
    const packed = bin[ENTRIES_KEY];
    if (packed) {
      try {
        entries = JSON.parse(gunzipSync(Buffer.from(packed, 'base64')).toString('utf8'));
      } catch (err) {
        throw new FlotillaError(
          'inventory.corrupt',
          `inventory ${this.namespace}/${name} cannot be read: ${(err as Error).message}`,
          {
            cause: err,
          },
        );
      }
    }
    const inv: Inventory = {
      name,
      cluster: data.cluster ?? '',
      sequence: Number(data.sequence ?? 0) || 0,
      entries,
    };
    if (data.epoch !== undefined && Number.isSafeInteger(Number(data.epoch))) inv.epoch = Number(data.epoch);
    for (const k of ['digest', 'revision', 'planId', 'appliedAt'] as const) if (data[k]) inv[k] = data[k];
    if (data.applyingPlanId)
      inv.applying = { planId: data.applyingPlanId, sequence: Number(data.applyingSequence ?? 0) };
    return inv;
  }

  async write(inv: Inventory): Promise<void> {
    const packed = gzipSync(JSON.stringify(inv.entries));
    if (packed.byteLength > MAX_COMPRESSED)
      throw new FlotillaError(
        'inventory.too-large',
        `inventory of ${Object.keys(inv.entries).length} objects is ${packed.byteLength} bytes compressed, over the ConfigMap budget`,
      );
    const data: Record<string, string> = {
      cluster: inv.cluster,
      sequence: String(inv.sequence),
      ...(inv.epoch === undefined ? {} : { epoch: String(inv.epoch) }),
      count: String(Object.keys(inv.entries).length),
    };
    for (const k of ['digest', 'revision', 'planId', 'appliedAt'] as const) {
      const v = inv[k];
      if (v) data[k] = v;
    }
    if (inv.applying) {
      data.applyingPlanId = inv.applying.planId;
      data.applyingSequence = String(inv.applying.sequence);
    }
    const cm: KubeObject = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: inv.name,
        namespace: this.namespace,
        labels: { 'app.kubernetes.io/managed-by': 'flotilla', 'flotilla.io/role': 'inventory' },
      },
      data,
      binaryData: { [ENTRIES_KEY]: packed.toString('base64') },
    };
    await this.client.apply(cm, CORE_RESOURCES.configMap, { force: true });
  }
}
