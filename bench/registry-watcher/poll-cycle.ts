/**
 * One poll cycle over R repositories × T tags with nothing new, against one local docker-registry:
 * the registry-watcher's checker (tag list, diff against known state, HEAD only what is new or
 * mutable) vs a naive cycle (full tag list + manifest GET per tag). Same client code, same
 * concurrency (4 repositories at a time), in one run. Writes bench/results/registry-watcher.md.
 *
 *   npx tsx bench/registry-watcher/poll-cycle.ts            # 500 × 50
 *   RW_BENCH_REPOS=100 RW_BENCH_TAGS=20 npx tsx bench/registry-watcher/poll-cycle.ts
 */
import { writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { RegistryClient } from '@flotilla/oci';
import { createLogger, loadConfig } from '@flotilla/runtime';
// File by file: the package index also loads the kube harness (see services/registry-watcher/test/support.ts).
import { pushManyTags, startRegistry } from '../../libs/test-support/src/registry.ts';
import {
  Config,
  type Emit,
  ImageChecker,
  MemoryStateStore,
  RegistryLimiter,
  resolveImages,
  type WatchedImage,
} from '../../services/registry-watcher/src/index.ts';
import { median } from '../stats.ts';

// Sizes can be scaled down from the environment (RW_BENCH_REPOS, RW_BENCH_TAGS, RW_BENCH_RUNS, RW_BENCH_NAIVE_RUNS).
const num = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const REPOS = num('RW_BENCH_REPOS', 500);
const TAGS = num('RW_BENCH_TAGS', 50);
const WATCHER_RUNS = num('RW_BENCH_RUNS', 5);
const NAIVE_RUNS = num('RW_BENCH_NAIVE_RUNS', 3);
const CONCURRENCY = 4;

async function pool<T>(items: T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

const registry = await startRegistry();
try {
  const setupStart = Date.now();
  const repos = Array.from({ length: REPOS }, (_, i) => `bench/r${String(i).padStart(4, '0')}`);
  const digests = new Map<string, { digest: string; tags: string[] }>();
  // Version-like tags (none of them mutable by the watcher's default rule).
  const tagNames = Array.from({ length: TAGS }, (_, i) => `1.${Math.floor(i / 10)}.${i % 10}`);
  await pool(repos, 4, async (repo) => {
    digests.set(repo, await pushManyTags(registry, { repo, tags: tagNames, concurrency: 3 }));
  });
  const setupMs = Date.now() - setupStart;
  process.stderr.write(`setup: ${REPOS} repos × ${TAGS} tags in ${(setupMs / 1000).toFixed(0)} s\n`);

  const config = loadConfig(Config, {
    env: { FLOTILLA_IMAGES: JSON.stringify(repos.map((r) => ({ image: `${registry.host}/${r}` }))) },
  });
  const images = resolveImages(config);
  const store = new MemoryStateStore();
  // Known state as the watcher would have it after its first cycle: every tag with its digest.
  for (const img of images) {
    const pushed = digests.get(img.repository)!;
    await store.save(
      {
        image: img.image,
        tags: Object.fromEntries(pushed.tags.map((t) => [t, pushed.digest])),
        updatedAt: new Date().toISOString(),
      },
      undefined,
    );
  }
  let emitted = 0;
  const emit: Emit = async () => {
    emitted++;
    return { duplicate: false };
  };
  const checker = new ImageChecker({
    store,
    emit,
    logger: createLogger({ service: 'bench', level: 'silent' }),
    maxNewTagsPerCheck: config.poll.maxNewTagsPerCheck,
    platforms: true,
    createdAt: false,
  });
  const client = new RegistryClient({ registry: registry.host });
  const limiter = new RegistryLimiter(CONCURRENCY);

  const watcherCycle = async () => {
    client.resetStats();
    const t = performance.now();
    await Promise.all(
      images.map(async (img: WatchedImage) => {
        const release = await limiter.acquire(img.registry);
        try {
          await checker.check(img, client, 'poll');
        } finally {
          release();
        }
      }),
    );
    return { ms: performance.now() - t, requests: client.stats.requests };
  };

  const naiveCycle = async () => {
    // A fresh client without conditional requests or caches: what a simple poller does.
    const naive = new RegistryClient({ registry: registry.host, conditional: false, cacheSize: 1 });
    const t = performance.now();
    await pool(repos, CONCURRENCY, async (repo) => {
      const list = await naive.listTags(repo);
      for (const tag of list.tags) await naive.getManifest(repo, tag);
    });
    return { ms: performance.now() - t, requests: naive.stats.requests };
  };

  await watcherCycle(); // warm-up: connections, state loaded into memory
  const watcher: { ms: number; requests: number }[] = [];
  const naive: { ms: number; requests: number }[] = [];
  // Interleaved so both see the same machine noise.
  for (let i = 0; i < Math.max(WATCHER_RUNS, NAIVE_RUNS); i++) {
    if (i < WATCHER_RUNS) watcher.push(await watcherCycle());
    if (i < NAIVE_RUNS) naive.push(await naiveCycle());
    process.stderr.write(
      `run ${i + 1}: watcher ${watcher.at(-1)?.ms.toFixed(0)} ms, naive ${naive.at(-1)?.ms.toFixed(0) ?? '-'} ms\n`,
    );
  }
  if (emitted !== 0) throw new Error(`expected no events in a quiet cycle, got ${emitted}`);

  const w = { ms: median(watcher.map((r) => r.ms)), requests: median(watcher.map((r) => r.requests)) };
  const n = { ms: median(naive.map((r) => r.ms)), requests: median(naive.map((r) => r.requests)) };
  const md = `# registry-watcher: one quiet poll cycle

\`npx tsx bench/registry-watcher/poll-cycle.ts\` — ${new Date().toISOString().slice(0, 10)}, ${cpus().length} cores,
Node ${process.version}, one local \`docker-registry\` (Distribution 2.8, filesystem storage, no auth).

${REPOS} repositories × ${TAGS} tags, nothing new since the last cycle, ${CONCURRENCY} repositories checked at a time.
Median of ${WATCHER_RUNS} watcher cycles and ${NAIVE_RUNS} naive cycles, interleaved in one run (setup: ${(setupMs / 1000).toFixed(0)} s).

| cycle | requests | requests / repository | wall time (median) |
|---|---:|---:|---:|
| registry-watcher (tag list, HEAD only new / mutable tags) | ${w.requests} | ${(w.requests / REPOS).toFixed(2)} | ${w.ms.toFixed(0)} ms |
| naive (tag list + manifest GET per tag) | ${n.requests} | ${(n.requests / REPOS).toFixed(2)} | ${n.ms.toFixed(0)} ms |
| ratio (naive / watcher) | ${(n.requests / w.requests).toFixed(1)}× | | ${(n.ms / w.ms).toFixed(1)}× |

Notes
- Distribution 2.8 sends no ETag on tag lists, so the watcher's one request per repository is a full
  tag-list GET; registries that send ETags (the client sends If-None-Match) answer it with a 304.
- Each tracked *mutable* tag (default \`${config.poll.mutableTags}\`) adds one HEAD per cycle
  (conditional on the known digest; HEADs do not count as pulls on Docker Hub). These tags are
  version-like, so none is mutable. Moves of other tags are caught from webhooks, not by polling.
- The watcher's state is in memory while it holds an image's lease: a quiet cycle touches no NATS KV.
`;
  await writeFile(new URL('../results/registry-watcher.md', import.meta.url), md);
  process.stdout.write(md);
} finally {
  await registry.stop();
}
