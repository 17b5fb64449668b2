import { startNatsCluster, waitFor } from '@flotilla/test-support';
import { type History, HistoryRecorder } from '../history.ts';
import { streamWorkload } from './nats-stream-workload.ts';

/** How long each partition lasts: longer than a Raft election and the route pings (1 s × 3). */
const CUT_MS = 6000;

/**
 * Partitions between the route peers of a 3-node cluster, every node-to-node link through its
 * own TCP fault proxy (`startNatsCluster(3, { faultableRoutes: true })`: bytes held both ways, no
 * reset), while the stream workload publishes and reads.
 *
 * - `minority`: the stream leader is cut off from both peers (a 1 | 2 split with the leader on the
 *   small side): it must stop acknowledging, and the two others elect a leader and go on.
 * - `majority`: only the link between the leader and one follower is cut; the third node still
 *   sees both (a bridge, Jepsen's "majorities ring" for three nodes). Each of the two sees a
 *   majority, so both may try to lead; the stream must still hold each acknowledged write once.
 */
export async function natsPartition(kind: 'minority' | 'majority', durationMs: number): Promise<History> {
  const rec = new HistoryRecorder(
    kind === 'minority'
      ? 'NATS minority partition: stream leader cut off from both route peers'
      : 'NATS majority partition: leader–follower link cut, third node bridges',
  );
  const cluster = await startNatsCluster(3, { faultableRoutes: true });
  try {
    await streamWorkload(
      rec,
      cluster,
      durationMs,
      (view) => async () => {
        const name = await waitFor('a stream leader', view.leader, { timeoutMs: 60_000 });
        const l = cluster.servers.findIndex((s) => s.name === name);
        if (l < 0) throw new Error(`leader ${name} is none of ours`);
        const others = [0, 1, 2].filter((i) => i !== l) as [number, number];
        if (kind === 'minority') cluster.cut([l, others[0]], [l, others[1]]);
        else cluster.cut([l, others[Math.floor(Math.random() * 2)] as number]);
        rec.fault();
        await new Promise((r) => setTimeout(r, CUT_MS));
        cluster.heal();
        await view.settled();
      },
      3000,
    );
    return rec.history();
  } finally {
    await cluster.dispose();
  }
}
