import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Bus, EVENT_STREAM } from '@flotilla/bus';
import {
  createEvent,
  GitCommitDetected,
  ImageTagDetected,
  StageLockChanged,
  subjectFilter,
} from '@flotilla/events';
import {
  freePort,
  GitWorkdir,
  programArgs,
  pushImage,
  rawNats,
  type Spawned,
  spawnTracked,
  startGitServer,
  startNats,
  startRegistry,
  startTcpProxy,
  stopProcess,
  type TcpProxy,
  waitFor,
} from '@flotilla/test-support';
import { DeliverPolicy } from '@nats-io/jetstream';
import { stringify as toYaml } from 'yaml';
import { verifyAuditDir } from '../../../services/audit-writer/src/audit-repo.ts';
import { type History, HistoryRecorder } from '../history.ts';
import { Nemesis } from '../nemesis.ts';
import { committedRecords } from './audit-disk-full.ts';

const repoRoot = join(import.meta.dirname, '../../..');
/** Every service's lease TTL here: a cut of 2.5 × this loses the lease (and must win it back). */
const TTL_MS = 3000;
const CUT_MS = TTL_MS * 2.5;

export type PartitionedService = 'git-watcher' | 'registry-watcher' | 'audit-writer';
export const PARTITIONED_SERVICES: readonly PartitionedService[] = [
  'git-watcher',
  'registry-watcher',
  'audit-writer',
];

interface Running {
  service: PartitionedService;
  proxy: TcpProxy;
  child: Spawned;
  ready: () => Promise<boolean>;
}

/**
 * Client-to-NATS partitions of each service: the git-watcher, the registry-watcher and the audit
 * writer (the built bundles, each its own process) reach one NATS server through their own TCP
 * fault proxy (bytes held both ways, no reset: a partition, not a crash). In turn, each service's
 * link is cut for 2.5 × its lease TTL, then healed, while all three workloads run side by side:
 * commits pushed to a real git daemon (each must become exactly one `GitCommitDetected`), tags
 * pushed to a real registry (exactly one `ImageTagDetected` each) and events published directly
 * (each recorded exactly once in the audit log, the chain whole). One history per service: its
 * faults are the cuts of its own link; the others' cuts are background for it.
 */
