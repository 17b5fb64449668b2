// Typed publish+ack over TLS vs plaintext, same nats-server config, in one run (issue 14).
//   npx tsx bench/bus/tls.ts [--events 3000] [--runs 5]
// Two servers side by side, both `sync_interval: always` (what Flotilla ships); one requires TLS
// with a certificate from a CA made here (verified by the client). Rounds alternate between them.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Bus, EVENT_STREAM } from '@flotilla/bus';
import { PlanCreated } from '@flotilla/events';
import { samples } from '@flotilla/events/samples';
import { createTestCa, natsTlsConfig, rawNats, startNats } from '@flotilla/test-support';
import { median } from '../stats.ts';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const N = arg('events', 3000);
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

async function rate(url: string, round: number, tls?: { caFile: string }): Promise<number> {
  const bus = await Bus.connect({
    servers: url,
    service: 'planner',
    instance: `bench-${round}`,
    ensureStream: true,
    ...(tls ? { tls } : {}),
  });
  await rawNats(bus).jsm.streams.purge(EVENT_STREAM);
  const cluster = `c${round}`;
  const t = performance.now();
  await windowed(N, (i) => bus.publish(PlanCreated, { ...samples.PlanCreated, cluster, sequence: i + 1 }));
  const perSecond = N / ((performance.now() - t) / 1000);
  await bus.close();
  return perSecond;
}

const ca = await createTestCa('bench');
const cert = await ca.issue('nats', 'server');
const [plainServer, tlsServer] = await Promise.all([
  startNats(),
  startNats({ extraConfig: natsTlsConfig({ cert, caFile: ca.caFile }) }),
]);
const plain: number[] = [];
const tls: number[] = [];
await rate(plainServer.url, -1); // warm-up
await rate(tlsServer.url, -2, { caFile: ca.caFile });
for (let r = 0; r < RUNS; r++) {
  plain.push(await rate(plainServer.url, r));
  tls.push(await rate(tlsServer.url, 100 + r, { caFile: ca.caFile }));
}
await Promise.all([plainServer.dispose(), tlsServer.dispose()]);

const ratio = median(plain) / median(tls);
const report = `# Bus publish+ack over TLS vs plaintext

\`npx tsx bench/bus/tls.ts --events ${N} --runs ${RUNS}\` (${new Date().toISOString().slice(0, 10)}; medians of ${RUNS}
alternating rounds after one warm-up each; typed publish of ${N} PlanCreated events, ${WINDOW} in flight, each
awaiting its PubAck; both servers nats-server v2.15.2 on loopback with \`sync_interval: always\`; the TLS one
with an ECDSA P-256 certificate from a CA made for the run, verified by the client).

| path | events/s (median) | per run | time vs plaintext |
| --- | --- | --- | --- |
| plaintext | ${median(plain).toFixed(0)} | ${plain.map((x) => x.toFixed(0)).join(', ')} | 1.00× |
| TLS | ${median(tls).toFixed(0)} | ${tls.map((x) => x.toFixed(0)).join(', ')} | ${ratio.toFixed(2)}× |

Target (issue 14): publish+ack within 1.3× of the plaintext path: ${ratio <= 1.3 ? 'met' : 'not met'}.
`;
writeFileSync(join(import.meta.dirname, '../results/bus-tls.md'), report);
console.log(report);
