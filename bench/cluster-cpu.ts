import { readFileSync } from 'node:fs';

/** utime + stime of a process in seconds (clock ticks are 100 Hz on Linux); NaN once it is gone. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

/**
 * Waits until the test cluster's process (apiserver, etcd and the controllers, one process) has
 * caught up: under 5 % of a core over a second, at most 120 s; resolves to the seconds waited. A
 * write pass ends when its PATCHes are answered, but the controllers' follow-up (a ReplicaSet and
 * status updates per Deployment, EndpointSlices per Service: thousands of writes more) runs after
 * it; without this wait it lands in whatever is measured next.
 */
export async function settleCluster(pid: number): Promise<number> {
  const t0 = performance.now();
  let prev = cpuSeconds(pid);
  for (;;) {
    await new Promise((r) => setTimeout(r, 1000));
    const now = cpuSeconds(pid);
    if (now - prev < 0.05 || performance.now() - t0 > 120_000) return (performance.now() - t0) / 1000;
    prev = now;
  }
}
