/**
 * The audit-writer bench's publisher, in a process of its own (forked by throughput.ts): in
 * production publishers are other services, so the writer's event loop must not also run the
 * publisher's NATS client, its timers and its acks. Driven over the fork's IPC channel:
 *   - { op: 'sustained', tag, rate, seconds }: publish `rate` events/s for `seconds` s (every
 *     10 ms what is due, each tick awaited, so a stream slower than asked shows as a lower rate);
 *   - { op: 'backlog', tag, n }: publish n events, 500 in flight (a backlog to drain).
 * Replies { offered, acked: [id, ms][] }: the rate the stream took and when each event's publish
 * was acked (the writer's own lag starts there). Event ids are `${tag}-${i}`.
 */
import { Bus } from '@flotilla/bus';
import { createEvent, type FlotillaEvent, StageLockChanged } from '@flotilla/events';

export type PublisherCommand =
  | { op: 'sustained'; tag: string; rate: number; seconds: number }
  | { op: 'backlog'; tag: string; n: number };

export interface PublisherReply {
  offered: number;
  acked: Array<[string, number]>;
}

/** The bench's one event shape: a prod lock change with a short reason (~700 bytes as a record). */
export const benchEvent = (tag: string, i: number): FlotillaEvent =>
  createEvent(
    StageLockChanged,
    { stage: 'prod', locked: i % 2 === 0, by: 'user:bench', reason: 'benchmark event with a short reason' },
    { source: 'flotilla://planner/bench', actor: 'user:bench', id: `${tag}-${i}` },
  );

async function main(url: string): Promise<void> {
  const bus = await Bus.connect({ servers: url, service: 'cli', instance: 'bench-publisher' });
  const acked: Array<[string, number]> = [];
  /** Publish with retries: on an overloaded machine a JetStream ack can time out (the id dedupes). */
  const publish = async (e: FlotillaEvent): Promise<void> => {
    for (let attempt = 1; ; attempt++) {
      try {
        await bus.publishEvent(e);
        acked.push([e.id, Date.now()]);
        return;
      } catch (err) {
        if (attempt >= 5) throw err;
      }
    }
  };
  const run = async (cmd: PublisherCommand): Promise<number> => {
    const t0 = Date.now();
    if (cmd.op === 'backlog') {
      for (let i = 0; i < cmd.n; i += 500) {
        await Promise.all(
          Array.from({ length: Math.min(500, cmd.n - i) }, (_, k) => publish(benchEvent(cmd.tag, i + k))),
        );
      }
      return cmd.n / ((Date.now() - t0) / 1000);
    }
    const total = cmd.rate * cmd.seconds;
    let sent = 0;
    while (sent < total) {
      const due = Math.min(total, Math.floor(((Date.now() - t0) / 1000) * cmd.rate));
      const batch: Promise<void>[] = [];
      for (; sent < due; sent++) batch.push(publish(benchEvent(cmd.tag, sent)));
      await Promise.all(batch);
      await new Promise((r) => setTimeout(r, 10));
    }
    return total / ((Date.now() - t0) / 1000);
  };
  process.on('message', (cmd: PublisherCommand) => {
    acked.length = 0;
    run(cmd).then(
      (offered) => process.send?.({ offered, acked } satisfies PublisherReply),
      (err) => {
        console.error('publisher failed:', err);
        process.exit(1);
      },
    );
  });
  process.on('disconnect', () => {
    void bus.close().finally(() => process.exit(0));
  });
  process.send?.('ready');
}

// Forked by throughput.ts with the NATS url as its one argument; importing it (for benchEvent) runs nothing.
if (process.send && process.argv[2]?.startsWith('nats://')) await main(process.argv[2]);
