import { isKubeApiError, type KubeClient, mapLimit } from '@flotilla/kube';
import type { ObjectProblem } from './apply-error.ts';
import { type DesiredObject, INVENTORY_LABEL, PIPELINE_LABEL } from './desired.ts';
import { LiveState } from './live-state.ts';

/** Who an inventory belongs to, as people read it: the pipeline when there is one. */
export const ownerOf = (inventory: string, pipeline: string | undefined) =>
  pipeline ? `pipeline "${pipeline}" (inventory ${inventory})` : `inventory ${inventory}`;

/**
 * Objects this plan would take from another inventory (another pipeline on the same cluster, or
 * the cluster's root pipeline), like Flux's "already managed by". Only objects new to our own
 * inventory are looked at (what we already own cannot be someone else's), with one LIST per kind
 * and namespace selecting objects labelled with an inventory other than ours.
 */
export async function ownedElsewhere(
  client: KubeClient,
  candidates: readonly DesiredObject[],
  ours: { inventory: string; pipeline?: string },
  parallelism: number,
): Promise<ObjectProblem[]> {
  if (candidates.length === 0) return [];
  const foreign = new LiveState(
    client,
    ours.inventory,
    parallelism,
    `${INVENTORY_LABEL},${INVENTORY_LABEL}!=${ours.inventory}`,
  );
  // Per namespace, so a namespace we may not list (a tenant's plan reaching outside its
  // namespaces) is left to the dry-run, which reports it per object.
  const byNamespace = new Map<string, DesiredObject[]>();
  for (const d of candidates) {
    const k = d.info.namespaced ? (d.ref.namespace ?? '') : '';
    const group = byNamespace.get(k);
    if (group) group.push(d);
    else byNamespace.set(k, [d]);
  }
  // Only the owner labels of each listed object are kept, page by page (#17).
  const owners = new Map<string, { owner: string | undefined; pipeline: string | undefined }>();
  const wanted = new Set(candidates.map((d) => d.key));
  // The namespaces side by side (each one LIST per kind), not one round trip after another: a
  // bundle over ten namespaces waited ten rounds of LISTs before its dry-run could start (#20).
  await mapLimit([...byNamespace.values()], parallelism, async (group) => {
    try {
      await foreign.forEach(group, { metadataOnly: true }, (key, obj) => {
        if (!wanted.has(key)) return;
        const labels = obj.metadata.labels;
        owners.set(key, { owner: labels?.[INVENTORY_LABEL], pipeline: labels?.[PIPELINE_LABEL] });
      });
    } catch (err) {
      if (!isKubeApiError(err, 'kube.forbidden')) throw err;
    }
  });
  const problems: ObjectProblem[] = [];
  for (const d of candidates) {
    const { owner, pipeline } = owners.get(d.key) ?? {};
    if (!owner || owner === ours.inventory) continue;
    problems.push({
      object: d.label,
      code: 'apply.owned-elsewhere',
      reason: `already managed by ${ownerOf(owner, pipeline)}; this plan is ${ownerOf(ours.inventory, ours.pipeline)}`,
    });
  }
  return problems;
}
