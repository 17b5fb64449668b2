import { Bus, natsOptions, type Subscription } from '@flotilla/bus';
import { messageOf } from '@flotilla/errors';
import {
  CORE_RESOURCES,
  InventoryStore,
  inventoryName,
  isKubeApiError,
  KubeClient,
  LeaderLease,
} from '@flotilla/kube';
import { createServiceServer, type Logger, readSecret, type ServiceHandle } from '@flotilla/runtime';
import { loadTrustedKeys, sealingPrivateKey, type TrustedKey } from '@flotilla/trust';
import type { Applier } from './applier.ts';
import type { Config } from './config.ts';
import { driftProtection } from './drift-protection.ts';
import { applierMetrics } from './metrics.ts';
import { applierConsumer, plansInHand } from './nats-resources.ts';
import { apiserverUnreachable, retryAcrossOutages } from './outage-retry.ts';
import { PipelineAppliers } from './pipeline-appliers.ts';

export interface ApplierHandle extends ServiceHandle {
  url: string;
  bus: Bus;
  client: KubeClient;
  /** The root pipeline's applier (plans that name no pipeline). */
  applier: Applier;
  /** Every pipeline's applier on this cluster. */
  appliers: PipelineAppliers;
  /** True while this replica holds the Lease and applies. */
  readonly leader: boolean;
  /** Apiserver outages a plan waited out (retried when /readyz answered, not on the backoff). */
  readonly outagesWaited: number;
}

export interface StartOptions {
  /** Trusted keys given directly (tests); otherwise loaded from `config.trustedKeys`. */
  trustedKeys?: TrustedKey[];
}

/**
 * Wires the applier: kube client (kubeconfig or in-cluster ServiceAccount), NATS, a Lease that
 * elects the one replica that acts, and while leader: the plan consumer (`applier-<cluster>`,
 * only this cluster's PlanCreated, one at a time) and the periodic drift check.
 */
