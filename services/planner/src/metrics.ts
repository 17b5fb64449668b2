import { Gauge, type Registry } from 'prom-client';

/** What the planner's gauges read when scraped. */
export interface RenderLoad {
  /** Pipelines whose lane is rendering now. */
  rendering(): ReadonlyArray<unknown>;
  /** Renders handed to the lanes and not recorded yet (running or waiting). */
  pendingRenders(): number;
}

/**
 * The planner's render lanes on /metrics: a render stuck at its budget shows as one pipeline in
 * flight for long, a backlog as pending renders growing while in-flight stays at the limit.
 */
export function registerPlannerMetrics(registry: Registry, load: RenderLoad): void {
  new Gauge({
    name: 'planner_renders_in_flight',
    help: 'Pipelines whose render lane is rendering now',
    registers: [registry],
    collect() {
      this.set(load.rendering().length);
    },
  });
  new Gauge({
    name: 'planner_renders_pending',
    help: 'Pipeline renders handed to the lanes and not yet recorded (running or waiting)',
    registers: [registry],
    collect() {
      this.set(load.pendingRenders());
    },
  });
}
