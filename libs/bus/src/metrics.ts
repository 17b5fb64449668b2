import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface BusMetrics {
  published: Counter<'type'>;
  consumed: Counter<'consumer' | 'outcome'>;
  deadLettered: Counter<'consumer' | 'code'>;
  handlerSeconds: Histogram<'consumer'>;
  /**
   * Where each running durable consumer stands on the server, read when scraped: a consumer that
   * is stuck shows as `pending` growing, a message held (refused and redelivered, or a handler
   * that never finishes) as `ackPending` that stays up. Register while the consumer runs.
   */
  trackConsumer(durable: string, read: ConsumerBacklogReader): () => void;
}

/** The server's view of one durable consumer; undefined when the server did not answer. */
export type ConsumerBacklogReader = () => Promise<{ pending: number; ackPending: number } | undefined>;

/** A scrape never waits on NATS longer than this; a consumer the server did not answer keeps its last value. */
const BACKLOG_READ_MS = 1000;

const perRegistry = new WeakMap<Registry, BusMetrics>();

export function busMetrics(registry: Registry): BusMetrics {
  const existing = perRegistry.get(registry);
  if (existing) return existing;
  const consumers = new Map<string, ConsumerBacklogReader>();
  const backlog = new Map<string, { pending: number; ackPending: number }>();
  // Both gauges are read from one consumer-info request per consumer; a scrape collects them one
  // after the other, so the second reuses the first's answer.
  let reading: { at: number; done: Promise<void> } | undefined;
  const refresh = (): Promise<void> => {
    if (reading && performance.now() - reading.at < BACKLOG_READ_MS) return reading.done;
    const done = Promise.all(
      [...consumers].map(async ([consumer, read]) => {
        let timer: NodeJS.Timeout | undefined;
        const b = await Promise.race([
          read().catch(() => undefined),
          new Promise<undefined>((r) => {
            timer = setTimeout(() => r(undefined), BACKLOG_READ_MS);
          }),
        ]);
        clearTimeout(timer);
        if (b) backlog.set(consumer, b);
      }),
    ).then(() => undefined);
    reading = { at: performance.now(), done };
    return done;
  };
  new Gauge({
    name: 'flotilla_bus_consumer_pending_messages',
    help: 'Messages in the stream the durable consumer has not been delivered yet (its backlog).',
    labelNames: ['consumer'],
    registers: [registry],
    async collect() {
      await refresh();
      this.reset(); // a stopped consumer's series goes with it
      for (const [consumer, b] of backlog) this.set({ consumer }, b.pending);
    },
  });
  new Gauge({
    name: 'flotilla_bus_consumer_ack_pending_messages',
    help: 'Messages delivered to the durable consumer and not acknowledged yet (in flight, held or waiting for redelivery).',
    labelNames: ['consumer'],
    registers: [registry],
    async collect() {
      await refresh();
      this.reset(); // a stopped consumer's series goes with it
      for (const [consumer, b] of backlog) this.set({ consumer }, b.ackPending);
    },
  });
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
    trackConsumer(durable, read) {
      consumers.set(durable, read);
      return () => {
        if (consumers.get(durable) !== read) return;
        consumers.delete(durable);
        backlog.delete(durable);
      };
    },
  };
  perRegistry.set(registry, m);
  return m;
}
