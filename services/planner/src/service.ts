import type { ConsumerSpec, HandlerContext, Subscription } from '@flotilla/bus';
import { Bus, natsOptions } from '@flotilla/bus';
import { messageOf } from '@flotilla/errors';
import { sensitiveFieldRule } from '@flotilla/events';
import type { GitCredentials } from '@flotilla/git';
import { resolveKustomizeRenderer } from '@flotilla/render';
import {
  ConfigError,
  createServiceServer,
  type Logger,
  loadApiTokens,
  readSecret,
  type ServiceHandle,
} from '@flotilla/runtime';
import { signingKeyFromPem } from '@flotilla/trust';
import { registerApi } from './api.ts';
import { ClusterBundles, parseRecipients } from './cluster-bundles.ts';
import type { Config } from './config.ts';
import { ConfigRepo } from './config-repo.ts';
import { registerPlannerMetrics } from './metrics.ts';
import { LEADER_BUCKET, PLANNER_SLOTS, plannerConsumerSpec, plannerSlotConsumer } from './nats-resources.ts';
import { Planner } from './planner.ts';
import type { PlannerFaults } from './promotions.ts';
import { PlannerShards } from './shards.ts';
import { PlannerState } from './state.ts';

export interface PlannerHandle extends ServiceHandle {
  url: string;
  bus: Bus;
  planner: Planner;
  /** True while this instance holds the leader lease and acts (sharded: holds a member slot). */
  readonly leader: boolean;
  /** Sharded: the pipelines this instance serves now. */
  readonly shards?: PlannerShards;
}

export { LEADER_BUCKET };

const LEADER_KEY = 'planner';

export function repoNameOf(config: Config): string {
  return (
    config.git.repo ??
    config.git.url
      .replace(/\/+$/, '')
      .replace(/\.git$/, '')
      .split(/[/:]/)
      .pop() ??
    'config'
  );
}

/**
 * Wires the planner: HTTP server with the API, NATS, the config repo, and a leader lease. Only
 * the lease holder consumes events and acts; a standby keeps its HTTP server up (answering 503)
 * and takes over when the lease expires or is released.
 */
