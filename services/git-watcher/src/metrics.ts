import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface WatcherMetrics {
  checks: Counter<'trigger' | 'result'>;
  gitProcesses: Counter;
  fetches: Counter;
  events: Counter<'type'>;
  failures: Counter<'code'>;
  webhooks: Counter<'receiver' | 'result'>;
  webhookRejections: Counter<'receiver' | 'reason'>;
  pushToEvent: Histogram;
  reposOwned: Gauge;
}

export function watcherMetrics(registry: Registry): WatcherMetrics {
  const registers = [registry];
  return {
    checks: new Counter({
      name: 'git_watcher_checks_total',
      help: 'Repo checks (polls and webhook-triggered) by result: unchanged (no fetch), changed, failed',
      labelNames: ['trigger', 'result'],
      registers,
    }),
    gitProcesses: new Counter({
      name: 'git_watcher_git_processes_total',
      help: 'git processes spawned by repo checks',
      registers,
    }),
    fetches: new Counter({ name: 'git_watcher_fetches_total', help: 'git fetches (or clones)', registers }),
    events: new Counter({
      name: 'git_watcher_events_total',
      help: 'Events published, by type',
      labelNames: ['type'],
      registers,
    }),
    failures: new Counter({
      name: 'git_watcher_failures_total',
      help: 'Failed repo checks, by error code',
      labelNames: ['code'],
      registers,
    }),
    webhooks: new Counter({
      name: 'git_watcher_webhooks_total',
      help: 'Webhooks received, by receiver and result',
      labelNames: ['receiver', 'result'],
      registers,
    }),
    webhookRejections: new Counter({
      name: 'git_watcher_webhook_rejections_total',
      help: 'Webhooks refused, by receiver and reason',
      labelNames: ['receiver', 'reason'],
      registers,
    }),
    pushToEvent: new Histogram({
      name: 'git_watcher_push_to_event_seconds',
      help: 'Webhook received → GitCommitDetected stored in JetStream',
      buckets: [0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30],
      registers,
    }),
    reposOwned: new Gauge({
      name: 'git_watcher_repos_owned',
      help: 'Repositories this instance holds the lease for',
      registers,
    }),
  };
}