export async function servicePartitions(durationMs: number): Promise<Record<PartitionedService, History>> {
  const recs: Record<PartitionedService, HistoryRecorder> = {
    'git-watcher': new HistoryRecorder('git-watcher cut off from NATS beyond its lease TTL (partition)'),
    'registry-watcher': new HistoryRecorder(
      'registry-watcher cut off from NATS beyond its lease TTL (partition)',
    ),
    'audit-writer': new HistoryRecorder('audit writer cut off from NATS beyond its lease TTL (partition)'),
  };
  const violations: Record<PartitionedService, string[]> = {
    'git-watcher': [],
    'registry-watcher': [],
    'audit-writer': [],
  };
  const dir = mkdtempSync(join(tmpdir(), 'faults-partition-'));
  const [nats, git, registry] = await Promise.all([startNats(), startGitServer(), startRegistry()]);
  const running: Running[] = [];
  let bus: Bus | undefined;
  let work: GitWorkdir | undefined;
  try {
    bus = await Bus.connect({ servers: nats.url, service: 'cli', instance: 'faults', ensureStream: true });
    const b = bus;
    const repoName = 'app-config';
    const { url: repoUrl } = await git.createRepo(repoName, { files: { 'apps/web.yaml': 'replicas: 1\n' } });
    await git.createRepo('audit');
    const imageRepo = 'faults/web';
    const image = `${registry.host}/${imageRepo}`;
    const auditDir = join(dir, 'audit');

    const start = async (
      service: PartitionedService,
      config: Record<string, unknown>,
      env: Record<string, string>,
    ) => {
      const proxy = await startTcpProxy({ port: nats.port });
      const port = await freePort();
      const file = join(dir, `${service}.yaml`);
      writeFileSync(
        file,
        toYaml({
          instance: `${service}-faults`,
          nats: { servers: [proxy.url] },
          http: { port, host: '127.0.0.1' },
          ...config,
        }),
      );
      const child = spawnTracked(process.execPath, programArgs(service), {
        cwd: repoRoot,
        env: { ...process.env, FLOTILLA_CONFIG: file, LOG_LEVEL: 'info', ...env },
        logFile: join(dir, `${service}.log`),
      });
      const ready = async () =>
        (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.ok === true;
      running.push({ service, proxy, child, ready });
    };
    await start(
      'git-watcher',
      {
        repositories: [{ name: repoName, url: repoUrl }],
        cacheDir: join(dir, 'git-cache'),
        poll: { intervalMs: 300, jitter: 0.2 },
        lease: { ttlMs: TTL_MS },
      },
      {},
    );
    await start(
      'registry-watcher',
      { images: [{ image }], poll: { intervalMs: 300, jitter: 0.2 }, lease: { ttlMs: TTL_MS } },
      {},
    );
    // The audit writer's settings as in the disk-full row (env, as its tests give them).
    await start(
      'audit-writer',
      {},
      {
        FLOTILLA_AUDIT_URL: git.fileUrl('audit'),
        FLOTILLA_AUDIT_DIR: auditDir,
        FLOTILLA_AUDIT_BATCH_MAX_DELAY_MS: '100',
        FLOTILLA_AUDIT_COMMIT_RETRY_MAX_MS: '1000',
        FLOTILLA_CONSUMER_DURABLE: 'audit-faults',
        FLOTILLA_CONSUMER_ACK_WAIT_MS: '10000',
        FLOTILLA_LEASE_TTL_MS: String(TTL_MS),
      },
    );
    for (const r of running)
      await waitFor(`${r.service} ready`, async () => ((await r.ready()) ? true : undefined), {
        timeoutMs: 90_000,
      });

    // What the watchers published, read from the stream directly (not through any proxy).
    const shaToOp = new Map<string, string>();
    const consumer = await rawNats(b).js.consumers.get(EVENT_STREAM, {
      filter_subjects: [subjectFilter(GitCommitDetected), subjectFilter(ImageTagDetected)],
      deliver_policy: DeliverPolicy.All,
    });
    const messages = await consumer.consume();
    void (async () => {
      for await (const m of messages) {
        const e = m.json<{ type: string; data: { sha?: string; image?: string; tag?: string } }>();
        if (e.type === GitCommitDetected.type) {
          const op = shaToOp.get(e.data.sha ?? '');
          if (op) recs['git-watcher'].observe(op, String(m.seq));
        } else if (e.data.image === image && e.data.tag)
          recs['registry-watcher'].observe(e.data.tag, String(m.seq));
      }
    })();
    // What the audit writer committed, read from its clone's HEAD.
    const auditSeen = new Set<number>();
    let polling = true;
    const poll = (async () => {
      while (polling) {
        for (const r of await committedRecords(auditDir).catch(() => [])) {
          if (auditSeen.has(r.seq)) continue;
          auditSeen.add(r.seq);
          recs['audit-writer'].observe(r.id, String(r.seq));
        }
        await new Promise((r) => setTimeout(r, 300));
      }
    })();

    // Each service in turn; the cut is healed before the next one starts.
    let turn = 0;
    const nemesis = new Nemesis(async () => {
      const victim = running[turn++ % running.length] as Running;
      victim.proxy.partition();
      recs[victim.service].fault();
      await new Promise((r) => setTimeout(r, CUT_MS));
      victim.proxy.heal();
      const back = await waitFor(
        `${victim.service} ready after the heal`,
        async () => ((await victim.ready()) ? true : undefined),
        { timeoutMs: 60_000 },
      ).catch(() => false);
      if (!back) violations[victim.service].push('not ready again within 60 s of the heal');
      healed++;
    }, 2000);

    const deadline = performance.now() + durationMs;
    // Until the deadline, and until every service's link has been cut and healed once.
    let healed = 0;
    const going = () => performance.now() < deadline || healed < running.length;
    const oneAtATime = async (rec: HistoryRecorder, id: string, act: () => Promise<void>) => {
      const op = rec.invoke(id);
      try {
        await act();
        rec.complete(op, 'ok');
      } catch {
        rec.complete(op, 'unknown');
        return;
      }
      // The next one once this one is seen (or after a while: the checker decides).
      await waitFor(`${id} observed`, async () => (rec.seen(id) ? true : undefined), {
        timeoutMs: CUT_MS + 10_000,
      }).catch(() => undefined);
    };
    work = await GitWorkdir.clone(git.fileUrl(repoName));
    const w = work;
    const commits = (async () => {
      for (let i = 0; going(); i++) {
        await oneAtATime(recs['git-watcher'], `commit-${i}`, async () => {
          await w.writeFile('apps/web.yaml', `replicas: ${i + 2}\n`);
          const sha = await w.commit(`web: ${i + 2} replicas`);
          shaToOp.set(sha, `commit-${i}`);
          await w.push();
        });
      }
    })();
    const tags = (async () => {
      for (let i = 0; going(); i++)
        await oneAtATime(recs['registry-watcher'], `1.0.${i}`, async () => {
          await pushImage(registry, { repo: imageRepo, tag: `1.0.${i}` });
        });
    })();
    const auditRec = recs['audit-writer'];
    const events = (async () => {
      for (let i = 0; going(); i++) {
        const e = createEvent(
          StageLockChanged,
          { stage: 'prod', locked: i % 2 === 0, by: 'user:faults' },
          { source: 'flotilla://planner/faults', actor: 'user:faults', id: `partition-audit-${i}` },
        );
        const op = auditRec.invoke(e.id);
        let outcome: 'ok' | 'unknown' = 'unknown';
        for (let attempt = 0; attempt < 20 && outcome !== 'ok'; attempt++) {
          try {
            await b.publishEvent(e);
            outcome = 'ok';
          } catch {
            await new Promise((r) => setTimeout(r, 250));
          }
        }
        auditRec.complete(op, outcome);
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    nemesis.start();
    await Promise.all([commits, tags, events]);
    await nemesis.stop();
    for (const err of nemesis.errors) for (const v of Object.values(violations)) v.push(`nemesis: ${err}`);

    // Everything acknowledged is seen in the end (or the checker counts it lost).
    await waitFor(
      'every acknowledged operation observed',
      async () =>
        Object.values(recs).every((rec) => rec.ops.every((o) => o.outcome !== 'ok' || rec.seen(o.id)))
          ? true
          : undefined,
      { timeoutMs: 60_000 },
    ).catch(() => undefined);
    polling = false;
    await poll;
    messages.stop();
    const records = await committedRecords(auditDir);
    const verified = await verifyAuditDir(auditDir);
    if (!verified.ok)
      violations['audit-writer'].push(`audit verify: ${JSON.stringify(verified).slice(0, 500)}`);
    const acked = auditRec.ops.filter((o) => o.outcome === 'ok').map((o) => o.id);
    return {
      'git-watcher': recs['git-watcher'].history({ violations: violations['git-watcher'] }),
      'registry-watcher': recs['registry-watcher'].history({ violations: violations['registry-watcher'] }),
      'audit-writer': auditRec.history({
        audit: { records, expected: acked },
        violations: violations['audit-writer'],
      }),
    };
  } finally {
    await work?.remove().catch(() => undefined);
    for (const r of running) await stopProcess(r.child, 5000).catch(() => undefined);
    for (const r of running) await r.proxy.close().catch(() => undefined);
    await bus?.close().catch(() => undefined);
    await Promise.allSettled([git.stop(), registry.stop()]);
    await nats.dispose();
    // FLOTILLA_FAULTS_KEEP=1 keeps the services' logs and configs for a look afterwards.
    if (process.env.FLOTILLA_FAULTS_KEEP) console.log(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}
