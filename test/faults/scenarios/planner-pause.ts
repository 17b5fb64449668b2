import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Bus, EVENT_STREAM } from '@flotilla/bus';
import { GitCommitDetected, PlanCreated, subjectFilter } from '@flotilla/events';
import {
  execGit,
  GitWorkdir,
  rawNats,
  startGitServer,
  startNats,
  startTcpProxy,
  type TcpProxy,
  waitFor,
} from '@flotilla/test-support';
import { DeliverPolicy } from '@nats-io/jetstream';
import { type History, HistoryRecorder } from '../history.ts';
import { Nemesis } from '../nemesis.ts';
import {
  type PlannerProcess,
  shopConfigFiles,
  signingKeyFile,
  startPlannerProcess,
} from '../planner-process.ts';

const TTL_MS = 3000;

export type PlannerFault = 'pause' | 'partition';

/** SIGSTOP the leader for 2.5 × its lease TTL, then SIGCONT. */
export const plannerPause = (durationMs: number) => plannerFault('pause', durationMs);
/** Cut the leader off from NATS (its own TCP proxy holds every byte) for 2.5 × its TTL, then heal. */
export const plannerPartition = (durationMs: number) => plannerFault('partition', durationMs);

/**
 * Two planner processes share one leader lease, each reaching NATS through its own TCP proxy. On a
 * schedule the leader is paused with SIGSTOP, or partitioned from NATS, for 2.5 × its lease TTL
 * (the standby takes over), then resumed or healed: it must not publish a plan under its old
 * fencing token. The workload commits to the dev overlay and announces each commit (as the
 * git-watcher does); each commit must end in a plan for dev.
 */
async function plannerFault(kind: PlannerFault, durationMs: number): Promise<History> {
  const rec = new HistoryRecorder(
    kind === 'pause'
      ? 'planner paused beyond its lease TTL (SIGSTOP)'
      : 'planner cut off from NATS beyond its lease TTL (partition)',
  );
  const dir = mkdtempSync(join(tmpdir(), 'faults-planner-'));
  const nats = await startNats();
  const git = await startGitServer();
  const planners: PlannerProcess[] = [];
  const proxies = new Map<string, TcpProxy>();
  let bus: Bus | undefined;
  let work: GitWorkdir | undefined;
  try {
    const repoName = 'shop-config';
    const { url: repoUrl } = await git.createRepo(repoName, { files: shopConfigFiles() });
    bus = await Bus.connect({
      servers: nats.url,
      service: 'git-watcher',
      instance: 'faults',
      ensureStream: true,
    });
    const b = bus;
    const keyFile = signingKeyFile(dir);
    for (const instance of ['planner-a', 'planner-b']) {
      const proxy = await startTcpProxy({ port: nats.port });
      proxies.set(instance, proxy);
      planners.push(
        startPlannerProcess({ natsUrl: proxy.url, repoUrl, repoName, dir, ttlMs: TTL_MS }, keyFile, instance),
      );
    }

    const revisionToOp = new Map<string, string>();
    const consumer = await rawNats(b).js.consumers.get(EVENT_STREAM, {
      filter_subjects: [subjectFilter(PlanCreated)],
      deliver_policy: DeliverPolicy.All,
    });
    const messages = await consumer.consume();
    void (async () => {
      for await (const m of messages) {
        const e = m.json<{
          source: string;
          data: { cluster: string; revision: string; planId: string; epoch?: number };
        }>();
        rec.leaderAction({ order: m.seq, token: e.data.epoch ?? 0, actor: e.source, what: e.data.planId });
        const op = revisionToOp.get(e.data.revision);
        if (op && e.data.cluster === 'dev') rec.observe(op, e.data.planId);
      }
    })();
    const leases = await b.kv<{ owner: string }>('planner-leader');
    const leader = async () => {
      const owner = (await leases.get('planner'))?.value.owner;
      return planners.find((p) => p.instance === owner);
    };
    await waitFor('a planner to lead', leader, { timeoutMs: 60_000 });

    const nemesis = new Nemesis(async () => {
      const victim = await waitFor('a planner to lead', leader, { timeoutMs: 60_000 });
      const proxy = proxies.get(victim.instance);
      if (kind === 'pause') victim.pause();
      else proxy?.partition();
      rec.fault();
      await new Promise((r) => setTimeout(r, TTL_MS * 2.5));
      if (kind === 'pause') victim.resume();
      else proxy?.heal();
    }, 5000);

    work = await GitWorkdir.clone(git.fileUrl(repoName));
    const deadline = performance.now() + durationMs;
    nemesis.start();
    for (let i = 0; performance.now() < deadline; i++) {
      const id = `commit-${i}`;
      const op = rec.invoke(id);
      try {
        await work.pull();
        const path = 'clusters/dev/kustomization.yaml';
        const text = await execGit(['--git-dir', git.path(repoName), 'show', `main:${path}`]);
        await work.writeFile(
          path,
          text.replace(/flotilla\.io\/cluster: dev.*/s, `flotilla.io/cluster: dev\n  faults/rev: "${i}"\n`),
        );
        const sha = await work.commit(`dev: fault workload ${i}`);
        await work.push();
        revisionToOp.set(sha, id);
        await b.publish(GitCommitDetected, {
          repo: repoName,
          url: repoUrl,
          branch: 'main',
          sha,
          parents: [],
          author: { name: 'Faults', email: 'faults@example.test' },
          committer: { name: 'Faults', email: 'faults@example.test' },
          authoredAt: new Date().toISOString(),
          committedAt: new Date().toISOString(),
          message: `dev: fault workload ${i}`,
          paths: [path],
          signature: { status: 'unchecked' },
          trigger: 'webhook',
        });
        rec.complete(op, 'ok');
      } catch {
        rec.complete(op, 'unknown');
        continue;
      }
      // One commit at a time: the next waits for this plan (or gives up waiting; the checker decides).
      await waitFor('the plan of this commit', async () => (rec.seen(id) ? true : undefined), {
        timeoutMs: TTL_MS * 6,
      }).catch(() => undefined);
    }
    await nemesis.stop();
    const acked = rec.ops.filter((o) => o.outcome === 'ok');
    const last = acked[acked.length - 1];
    if (last)
      await waitFor('the last commit to be planned', async () => (rec.seen(last.id) ? true : undefined), {
        timeoutMs: 60_000,
      }).catch(() => undefined);
    messages.stop();
    return rec.history({ cumulative: true });
  } finally {
    await work?.remove().catch(() => undefined);
    for (const p of planners) await p.stop().catch(() => undefined);
    for (const p of proxies.values()) await p.close().catch(() => undefined);
    await bus?.close().catch(() => undefined);
    await git.stop();
    await nats.dispose();
    // FLOTILLA_FAULTS_KEEP=1 keeps the planners' logs and configs for a look afterwards.
    if (process.env.FLOTILLA_FAULTS_KEEP) console.log(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}
