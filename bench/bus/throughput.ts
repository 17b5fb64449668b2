// Typed bus vs plain NATS.js on the same nats-server, in one run.
//   npx tsx bench/bus/throughput.ts [--events 5000] [--runs 5]
// Publish: N events with up to 256 acks outstanding. Consume: drain N stored events.
// Each side runs against a server with `sync_interval: always` (what Flotilla ships) and one
// with the default (fsync every 2 min), so the cost of durability is visible too.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Bus, EVENT_STREAM } from '@flotilla/bus';
import { createEvent, encodeEvent, PlanCreated, subjectFilter } from '@flotilla/events';
import { samples } from '@flotilla/events/samples';
import { startNats } from '@flotilla/test-support';
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { median } from '../stats.ts';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const N = arg('events', 5000);
const RUNS = arg('runs', 5);
const WINDOW = 256;

async function windowed(n: number, fn: (i: number) => Promise<unknown>) {
  const inflight = new Set<Promise<unknown>>();
  for (let i = 0; i < n; i++) {
    const p = fn(i).finally(() => inflight.delete(p));
    inflight.add(p);
    if (inflight.size >= WINDOW) await Promise.race(inflight);
  }
  await Promise.all(inflight);
}

async function runOnce(url: string, round: number) {
  const bus = await Bus.connect({ servers: url, service: 'planner', instance: 'bench', ensureStream: true });
  const nc = await connect({ servers: url });
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  await jsm.streams.purge(EVENT_STREAM);
  const data = (cluster: string, i: number) => ({ ...samples.PlanCreated, cluster, sequence: i + 1 });

  // Plain: what a hand-written publisher does: build JSON, publish with a msg id, await the ack.
  const plainCluster = `plain${round}`;
  let t = performance.now();
  await windowed(N, (i) => {
    const e = createEvent(PlanCreated, data(plainCluster, i), {
      source: 'flotilla://planner/bench',
      actor: 'bench',
    });
    return js.publish(`flotilla.v1.plan.created.${plainCluster}`, encodeEvent(e), { msgID: e.id });
  });
  const plainPub = N / ((performance.now() - t) / 1000);

  const typedCluster = `typed${round}`;
  t = performance.now();
  await windowed(N, (i) => bus.publish(PlanCreated, data(typedCluster, i)));
  const typedPub = N / ((performance.now() - t) / 1000);

  // Plain consume: JSON.parse + ack (fire-and-forget), no validation.
  await jsm.consumers.add(EVENT_STREAM, {
    durable_name: `plain-${round}`,
    ack_policy: AckPolicy.Explicit,
    filter_subjects: [subjectFilter(PlanCreated, plainCluster)],
  });
  const c = await js.consumers.get(EVENT_STREAM, `plain-${round}`);
  let seen = 0;
  const msgs = await c.consume({ max_messages: 512 });
  for await (const m of msgs) {
    if (seen === 0) t = performance.now();
    JSON.parse(new TextDecoder().decode(m.data));
    m.ack();
    if (++seen === N) break;
  }
  const plainSub = N / ((performance.now() - t) / 1000);

  // Typed consume: decode + full validation + handler + confirmed ack (ackAck), 64 in flight.
  let typedSeen = 0;
  let done!: () => void;
  const finished = new Promise<void>((r) => {
    done = r;
  });
  const sub = await bus.consume({
    durable: `typed-${round}`,
    filters: [subjectFilter(PlanCreated, typedCluster)],
    concurrency: 64,
    handler: async () => {
      if (typedSeen === 0) t = performance.now();
      if (++typedSeen === N) done();
    },
  });
  await finished;
  const typedSub = N / ((performance.now() - t) / 1000);
  await sub.stop();
  await bus.close();
  await nc.drain();
  return { plainPub, typedPub, plainSub, typedSub };
}

type Run = Awaited<ReturnType<typeof runOnce>>;
const rows: string[] = [];
for (const syncAlways of [true, false]) {
  const server = await startNats({ syncAlways });
  const results: Run[] = [];
  for (let r = 0; r < RUNS; r++) results.push(await runOnce(server.url, r));
  await server.dispose();
  const m = (k: keyof (typeof results)[number]) => median(results.map((x) => x[k]));
  const label = syncAlways ? 'sync_interval: always' : 'default fsync (2 min)';
  rows.push(
    `| ${label} | publish+ack | ${m('plainPub').toFixed(0)} | ${m('typedPub').toFixed(0)} | ${(m('typedPub') / m('plainPub')).toFixed(2)} |`,
    `| ${label} | consume | ${m('plainSub').toFixed(0)} | ${m('typedSub').toFixed(0)} | ${(m('typedSub') / m('plainSub')).toFixed(2)} |`,
  );
}

const report = `# Bus throughput: typed layer vs plain NATS.js

Command: \`npx tsx bench/bus/throughput.ts --events ${N} --runs ${RUNS}\` (median of ${RUNS} runs, events/s,
${N} PlanCreated events of ~700 bytes, ${WINDOW} publishes in flight; nats-server ${'v2.15.2'} on loopback, 2 cores).
Typed publish = build envelope + TypeBox validation + publish with Nats-Msg-Id + await PubAck.
Consume rates are timed from the first message handled to the last (consumer setup excluded).
Typed consume = decode + full validation (envelope, data, subject, producer) + ack, 64 in flight;
plain consume = JSON.parse + fire-and-forget ack.

| server | path | plain events/s | typed events/s | typed/plain |
|---|---|---|---|---|
${rows.join('\n')}

Measured ${new Date().toISOString()}.
`;
writeFileSync(join(import.meta.dirname, '../results/bus.md'), report);
console.log(report);
