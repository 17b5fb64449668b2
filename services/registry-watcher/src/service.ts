import type { PollLoop } from '@flotilla/async';
import { Bus, type LeaseSet, natsOptions, ownerRequests } from '@flotilla/bus';
import { messageOf } from '@flotilla/errors';
import { ImageCheckRequest, ImageScanFailed, type ImageTagDetected, WebhookRejected } from '@flotilla/events';
import { RegistryClient } from '@flotilla/oci';
import { createServiceServer, type Logger, readSecret, type ServiceHandle } from '@flotilla/runtime';
import type { Config } from './config.ts';
import { type Emit, ImageChecker } from './image-checker.ts';
import { imageLoop } from './image-loop.ts';
import { RegistryLimiter } from './limiter.ts';
import { watcherMetrics } from './metrics.ts';
import type { TagHint } from './tag-diff.ts';
import { type ImageState, KvStateStore } from './tag-state.ts';
import { resolveImages, type WatchedImage } from './watched-image.ts';
import { registerWebhookRoutes } from './webhook-routes.ts';

export interface RegistryWatcher extends ServiceHandle {
  url: string;
  bus: Bus;
  /** Images this instance holds the lease for. */
  owned(): string[];
  /** Ask for an immediate check (as a webhook would); says which instance took it (null: no owner now). */
  requestCheck(image: string, hints?: TagHint[]): Promise<string | null>;
}

