import type { RegistryClient, RequestKind } from '@flotilla/oci';
import { Counter, Gauge, type Registry } from 'prom-client';

export interface WatcherMetrics {
  checks: Counter<'trigger' | 'result'>;
  events: Counter<'type' | 'duplicate'>;
  failures: Counter<'code'>;
  webhooks: Counter<'receiver' | 'result'>;
  webhookRejections: Counter<'receiver' | 'reason'>;
  truncated: Counter<never>;
  owned: Gauge<never>;
  /** Clients whose request counters feed `registry_watcher_registry_requests_total`. */
  trackClient(client: RegistryClient): void;
}

const KINDS: RequestKind[] = ['ping', 'tags', 'manifestHead', 'manifestGet', 'blob', 'token'];

export function watcherMetrics(registry: Registry): WatcherMetrics {
  const clients = new Map<RegistryClient, Record<RequestKind, number>>();
  const requests = new Counter({
    name: 'registry_watcher_registry_requests_total',
    help: 'HTTP requests sent to registries, by kind (retries and redirects included)',
    labelNames: ['registry', 'kind'] as const,
    registers: [registry],
    // The client counts its own requests; fold the growth in when scraped.
    collect() {
      for (const [client, last] of clients) {
        for (const kind of KINDS) {
          const delta = client.stats.byKind[kind] - last[kind];
          if (delta > 0) this.inc({ registry: client.registry, kind }, delta);
          last[kind] = client.stats.byKind[kind];
        }
      }
    },
  });
  void requests;
  return {
    checks: new Counter({
      name: 'registry_watcher_polls_total',
      help: 'Image checks (poll cycles and webhook-triggered checks) by result',
      labelNames: ['trigger', 'result'] as const,
      registers: [registry],
    }),
    events: new Counter({
      name: 'registry_watcher_events_total',
      help: 'Events published; duplicate=true when JetStream dropped it as already stored',
      labelNames: ['type', 'duplicate'] as const,
      registers: [registry],
    }),
    failures: new Counter({
      name: 'registry_watcher_failures_total',
      help: 'Failed image checks by Flotilla error code (oci.unauthorized, …)',
      labelNames: ['code'] as const,
      registers: [registry],
    }),
    webhooks: new Counter({
      name: 'registry_watcher_webhooks_total',
      help: 'Accepted webhook deliveries',
      labelNames: ['receiver', 'result'] as const,
      registers: [registry],
    }),
    webhookRejections: new Counter({
      name: 'registry_watcher_webhook_rejections_total',
      help: 'Refused webhook deliveries by reason',
      labelNames: ['receiver', 'reason'] as const,
      registers: [registry],
    }),
    truncated: new Counter({
      name: 'registry_watcher_tag_lists_truncated_total',
      help: 'Tag lists cut at maxTags',
      registers: [registry],
    }),
    owned: new Gauge({
      name: 'registry_watcher_owned_images',
      help: 'Images this instance holds the lease for',
      registers: [registry],
    }),
    trackClient(client) {
      if (!clients.has(client))
        clients.set(client, Object.fromEntries(KINDS.map((k) => [k, 0])) as Record<RequestKind, number>);
    },
  };
}
