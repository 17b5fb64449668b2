import { startNatsCluster, waitFor } from '@flotilla/test-support';
import { type History, HistoryRecorder } from '../history.ts';
import { streamWorkload } from './nats-stream-workload.ts';

/**
 * Kill the event stream's leader in a routed 3-node cluster (SIGKILL, restart after 2 s) on a
 * schedule, while the stream workload (nats-stream-workload.ts) publishes and reads.
 */
export async function natsLeaderKill(durationMs: number): Promise<History> {
  const rec = new HistoryRecorder('NATS stream leader kill (3-node cluster)');
  const cluster = await startNatsCluster(3);
  try {
    await streamWorkload(
      rec,
      cluster,
      durationMs,
      (view) => async () => {
        const name = await waitFor('a stream leader', view.leader, { timeoutMs: 60_000 });
        const victim = cluster.servers.find((s) => s.name === name);
        if (!victim) throw new Error(`leader ${name} is none of ours`);
        await victim.kill();
        rec.fault();
        await new Promise((r) => setTimeout(r, 2000));
        await victim.restart();
        await waitFor('the stream to have a leader again', view.leader, { timeoutMs: 60_000 });
      },
      3000,
    );
    return rec.history();
  } finally {
    await cluster.dispose();
  }
}