export async function startApplier(
  config: Config,
  logger: Logger,
  opts: StartOptions = {},
): Promise<ApplierHandle> {
  const trustedKeys = opts.trustedKeys ?? loadTrustedKeys(config.trustedKeys);
  const sealingPem = readSecret(config.sealing.key, config.sealing.keyFile);
  const sealingKey = sealingPem ? sealingPrivateKey(sealingPem) : undefined;
  if (config.requireSignedPlans && trustedKeys.length === 0)
    logger.warn('requireSignedPlans is on but no trusted keys are configured: every plan will be refused');
  const server = createServiceServer({
    logger,
    http: config.http,
  });
  const client = await KubeClient.connect(
    {
      ...(config.kube.kubeconfig ? { kubeconfigPath: config.kube.kubeconfig } : {}),
      inCluster: config.kube.inCluster,
      ...(config.kube.context ? { context: config.kube.context } : {}),
    },
    {
      connections: config.kube.parallelism,
      timeoutMs: config.kube.timeoutMs,
      fieldManager: config.fieldManager,
    },
  );
  const bus = await Bus.connect({
    ...natsOptions(config.nats),
    service: 'cluster-applier',
    instance: config.instance,
    metrics: server.registry,
    logger,
  });
  const metrics = applierMetrics(server.registry);
  const name = inventoryName(config.cluster);
  await ensureNamespace(client, config.inventoryNamespace, logger);
  const appliers = new PipelineAppliers({
    config,
    client,
    bus,
    inventory: new InventoryStore(client, config.inventoryNamespace),
    trustedKeys,
    sealingKey,
    driftProtection: driftProtection(config.drift, logger),
    logger,
    metrics,
  });
  const applier = appliers.get();
  let outagesWaited = 0;

  let sub: Subscription | undefined;
  let driftTimer: NodeJS.Timeout | undefined;
  let stopping = false;
  const startConsuming = async () => {
    if (sub || stopping) return;
    // Another replica may have applied while we did not hold the Lease.
    appliers.forgetInventories();
    sub = await bus.consume({
      ...applierConsumer(config.cluster, config.consumer.ackWaitMs, plansInHand(config.pipelineConcurrency)),
      // Plans of different pipelines apply side by side; one pipeline's plans stay in order.
      confirmAcks: true,
      // An apiserver outage can last: keep retrying (with backoff) rather than dead-letter the plan.
      maxDeliver: 1000,
      backoffMs: [2000, 5000, 15_000, 30_000, 60_000],
      handler: (event, ctx) =>
        // A plan cut by an apiserver outage is retried the moment /readyz answers again, not on
        // the backoff above (which walks up to a minute under repeated outages).
        retryAcrossOutages(
          () => {
            // A replica paused past its Lease (SIGSTOP, a long GC) must not apply when it resumes,
            // even before its next lease round stops this consumer: `kube.lease-lost` redelivers.
            lease.fence();
            return appliers.handlePlan(event, ctx);
          },
          {
            ready: () => client.http.ready(),
            unreachable: apiserverUnreachable,
            // Within the consumer's ack wait thanks to working(); beyond it the backoff resumes.
            maxWaitMs: 5 * 60_000,
            probeEveryMs: 500,
            maxOutages: 10,
            working: ctx.working,
            // A lease lost to the same outage must not keep the plan (or a stop) waiting here.
            abandon: () => stopping || !lease.isLeader,
            onOutage: (err) => {
              outagesWaited++;
              metrics.apiserverOutages.inc();
              logger.warn({ err: messageOf(err) }, 'apiserver down; retrying the plan once /readyz answers');
            },
          },
        ),
    });
    if (config.drift.intervalMs > 0) {
      const tick = () => {
        driftTimer = setTimeout(async () => {
          try {
            await appliers.checkDrift();
          } catch (err) {
            logger.warn({ err: messageOf(err) }, 'drift check failed');
          }
          if (sub) tick();
        }, config.drift.intervalMs);
      };
      tick();
    }
    logger.info({ cluster: config.cluster }, 'leader: consuming plans');
  };
  const stopConsuming = async () => {
    clearTimeout(driftTimer);
    const s = sub;
    sub = undefined;
    await s?.stop();
  };

  const lease = new LeaderLease(client, {
    namespace: config.inventoryNamespace,
    name: config.lease.name ?? `flotilla-applier-${name.slice('flotilla-inventory-'.length)}`,
    identity: `${config.instance}`,
    durationSeconds: config.lease.durationSeconds,
    onAcquired: startConsuming,
    onLost: async (reason) => {
      // Releasing it on a clean stop is the normal end, not a warning.
      if (reason === 'released') logger.info('released the leader lease: stopped');
      else logger.warn('lost the leader lease: stopping plan intake');
      await stopConsuming();
    },
    onError: (err) => logger.warn({ err: messageOf(err) }, 'lease renewal failed'),
  });
  await lease.tryOnce().catch((err) => logger.warn({ err: messageOf(err) }, 'first lease attempt failed'));
  lease.start();

  server.addReadinessCheck({ name: 'nats', check: () => bus.connected });
  server.addReadinessCheck({ name: 'consumers', check: () => bus.consumersBound });
  const url = await server.listen(config.http.port, config.http.host);
  return {
    url,
    bus,
    client,
    applier,
    appliers,
    get leader() {
      return lease.isLeader;
    },
    get outagesWaited() {
      return outagesWaited;
    },
    async stop() {
      stopping = true;
      server.setShuttingDown();
      await stopConsuming();
      await lease.stop();
      await bus.close();
      await client.close();
      await server.close();
    },
  };
}

/** The inventory namespace must exist; create it when allowed, otherwise say so clearly. */
async function ensureNamespace(client: KubeClient, namespace: string, logger: Logger): Promise<void> {
  try {
    const ns = await client.get(CORE_RESOURCES.namespace, { group: '', kind: 'Namespace', name: namespace });
    if (ns) return;
  } catch (err) {
    if (!isKubeApiError(err, 'kube.forbidden')) throw err;
    return; // cannot read namespaces: assume it exists (writes will tell otherwise)
  }
  try {
    await client.apply(
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } },
      CORE_RESOURCES.namespace,
      { force: true },
    );
  } catch (err) {
    logger.warn({ namespace, err: messageOf(err) }, 'inventory namespace missing and cannot be created');
  }
}
