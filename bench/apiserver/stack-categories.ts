/**
 * Sorts `perf script -F ip,sym` stacks of the test cluster's process into what the work was for.
 * A stack belongs to the first category, in this order, that one of its frames matches: the
 * specific work a request does (its YAML, its managed fields, its admission) comes before the
 * storage and transport it runs inside, and those before the Go runtime that runs everything.
 */
export const CATEGORIES: readonly { name: string; frames: readonly string[] }[] = [
  { name: 'client certificate check (x509 authn, per request)', frames: ['authentication/request/x509'] },
  { name: 'apply patch: YAML decode', frames: ['sigs.k8s.io/yaml', 'go.yaml.in/yaml'] },
  { name: 'managed fields (structured-merge-diff)', frames: ['structured-merge-diff', 'managedfields'] },
  { name: 'admission', frames: ['k8s.io/apiserver/pkg/admission'] },
  { name: 'validation', frames: ['/validation.'] },
  {
    name: 'controllers (deployment, replicaset, endpointslice, gc …)',
    frames: ['k8s.io/kubernetes/pkg/controller'],
  },
  { name: 'controllers: informers and client decode', frames: ['k8s.io/client-go/'] },
  { name: 'watch serving and watch cache', frames: ['handlers.serveWatch', 'WatchServer', 'storage/cacher'] },
  { name: 'storage: etcd client (encode, txn)', frames: ['pkg/storage/etcd3', 'go.etcd.io/etcd/client'] },
  {
    name: 'etcd server (raft, mvcc, bbolt, wal)',
    frames: ['go.etcd.io/etcd/server', 'go.etcd.io/raft', 'go.etcd.io/bbolt'],
  },
  { name: 'other request work (handlers, conversion, response)', frames: ['k8s.io/apiserver/pkg/endpoints'] },
  {
    name: 'HTTP/2, TLS and gRPC transport',
    frames: ['golang.org/x/net/http2', 'crypto/tls', 'google.golang.org/grpc', 'net/http.'],
  },
  {
    name: 'Go GC (background workers)',
    frames: ['runtime.gcBgMarkWorker', 'runtime.bgsweep', 'runtime.bgscavenge'],
  },
  { name: 'Go runtime (scheduler, stacks) and kernel', frames: [''] },
];

export interface Breakdown {
  total: number;
  /** Samples per category name. */
  counts: Record<string, number>;
}

/** `perf script -F ip,sym` output: one stack per blank-line-separated block, leaf first, `<ip> <symbol>` a line. */
export function breakdown(script: string): Breakdown {
  const counts: Record<string, number> = {};
  let total = 0;
  for (const block of script.split(/\n\s*\n/)) {
    const frames = block
      .split('\n')
      .map((l) => l.trim().replace(/^[0-9a-f]+\s+/, ''))
      .filter((l) => l !== '');
    if (frames.length === 0) continue;
    total++;
    const c = CATEGORIES.find((cat) => cat.frames.some((f) => frames.some((fr) => fr.includes(f))));
    const name = (c ?? (CATEGORIES.at(-1) as (typeof CATEGORIES)[number])).name;
    counts[name] = (counts[name] ?? 0) + 1;
  }
  return { total, counts };
}
