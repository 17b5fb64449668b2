import { Counter, Histogram, type Registry } from 'prom-client';

export interface BusMetrics {
  published: Counter<'type'>;
  consumed: Counter<'consumer' | 'outcome'>;
  deadLettered: Counter<'consumer' | 'code'>;
  handlerSeconds: Histogram<'consumer'>;
}

const perRegistry = new WeakMap<Registry, BusMetrics>();

export function busMetrics(registry: Registry): BusMetrics {
  const existing = perRegistry.get(registry);
  if (existing) return existing;
  const m: BusMetrics = {
    published: new Counter({
      name: 'flotilla_bus_published_total',
      help: 'Events published and acknowledged by JetStream.',
      labelNames: ['type'],
      registers: [registry],
    }),
    consumed: new Counter({
      name: 'flotilla_bus_consumed_total',
      help: 'Messages handled, by outcome (ack, retry, dead-letter).',
      labelNames: ['consumer', 'outcome'],
      registers: [registry],
    }),
    deadLettered: new Counter({
      name: 'flotilla_bus_dead_lettered_total',
      help: 'Messages set aside on the dead-letter subject.',
      labelNames: ['consumer', 'code'],
      registers: [registry],
    }),
    handlerSeconds: new Histogram({
      name: 'flotilla_bus_handler_seconds',
      help: 'Time spent in event handlers.',
      labelNames: ['consumer'],
      buckets: [0.001, 0.005, 0.025, 0.1, 0.5, 2, 10, 60],
      registers: [registry],
    }),
  };
  perRegistry.set(registry, m);
  return m;
}
