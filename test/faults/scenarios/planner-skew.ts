import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Bus, EVENT_STREAM } from '@flotilla/bus';
import {
  ApplySucceeded,
  decodeEvent,
  type FlotillaEvent,
  HealthChanged,
  ImageTagDetected,
  ImageUpdateCommitted,
  PlanCreated,
  PromotionApproved,
  PromotionAwaitingApproval,
  PromotionCommitted,
  subjectFilter,
} from '@flotilla/events';
import { freePort, rawNats, startGitServer, startNats, waitFor } from '@flotilla/test-support';
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
const ALICE = 'faults-alice-token-0123456789abcdef';
const PIPELINE = 'shop';
/** examples/shop-config/flotilla.yaml: dev → test → uat automatically after a 1 s soak, prod approved. */
const STAGES = {
  [PIPELINE]: [
    { name: 'dev', approval: false },
    { name: 'test', approval: false },
    { name: 'uat', approval: false },
    { name: 'prod', approval: true },
  ],
};

type Image = { digest: string };

/**
 * Clock skew of ±30 s on the planner (libfaketime, the real thing: the process's wall clock is
 * off): two planner processes share the leader lease, one running 30 s ahead, the other 30 s
 * behind (60 s apart, 20 × the lease TTL), and the leader is paused past its TTL on a schedule so
 * leadership moves between them. The workload is a release: a new image tag goes to dev, is
 * promoted to test and uat after each stage has been healthy for its soak (health is reported
 * here, as the appliers would, on the test's own clock), and to prod once approved through the
 * API. Each tag must reach prod; no stage skipped, no prod without its approval, no plan from a
 * stale leader.
 */