export async function startPlanner(
  config: Config,
  logger: Logger,
  /** Test hooks, never configuration: a shipped planner cannot be told to crash. */
  opts: { faults?: PlannerFaults } = {},
): Promise<PlannerHandle> {
  const pem = readSecret(config.signing.key, config.signing.keyFile);
  if (!pem) throw new ConfigError(['signing.keyFile (FLOTILLA_SIGNING_KEY_FILE) or signing.key is required']);
  const signingKey = signingKeyFromPem(config.signing.keyId, pem);
  const tokens = loadApiTokens(config.api);
  const token = readSecret(config.git.token, config.git.tokenFile);
  const credentials: GitCredentials = {
    ...(token ? { token } : {}),
    ...(config.git.username ? { username: config.git.username } : {}),
    ...(config.git.sshKeyFile ? { sshKeyFile: config.git.sshKeyFile } : {}),
  };

  // Found before anything connects: a configured flotilla-kustomize that is missing stops the
  // planner here instead of failing every render. With `auto` and neither program present the
  // planner still runs (plain-YAML clusters need neither); kustomizations then fail to render.
  const renderer = await resolveKustomizeRenderer(config.kustomize, config.kubectl).catch((e: unknown) => {
    if (config.kustomize !== 'auto') throw new ConfigError([`kustomize: ${messageOf(e)}`]);
    return null;
  });
  logger.info({ renderer: renderer ?? 'neither flotilla-kustomize nor kubectl found' }, 'kustomize renderer');

  const server = createServiceServer({
    logger,
    http: config.http,
  });
  const bus = await Bus.connect({
    ...natsOptions(config.nats),
    service: 'planner',
    instance: config.instance,
    metrics: server.registry,
    logger,
  });
  const repo = await ConfigRepo.open({
    url: config.git.url,
    branch: config.git.branch,
    workDir: config.workDir,
    credentials,
    author: { name: config.git.authorName, email: config.git.authorEmail },
    maxObjectBytes: config.git.maxObjectBytes,
    maxFetchBytes: config.git.maxFetchBytes,
  });
  const bundles = new ClusterBundles(bus, config.bundles.bucket, parseRecipients(config.bundles.recipients));
  // Every write checks the lease it is made under (set up below, before anything can write).
  const state = new PlannerState(await bus.kv(config.stateBucket), (scope) => planner.fenceState(scope));
  const sharded = config.lease.mode === 'sharded';
  // Set before anything can render (activation); read at the moment of each action.
  let fence: (pipeline: string) => number = () => {
    throw new Error('planner not started');
  };
  const planner = new Planner({
    bus,
    repo,
    bundles,
    state,
    signingKey,
    repoName: repoNameOf(config),
    branch: config.git.branch,
    pipelineFile: config.pipelineFile,
    kubectl: config.kubectl,
    kustomize: config.kustomize,
    evaluateIntervalMs: config.evaluateIntervalMs,
    logger,
    ...(opts.faults ? { faults: opts.faults } : {}),
    ...(config.idempotency?.ttlMs !== undefined ? { idempotencyTtlMs: config.idempotency.ttlMs } : {}),
    renderConcurrency: config.renderConcurrency,
    renderScope: config.renderScope,
    ...(config.renderOwnPush === false ? { renderOwnPush: false } : {}),
    ...(config.renderAhead === false ? { renderAhead: false } : {}),
    signature: config.git.signature,
    renderBudgets: config.render,
    fence: (pipeline) => fence(pipeline),
    sharded,
    diff: {
      ...(config.diff.hashKey ? { key: Buffer.from(config.diff.hashKey, 'utf8') } : {}),
      sensitive: sensitiveFieldRule(config.diff.sensitivePaths, 'diff.sensitivePaths'),
    },
  });
  // Every consumer of the planner (the single-mode durable or a member slot's) as configured.
  const consumeOptions = (spec: ConsumerSpec) => ({
    ...spec,
    handler: (event: Parameters<Planner['handle']>[0], ctx: HandlerContext) =>
      planner.handle(event, ctx.streamSequence),
    backoffMs: config.consumer.backoffMs,
    maxDeliver: config.consumer.maxDeliver,
    // A refused push is held (GitPushRejected raised on the 1st, 2nd, 4th… refusal) for up
    // to maxHeldMs, then dead-lettered as `held.expired` with its payload: never silently.
    holdWaiting: true,
    maxHeldMs: config.consumer.maxHeldMs,
  });

  server.addReadinessCheck({ name: 'nats', check: () => bus.connected });
  server.addReadinessCheck({ name: 'consumers', check: () => bus.consumersBound });
  registerPlannerMetrics(server.registry, planner);
  registerApi(server.app, planner, bus, tokens);
  const url = await server.listen(config.http.port, config.http.host);
  if (sharded) return await startSharded();

  /**
   * Sharded: every instance is active at once, serving the pipelines its leases give it (see
   * shards.ts), consuming through its member slot's durable.
   */
  async function startSharded(): Promise<PlannerHandle> {
    let slotSub: Subscription | undefined;
    let binding: Promise<void> = Promise.resolve();
    await planner.activate();
    const shards = await PlannerShards.open({
      bus,
      bucket: LEADER_BUCKET,
      instance: config.instance,
      ttlMs: config.lease.ttlMs,
      slots: PLANNER_SLOTS,
      pipelines: () => planner.declaredPipelines(),
      onSlot: async (slot) => {
        binding = binding.then(async () => {
          await slotSub?.stop();
          slotSub = undefined;
          if (slot !== null)
            slotSub = await bus.consume(consumeOptions(plannerSlotConsumer(slot, config.consumer.ackWaitMs)));
        });
        await binding;
      },
      onAcquired: (pipeline) =>
        void planner
          .acquire(pipeline)
          .catch((err) => logger.error({ err: messageOf(err), pipeline }, 'taking over a pipeline failed')),
      onLost: (pipeline) => void planner.release(pipeline),
      logger,
    });
    fence = (pipeline) => shards.fence(pipeline);
    await shards.start();
    return {
      url,
      bus,
      planner,
      shards,
      get leader() {
        return shards.memberSlot !== undefined && planner.isActive;
      },
      async stop() {
        server.setShuttingDown();
        await shards.stop();
        await binding;
        await slotSub?.stop();
        await planner.deactivate();
        await bus.close();
        await server.close();
        await repo.close();
      },
    };
  }

  let sub: Subscription | undefined;
  let leader = false;
  let transition: Promise<void> = Promise.resolve();
  const becomeLeader = async () => {
    if (leader) return;
    leader = true;
    logger.info({ instance: config.instance }, 'acquired planner leadership');
    try {
      await planner.activate();
      sub = await bus.consume(consumeOptions(plannerConsumerSpec(config.consumer.ackWaitMs)));
    } catch (err) {
      logger.error({ err: messageOf(err) }, 'activation failed; will retry on the next lease cycle');
      leader = false;
      await planner.deactivate();
      await lease.stop().catch(() => undefined);
      lease.start();
    }
  };
  const loseLeadership = async () => {
    if (!leader) return;
    leader = false;
    logger.warn({ instance: config.instance }, 'lost planner leadership; standing by');
    await sub?.stop();
    sub = undefined;
    await planner.deactivate();
  };
  const lease = await bus.leaseSet(LEADER_BUCKET, {
    owner: config.instance,
    ttlMs: config.lease.ttlMs,
    keys: () => [LEADER_KEY],
    onAcquired: () => {
      transition = transition.then(becomeLeader);
    },
    onLost: () => {
      transition = transition.then(loseLeadership);
    },
    onError: (err) => logger.warn({ err: messageOf(err) }, 'leader lease cycle failed'),
  });
  fence = () => lease.fence(LEADER_KEY);
  lease.start();

  return {
    url,
    bus,
    planner,
    get leader() {
      return leader && planner.isActive;
    },
    async stop() {
      server.setShuttingDown();
      await transition;
      await sub?.stop();
      await planner.deactivate();
      await bus.close(); // releases the lease so a standby takes over at once
      await server.close();
      await repo.close();
    },
  };
}
