import { randomUUID } from 'node:crypto';
import { Bus, EVENT_STREAM } from '@flotilla/bus';
import { ImageTagDetected, subjectFilter } from '@flotilla/events';
import { type NatsCluster, rawNats, waitFor } from '@flotilla/test-support';
import { DeliverPolicy } from '@nats-io/jetstream';
import type { HistoryRecorder } from '../history.ts';
import { Nemesis } from '../nemesis.ts';

const digest = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;

/** What a NATS nemesis may ask of the stream while it works. */
export interface StreamView {
  /** The stream leader's server name, or undefined while there is none (or the request fails). */
  leader(): Promise<string | undefined>;
  /** Resolves once the stream has a leader and every replica is current again. */
  settled(): Promise<void>;
}

/**
 * The workload every NATS nemesis runs against a 3-node cluster: two clients publish events to
 * the R3 event stream (each retried with the same event id, the stream's dedupe key, until
 * acknowledged or given up) while a reader follows the stream; at the end a fresh reader reads
 * the whole stream for anything the live one missed. The nemesis is given a view of the stream.
 */
export async function streamWorkload(
  rec: HistoryRecorder,
  cluster: NatsCluster,
  durationMs: number,
  fault: (view: StreamView) => () => Promise<void>,
  everyMs: number,
): Promise<void> {
  const buses: Bus[] = [];
  try {
    const connect = async (service: 'registry-watcher' | 'planner', instance: string) => {
      const bus = await Bus.connect({
        servers: cluster.urls,
        service,
        instance,
        ensureStream: { replicas: 3 },
      });
      buses.push(bus);
      return bus;
    };
    const publisher = await connect('registry-watcher', 'faults-publisher');
    const reader = await connect('planner', 'faults-reader');

    // The live reader: an ordered consumer, recreated from the next sequence whenever it falls
    // silent for 2 s (a consumer can lose its way across a leader change), so convergence is
    // measured from what the stream serves, not from a stuck iterator.
    let reading = true;
    let next = 1;
    const readLoop = (async () => {
      while (reading) {
        try {
          const c = await rawNats(reader).js.consumers.get(EVENT_STREAM, {
            filter_subjects: [subjectFilter(ImageTagDetected)],
            deliver_policy: DeliverPolicy.StartSequence,
            opt_start_seq: next,
          });
          const iter = await c.consume();
          let lastAt = performance.now();
          const watchdog = setInterval(() => {
            if (!reading || performance.now() - lastAt > 2000) iter.stop();
          }, 250);
          try {
            for await (const m of iter) {
              lastAt = performance.now();
              rec.observe(m.json<{ id: string }>().id, String(m.seq));
              next = m.seq + 1;
            }
          } finally {
            clearInterval(watchdog);
          }
        } catch {
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    })();

    // Asked of every node in turn: the node a client happens to use may be the one cut off.
    const info = async () => {
      for (const b of [publisher, reader]) {
        try {
          return await rawNats(b).jsm.streams.info(EVENT_STREAM);
        } catch {
          // the other client may be on the healthy side
        }
      }
      return undefined;
    };
    const view: StreamView = {
      leader: async () => (await info())?.cluster?.leader,
      settled: async () => {
        // What the stream said last, for the failure message: which replica lags, and by how much.
        let last = 'no answer';
        await waitFor(
          'the stream to have a leader and every replica current',
          async () => {
            const c = (await info())?.cluster;
            if (c) last = JSON.stringify(c);
            return c?.leader && (c.replicas ?? []).length === 2 && (c.replicas ?? []).every((r) => r.current)
              ? true
              : undefined;
          },
          { timeoutMs: 120_000 },
        ).catch((err: Error) => {
          throw new Error(`${err.message}; the stream's cluster, last seen: ${last}`);
        });
      },
    };
    const nemesis = new Nemesis(fault(view), everyMs);

    const deadline = performance.now() + durationMs;
    let n = 0;
    const worker = async () => {
      while (performance.now() < deadline) {
        const i = n++;
        const id = randomUUID();
        const op = rec.invoke(id);
        let outcome: 'ok' | 'unknown' = 'unknown';
        for (let attempt = 0; attempt < 20 && outcome !== 'ok'; attempt++) {
          try {
            await publisher.publish(
              ImageTagDetected,
              { image: 'localhost:5000/faults/app', tag: `t${i}`, digest: digest(i), trigger: 'poll' },
              { id },
            );
            outcome = 'ok';
          } catch {
            // Timeouts during an election: retry with the same id; the stream's dedupe keeps one copy.
            await new Promise((r) => setTimeout(r, 250));
          }
        }
        rec.complete(op, outcome);
      }
    };
    nemesis.start();
    await Promise.all([worker(), worker()]);
    await nemesis.stop();
    if (nemesis.errors.length > 0) throw new Error(`nemesis failed: ${nemesis.errors.join('; ')}`);
    const acked = rec.ops.filter((o) => o.outcome === 'ok');
    await waitFor(
      'the reader to see every acknowledged event',
      async () => (acked.every((o) => rec.seen(o.id)) ? true : undefined),
      { timeoutMs: 60_000 },
    ).catch(() => undefined);
    reading = false;
    await readLoop;
    // A second, fresh reader of the whole stream: an event the live reader missed (a consumer
    // recreated across a leader change) but the stream holds is not lost. What neither saw is.
    if (!acked.every((o) => rec.seen(o.id))) {
      const last = (await rawNats(publisher).jsm.streams.info(EVENT_STREAM)).state.last_seq;
      const again = await rawNats(reader).js.consumers.get(EVENT_STREAM, {
        filter_subjects: [subjectFilter(ImageTagDetected)],
        deliver_policy: DeliverPolicy.All,
      });
      const all = await again.consume();
      for await (const m of all) {
        rec.observe(m.json<{ id: string }>().id, String(m.seq));
        rec.rereads++;
        if (m.seq >= last || m.info.pending === 0) break;
      }
      all.stop();
    }
  } finally {
    for (const b of buses) await b.close().catch(() => undefined);
  }
}