export async function startRegistryWatcher(config: Config, logger: Logger): Promise<RegistryWatcher> {
  const images = resolveImages(config);
  const byName = new Map(images.map((w) => [w.image, w]));
  const w = config.webhooks;
  const secrets = {
    distributionToken: readSecret(w.distributionToken, w.distributionTokenFile),
    dockerhubPathToken: readSecret(w.dockerhubPathToken, w.dockerhubPathTokenFile),
    harborAuth: readSecret(w.harborAuth, w.harborAuthFile),
    quayPathToken: readSecret(w.quayPathToken, w.quayPathTokenFile),
    acrAuth: readSecret(w.acrAuth, w.acrAuthFile),
    nexusSecret: readSecret(w.nexusSecret, w.nexusSecretFile),
    ghcrSecret: readSecret(w.ghcrSecret, w.ghcrSecretFile),
    artifactorySecret: readSecret(w.artifactorySecret, w.artifactorySecretFile),
    genericSecret: readSecret(w.genericSecret, w.genericSecretFile),
  };

  const server = createServiceServer({
    logger,
    bodyLimit: w.bodyLimit,
    http: config.http,
  });
  const metrics = watcherMetrics(server.registry);
  const bus = await Bus.connect({
    ...natsOptions(config.nats),
    service: 'registry-watcher',
    instance: config.instance,
    metrics: server.registry,
    logger,
  });
  server.addReadinessCheck({ name: 'nats', check: () => bus.connected });

  // One client per registry + credentials: token cache, learned auth scheme and ETags are shared.
  const clients = new Map<string, RegistryClient>();
  const clientFor = (img: WatchedImage): RegistryClient => {
    const key = `${img.registry}|${img.credentialsId}|${img.insecure}`;
    let client = clients.get(key);
    if (!client) {
      client = new RegistryClient({
        registry: img.registry,
        ...(img.credentials ? { credentials: img.credentials } : {}),
        insecure: img.insecure,
        userAgent: 'flotilla-registry-watcher/0.1',
        maxTags: img.maxTags,
        timeoutMs: config.poll.requestTimeoutMs,
        backoff: { maxRetryAfterMs: config.poll.maxRetryAfterMs },
      });
      metrics.trackClient(client);
      clients.set(key, client);
    }
    return client;
  };

  const emit: Emit = async (def, data, id) => {
    const published = await bus.publish(def as typeof ImageTagDetected, data as never, { id });
    metrics.events.inc({ type: def.name, duplicate: String(published.duplicate) });
    return { duplicate: published.duplicate };
  };

  const checker = new ImageChecker({
    store: new KvStateStore(await bus.kv<ImageState>(config.state.bucket)),
    emit,
    logger: logger.child({ component: 'checker' }),
    maxNewTagsPerCheck: config.poll.maxNewTagsPerCheck,
    platforms: config.poll.platforms,
    createdAt: config.poll.createdAt,
  });
  const limiter = new RegistryLimiter(config.poll.registryConcurrency);
  const loops = new Map<string, PollLoop<TagHint>>();

  const startLoop = (img: WatchedImage) => {
    const client = clientFor(img);
    const log = logger.child({ image: img.image });
    const loop = imageLoop({
      image: img,
      jitter: config.poll.jitter,
      maxBackoffMs: config.poll.maxBackoffMs,
      initialDelayMs: Math.min(1000, img.intervalMs * config.poll.jitter),
      run: async (trigger, hints) => {
        const release = await limiter.acquire(img.registry);
        try {
          return await checker.check(img, client, trigger, hints);
        } finally {
          release();
        }
      },
      onSuccess: (result, trigger) => {
        metrics.checks.inc({ trigger, result: result.tagsNotModified ? 'not-modified' : 'ok' });
        if (result.truncated) metrics.truncated.inc();
        if (result.detected || result.moved || result.removed)
          log.info({ trigger, ...result }, 'image checked');
      },
      // Counted after its report, like a successful check after its events.
      onFailure: (failure, failures, trigger) => {
        metrics.failures.inc({ code: failure.code });
        log.warn({ code: failure.code, failures, err: failure.message }, 'image check failed');
        metrics.checks.inc({ trigger, result: 'error' });
      },
      report: async (failure) => {
        try {
          const registryCode = failure.details?.registryCode;
          await bus.publish(ImageScanFailed, {
            image: img.image,
            code: failure.code,
            ...(typeof registryCode === 'string' ? { registryCode } : {}),
            message: failure.message.slice(0, 16_000),
            ...(failure.retryAfterMs !== undefined
              ? { retryAfterSeconds: Math.ceil(failure.retryAfterMs / 1000) }
              : {}),
          });
          metrics.events.inc({ type: ImageScanFailed.name, duplicate: 'false' });
        } catch (err) {
          log.error({ err: messageOf(err) }, 'could not publish ImageScanFailed');
          throw err;
        }
      },
    });
    loops.set(img.image, loop);
    metrics.owned.set(loops.size);
    loop.start();
  };

  const stopLoop = async (image: string) => {
    const loop = loops.get(image);
    loops.delete(image);
    metrics.owned.set(loops.size);
    await loop?.stop();
    checker.forget(image);
  };

  let stopped = false;
  const leases: LeaseSet = await bus.leaseSet(config.lease.bucket, {
    owner: config.instance,
    ttlMs: config.lease.ttlMs,
    keys: () => [...byName.keys()],
    onAcquired: (image) => {
      const img = byName.get(image);
      if (!img || loops.has(image) || stopped) return;
      logger.info({ image }, 'lease acquired; watching');
      startLoop(img);
    },
    onLost: async (image) => {
      logger.info({ image }, 'lease lost; no longer watching');
      await stopLoop(image);
    },
    onError: (err) => logger.warn({ err: messageOf(err) }, 'lease cycle failed'),
  });

  // Webhooks reach any instance; the owner of the image's lease runs the check and answers.
  const checks = await ownerRequests(bus, ImageCheckRequest, {
    instance: config.instance,
    timeoutMs: w.forwardTimeoutMs,
    logger,
    runIfOwned: ({ image, hints }) => {
      const loop = loops.get(image);
      if (loop) void loop.trigger(hints);
      return loop !== undefined;
    },
  });
  const requestCheck = (image: string, hints: TagHint[] = []) => checks.dispatch({ image, hints });

  await registerWebhookRoutes(server.app, {
    secrets,
    bodyLimit: w.bodyLimit,
    rejectionEventsPerMinute: w.rejectionEventsPerMinute,
    images: () => images,
    dispatch: requestCheck,
    metrics,
    logger,
    publishRejection: async (r) => {
      await bus.publish(WebhookRejected, r, { actor: `webhook:${r.remoteAddress}`.slice(0, 256) });
    },
  });

  leases.start();
  const url = await server.listen(config.http.port, config.http.host);
  logger.info({ url, images: images.length }, 'registry-watcher listening');

  return {
    url,
    bus,
    owned: () => [...loops.keys()],
    requestCheck,
    async stop() {
      if (stopped) return;
      stopped = true;
      server.setShuttingDown();
      // Stop intake of webhooks first, then let in-flight checks finish before leases are released.
      await server.close();
      await Promise.allSettled([...loops.keys()].map((image) => stopLoop(image)));
      await checks.stop();
      await bus.close();
    },
  };
}
