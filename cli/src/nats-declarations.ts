import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { NatsConfig as AuditWriterConfig } from '@flotilla/audit-writer/config';
import { natsResources as auditWriter } from '@flotilla/audit-writer/nats-resources';
import { clusterBundleBucket, type NatsResources } from '@flotilla/bus';
import { RENAMED as APPLIER_RENAMED, NatsConfig as ApplierConfig } from '@flotilla/cluster-applier/config';
import { natsResources as applier, applierIdentity } from '@flotilla/cluster-applier/nats-resources';
import { SUBJECT_PREFIX } from '@flotilla/events';
import { RENAMED as GIT_WATCHER_RENAMED, NatsConfig as GitWatcherConfig } from '@flotilla/git-watcher/config';
import { natsResources as gitWatcher } from '@flotilla/git-watcher/nats-resources';
import { RENAMED as PLANNER_RENAMED, NatsConfig as PlannerConfig } from '@flotilla/planner/config';
import { natsResources as planner } from '@flotilla/planner/nats-resources';
import {
  RENAMED as REGISTRY_WATCHER_RENAMED,
  NatsConfig as RegistryWatcherConfig,
} from '@flotilla/registry-watcher/config';
import { natsResources as registryWatcher } from '@flotilla/registry-watcher/nats-resources';
import { loadConfig } from '@flotilla/runtime';
import type { Static, TObject } from '@sinclair/typebox';

export interface InstallShape {
  /** Target clusters; each gets an `applier-<cluster>` identity. */
  clusters: readonly string[];
  /** Read-only subscriber identities (each may own one durable consumer of the same name). */
  subscribers?: readonly string[];
  /** Base name of the bundle stores (the planner's `bundles.bucket`); each cluster gets `<base>-<cluster>`. */
  bundleBucket?: string;
  /**
   * The services' config files, `<identity>.yaml` (`planner.yaml`, `audit-writer.yaml`,
   * `applier-<cluster>.yaml`, …, as in the `flotilla-config` ConfigMap). Each is read with its
   * service's own schema, so a consumer's ack wait, concurrency or durable and a bucket's name are
   * what that service binds to. A service without a file, or without this option, gets its
   * schema's defaults. The environment is not read: it is this command's, not the services'.
   */
  configDir?: string;
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

/**
 * The settings of `identity` that decide its NATS resources, as the service itself loads them:
 * its schema (`NatsConfig`) and defaults, from `<configDir>/<identity>.yaml` when there is one.
 */
function serviceConfig<S extends TObject>(
  o: InstallShape,
  identity: string,
  schema: S,
  renamed?: Readonly<Record<string, string>>,
): Static<S> {
  const file = o.configDir === undefined ? undefined : join(o.configDir, `${identity}.yaml`);
  return loadConfig(schema, {
    env: {},
    ...(file !== undefined && existsSync(file) ? { file } : {}),
    ...(renamed ? { renamed } : {}),
  });
}

/** Every identity of an install, each as its service declares itself with its configured settings. */
export function flotillaDeclarations(o: InstallShape): NatsResources[] {
  for (const c of o.clusters)
    if (!CLUSTER_NAME.test(c)) throw new Error(`cluster name "${c}" must be a DNS label (a-z, 0-9, -)`);
  const bundles = { bucket: o.bundleBucket ?? 'flotilla-bundles' };
  return [
    planner({
      ...serviceConfig(o, 'planner', PlannerConfig, PLANNER_RENAMED),
      bundles,
      clusters: o.clusters,
    }),
    gitWatcher(serviceConfig(o, 'git-watcher', GitWatcherConfig, GIT_WATCHER_RENAMED)),
    registryWatcher(serviceConfig(o, 'registry-watcher', RegistryWatcherConfig, REGISTRY_WATCHER_RENAMED)),
    auditWriter(serviceConfig(o, 'audit-writer', AuditWriterConfig)),
    ...o.clusters.map((cluster) =>
      applier({
        ...serviceConfig(o, applierIdentity(cluster), ApplierConfig, APPLIER_RENAMED),
        cluster,
        bundles: { bucket: clusterBundleBucket(bundles.bucket, cluster) },
      }),
    ),
    ...(o.subscribers ?? ['subscriber']).map(subscriberResources),
  ];
}
