import { Counter, type Registry } from 'prom-client';

export interface ApplierMetrics {
  /** A plan that failed, by code and disposition (`stall`: refused for good, e.g. `plan.replayed`). */
  planFailures: Counter<'code' | 'disposition'>;
  /** Apiserver outages a plan waited out before it was applied again. */
  apiserverOutages: Counter;
}

/**
 * The applier's own counters on /metrics (the bus adds its consumer's). A refused plan is acked
 * with an `ApplyFailed` event and never dead-lettered, so without this counter a planner whose
 * plans are all refused as replays would look healthy to a scrape.
 */
export function applierMetrics(registry: Registry): ApplierMetrics {
  return {
    planFailures: new Counter({
      name: 'cluster_applier_plan_failures_total',
      help: 'Plans that failed, by error code and disposition (stall: refused, not retried; retry: redelivered)',
      labelNames: ['code', 'disposition'] as const,
      registers: [registry],
    }),
    apiserverOutages: new Counter({
      name: 'cluster_applier_apiserver_outages_total',
      help: 'Apiserver outages a plan waited out (retried once /readyz answered)',
      registers: [registry],
    }),
  };
}
