import { Bus, natsOptions, ownerRequests } from '@flotilla/bus';
import { GitCheckRequest, WebhookRejected } from '@flotilla/events';
import { Mirror, mirrorDirName } from '@flotilla/git';
import { createServiceServer, type Logger, type ServiceHandle } from '@flotilla/runtime';
import type { Config } from './config.ts';
import { type Cursor, CursorStore } from './cursor.ts';
import { HostLimiter } from './host-limiter.ts';
import { watcherMetrics } from './metrics.ts';
import { Ownership } from './ownership.ts';
import { resolveRepos, type WatchedRepo } from './repo.ts';
import { RepoWatcher } from './repo-watcher.ts';
import { registerWebhooks } from './webhooks.ts';

export interface GitWatcherHandle extends ServiceHandle {
  url: string;
  bus: Bus;
  instance: string;
  /** Repos this instance holds the lease for. */
  owned(): string[];
  /** The running watcher of an owned repo. */
  watcher(repo: string): RepoWatcher | undefined;
}

export async function startGitWatcher(
  config: Config,
  logger: Logger,
  opts: { env?: NodeJS.ProcessEnv } = {},
): Promise<GitWatcherHandle> {
  const repos = resolveRepos(config, opts.env);
  const byName = new Map(repos.map((r) => [r.name, r]));
  const server = createServiceServer({
    logger,
    bodyLimit: config.webhooks.bodyLimit,
    http: config.http,
  });
  const metrics = watcherMetrics(server.registry);
  const bus = await Bus.connect({
    ...natsOptions(config.nats),
    service: 'git-watcher',
    instance: config.instance,
    metrics: server.registry,
    logger,
  });
  const cursors = new CursorStore(await bus.kv<Cursor>(config.state.bucket));
  const limiter = new HostLimiter(config.poll.hostConcurrency);
  const watchers = new Map<string, RepoWatcher>();
  const stopping = new Set<Promise<void>>();
  const mirrors = new Map<string, Mirror>();

  // One Mirror per cache directory (per URL), shared by every repo watched on that URL: its queue
  // is the only writer of the directory, and what it knows of its refs holds for all of them.
  const mirrorOf = (repo: WatchedRepo): Mirror => {
    const dir = mirrorDirName(repo.url);
    let m = mirrors.get(dir);
    if (!m) {
      m = new Mirror({
        url: repo.url,
        cacheDir: config.cacheDir,
        credentials: repo.credentials,
        timeoutMs: config.poll.gitTimeoutMs,
        maxFetchBytes: config.poll.maxFetchBytes,
      });
      mirrors.set(dir, m);
    }
    return m;
  };

  const startWatcher = (name: string) => {
    const repo = byName.get(name);
    if (!repo) return;
    const w = new RepoWatcher({
      repo,
      mirror: mirrorOf(repo),
      bus,
      cursors,
      limiter,
      metrics,
      logger,
      poll: config.poll,
    });
    watchers.set(name, w);
    logger.info({ repo: name, url: repo.displayUrl }, 'watching repository');
    w.start();
  };
  const stopWatcher = (name: string) => {
    const w = watchers.get(name);
    if (!w) return;
    watchers.delete(name);
    logger.info({ repo: name }, 'repository lease lost; another instance watches it');
    const p = w.stop().finally(() => stopping.delete(p));
    stopping.add(p);
  };
  let closing = false;
  const reconcile = () => {
    if (closing) return;
    const held = new Set(ownership.held());
    for (const name of held) if (!watchers.has(name)) startWatcher(name);
    for (const name of [...watchers.keys()]) if (!held.has(name)) stopWatcher(name);
    metrics.reposOwned.set(watchers.size);
  };

  const ownership = new Ownership(bus, {
    instance: config.instance,
    ttlMs: config.lease.ttlMs,
    leaseBucket: config.lease.bucket,
    membersBucket: config.lease.membersBucket,
    balance: config.lease.balance,
    repos: () => repos.map((r) => r.name),
    // Edges (acquired/lost) only prompt a reconcile: what runs always follows what is held.
    onAcquired: () => reconcile(),
    onLost: () => reconcile(),
    onCycle: () => reconcile(),
    logger,
  });

  // Every instance serves; only the lease owner starts the check and answers.
  const checks = await ownerRequests(bus, GitCheckRequest, {
    instance: config.instance,
    timeoutMs: config.webhooks.forwardTimeoutMs,
    logger,
    runIfOwned: ({ repo, receivedAt, after }) => {
      const w = ownership.holds(repo) ? watchers.get(repo) : undefined;
      if (w) void w.trigger(receivedAt, after);
      return w !== undefined;
    },
  });
  const dispatch = async (repo: WatchedRepo, receivedAt: number, after?: string) => ({
    handledBy: await checks.dispatch({ repo: repo.name, receivedAt, ...(after ? { after } : {}) }),
  });

  await registerWebhooks(server.app, {
    config: config.webhooks,
    repos: () => repos,
    metrics,
    logger,
    publishRejection: async (r) => {
      await bus.publish(WebhookRejected, r, {
        actor: `webhook:${r.remoteAddress}`.slice(0, 256),
      });
    },
    dispatch,
  });
  server.addReadinessCheck({ name: 'nats', check: () => bus.connected });
  server.addReadinessCheck({ name: 'leases', check: () => ownership.started });

  await ownership.start();
  const url = await server.listen(config.http.port, config.http.host);
  logger.info({ url, repos: repos.length, instance: config.instance }, 'git-watcher listening');

  const stopWatchers = async () => {
    const all = [...watchers.values()];
    watchers.clear();
    await Promise.allSettled([...all.map((w) => w.stop()), ...stopping]);
  };

  return {
    url,
    bus,
    instance: config.instance,
    owned: () => [...watchers.keys()].filter((r) => ownership.holds(r)),
    watcher: (repo) => watchers.get(repo),
    async stop() {
      // Intake first (readiness off, no new checks), then finish in-flight checks, then hand the repos over.
      server.setShuttingDown();
      closing = true;
      await checks.stop();
      await stopWatchers();
      await ownership.stop();
      await bus.close();
      await server.close();
    },
  };
}