export async function plannerSkew(durationMs: number): Promise<History> {
  const rec = new HistoryRecorder('planner clock skew ±30 s (libfaketime), leader paused between the two');
  const dir = mkdtempSync(join(tmpdir(), 'faults-skew-'));
  const nats = await startNats();
  const git = await startGitServer();
  const planners: PlannerProcess[] = [];
  const buses: Bus[] = [];
  const violations: string[] = [];
  try {
    const repoName = 'shop-config';
    const { url: repoUrl } = await git.createRepo(repoName, { files: shopConfigFiles() });
    const connect = async (service: 'git-watcher' | 'registry-watcher' | 'cluster-applier') => {
      const b = await Bus.connect({ servers: nats.url, service, instance: 'faults', ensureStream: true });
      buses.push(b);
      return b;
    };
    const reader = await connect('git-watcher');
    const registry = await connect('registry-watcher');
    const applier = await connect('cluster-applier');
    const keyFile = signingKeyFile(dir);
    const ports = new Map<string, number>();
    for (const [instance, faketime] of [
      ['planner-ahead', '+30s'],
      ['planner-behind', '-30s'],
    ] as const) {
      const httpPort = await freePort();
      ports.set(instance, httpPort);
      planners.push(
        startPlannerProcess(
          {
            natsUrl: nats.url,
            repoUrl,
            repoName,
            dir,
            ttlMs: TTL_MS,
            httpPort,
            faketime,
            apiTokens: [{ token: ALICE, name: 'alice', roles: ['read', 'operate', 'approve'] }],
          },
          keyFile,
          instance,
        ),
      );
    }

    // Approve through whichever planner leads (a standby answers 503 and names the owner).
    const approving = new Set<string>();
    const approve = async (promotionId: string) => {
      if (approving.has(promotionId)) return;
      approving.add(promotionId);
      await waitFor(
        `approval of ${promotionId}`,
        async () => {
          for (const port of ports.values()) {
            const res = await fetch(`http://127.0.0.1:${port}/api/v1/promotions/${promotionId}/approve`, {
              method: 'POST',
              headers: { authorization: `Bearer ${ALICE}`, 'content-type': 'application/json' },
              body: JSON.stringify({ comment: 'faults: release' }),
            }).catch(() => undefined);
            if (res?.ok) return true;
          }
          return undefined;
        },
        { timeoutMs: 60_000, intervalMs: 500 },
      ).catch((err: Error) => violations.push(`approving ${promotionId}: ${err.message}`));
    };

    // The appliers' part: every plan applied and healthy at once.
    const reportHealthy = async (e: FlotillaEvent<typeof PlanCreated.data.static>) => {
      const p = e.data;
      const base = {
        ...(p.pipeline ? { pipeline: p.pipeline } : {}),
        cluster: p.cluster,
        planId: p.planId,
        revision: p.revision,
        bundleDigest: p.bundle.digest,
      };
      await applier.publish(
        ApplySucceeded,
        {
          ...base,
          counts: { total: p.bundle.objects, applied: p.bundle.objects, unchanged: 0, pruned: 0 },
          noop: false,
          startedAt: new Date().toISOString(),
          durationMs: 5,
        },
        { cause: e },
      );
      await applier.publish(HealthChanged, { ...base, status: 'Current', objects: [] }, { cause: e });
    };

    const consumer = await rawNats(reader).js.consumers.get(EVENT_STREAM, {
      filter_subjects: [
        subjectFilter(PlanCreated),
        subjectFilter(ImageUpdateCommitted),
        subjectFilter(PromotionCommitted),
        subjectFilter(PromotionApproved),
        subjectFilter(PromotionAwaitingApproval),
      ],
      deliver_policy: DeliverPolicy.All,
    });
    const messages = await consumer.consume();
    void (async () => {
      for await (const m of messages) {
        const e = decodeEvent(m.data, { subject: m.subject });
        if (e.type === PlanCreated.type) {
          const plan = e as FlotillaEvent<typeof PlanCreated.data.static>;
          rec.leaderAction({
            order: m.seq,
            token: plan.data.epoch ?? 0,
            actor: e.source,
            what: plan.data.planId,
          });
          void reportHealthy(plan).catch(() => undefined);
        } else if (e.type === ImageUpdateCommitted.type) {
          const d = e.data as { stage: string; digest: string };
          rec.enterStage({ order: m.seq, pipeline: PIPELINE, change: d.digest, stage: d.stage });
        } else if (e.type === PromotionCommitted.type) {
          const d = e.data as { promotionId: string; toStage: string; images: Image[] };
          for (const img of d.images) {
            rec.enterStage({
              order: m.seq,
              pipeline: PIPELINE,
              change: img.digest,
              stage: d.toStage,
              promotionId: d.promotionId,
            });
            if (d.toStage === 'prod') rec.observe(img.digest, e.id);
          }
        } else if (e.type === PromotionApproved.type) {
          const d = e.data as { promotionId: string; approver: string };
          rec.approve({ order: m.seq, promotionId: d.promotionId, approver: d.approver });
        } else if (e.type === PromotionAwaitingApproval.type) {
          const d = e.data as { promotionId: string; toStage: string };
          if (d.toStage === 'prod') void approve(d.promotionId);
        }
      }
    })();

    const leases = await reader.kv<{ owner: string }>('planner-leader');
    const leader = async () => {
      const owner = (await leases.get('planner'))?.value.owner;
      return planners.find((p) => p.instance === owner);
    };
    await waitFor('a planner to lead', leader, { timeoutMs: 60_000 });
    const nemesis = new Nemesis(async () => {
      const victim = await waitFor('a planner to lead', leader, { timeoutMs: 60_000 });
      victim.pause();
      rec.fault();
      await new Promise((r) => setTimeout(r, TTL_MS * 2.5));
      victim.resume();
    }, 8000);

    const deadline = performance.now() + durationMs;
    nemesis.start();
    for (let i = 1; performance.now() < deadline; i++) {
      const digest = `sha256:${(0xfa017000 + i).toString(16).padStart(64, '0')}`;
      const op = rec.invoke(digest);
      try {
        await registry.publish(ImageTagDetected, {
          image: 'localhost:5000/shop/web',
          tag: `1.4.${100 + i}`,
          digest,
          trigger: 'webhook',
        });
        rec.complete(op, 'ok');
      } catch {
        rec.complete(op, 'unknown');
        continue;
      }
      // One release at a time: the next tag once this one is in prod (or the checker counts it lost).
      // Four stages with the leader paused half the time: at load average 48 one release took
      // 108 s here, so the bound is well above that (a liveness bound, not a timing assertion).
      await waitFor('the release in prod', async () => (rec.seen(digest) ? true : undefined), {
        timeoutMs: 180_000,
      }).catch(() => undefined);
    }
    await nemesis.stop();
    for (const err of nemesis.errors) violations.push(`nemesis: ${err}`);
    messages.stop();
    return rec.history({ stages: STAGES, violations });
  } finally {
    for (const p of planners) await p.stop().catch(() => undefined);
    for (const b of buses) await b.close().catch(() => undefined);
    await git.stop();
    await nats.dispose();
    if (process.env.FLOTILLA_FAULTS_KEEP) console.log(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}
