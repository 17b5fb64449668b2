import { natsResources as auditWriter } from '@flotilla/audit-writer/nats-resources';
import { clusterBundleBucket, type NatsResources } from '@flotilla/bus';
import { natsResources as applier } from '@flotilla/cluster-applier/nats-resources';
import { SUBJECT_PREFIX } from '@flotilla/events';
import { natsResources as gitWatcher } from '@flotilla/git-watcher/nats-resources';
import { natsResources as planner } from '@flotilla/planner/nats-resources';
import { natsResources as registryWatcher } from '@flotilla/registry-watcher/nats-resources';

export interface InstallShape {
  /** Target clusters; each gets an `applier-<cluster>` identity. */
  clusters: readonly string[];
  /** Read-only subscriber identities (each may own one durable consumer of the same name). */
  subscribers?: readonly string[];
  /** Base name of the bundle stores (the planner's `bundles.bucket`); each cluster gets `<base>-<cluster>`. */
  bundleBucket?: string;
}

const CLUSTER_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/**
 * A read-only subscriber: live events and one durable consumer named after itself, which it
 * manages itself (it chooses its filters); it publishes nothing.
 */
export function subscriberResources(user: string): NatsResources {
  return {
    identity: user,
    consumers: [{ durable: user, filters: [`${SUBJECT_PREFIX}.>`] }],
    kv: [],
    objectStores: [],
    publishes: [],
    liveSubscribe: [`${SUBJECT_PREFIX}.>`],
    managesOwnConsumers: true,
  };
}

/** Every identity of an install, each as its service declares itself. */
export function flotillaDeclarations(o: InstallShape): NatsResources[] {
  for (const c of o.clusters)
    if (!CLUSTER_NAME.test(c)) throw new Error(`cluster name "${c}" must be a DNS label (a-z, 0-9, -)`);
  const bundles = { bucket: o.bundleBucket ?? 'flotilla-bundles' };
  return [
    planner({ bundles, clusters: o.clusters }),
    gitWatcher(),
    registryWatcher(),
    auditWriter(),
    ...o.clusters.map((cluster) =>
      applier({ cluster, bundles: { bucket: clusterBundleBucket(bundles.bucket, cluster) } }),
    ),
    ...(o.subscribers ?? ['subscriber']).map(subscriberResources),
  ];
}
