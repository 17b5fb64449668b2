import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Bus } from '@flotilla/bus';
import { DeadLettered, ImageTagDetected, ImageUpdateCommitted } from '@flotilla/events';
import { execGit, rawNats, startGitServer, startNats, waitFor } from '@flotilla/test-support';
import { type History, HistoryRecorder } from '../history.ts';
import { Nemesis } from '../nemesis.ts';
import {
  type PlannerProcess,
  shopConfigFiles,
  signingKeyFile,
  startPlannerProcess,
} from '../planner-process.ts';

const REFUSE_MS = 8000;
const digest = (n: number) => `sha256:${(0xfa00 + n).toString(16).padStart(64, '0')}`;

/**
 * The config repo refuses every push (a pre-receive hook, like branch protection) for 8 s at a
 * time while new image tags arrive one after another. Each tag must end in exactly one commit on
 * the remote; nothing may be dead-lettered however long the refusal lasts (the planner's consumer
 * gives up after 3 deliveries here, so a refusal outlasts it).
 */
export async function gitPushRejection(durationMs: number): Promise<History> {
  const rec = new HistoryRecorder('Git remote refuses pushes (pre-receive hook)');
  const dir = mkdtempSync(join(tmpdir(), 'faults-git-'));
  const nats = await startNats();
  const git = await startGitServer();
  let planner: PlannerProcess | undefined;
  let bus: Bus | undefined;
  try {
    const repoName = 'shop-config';
    const { url: repoUrl } = await git.createRepo(repoName, { files: shopConfigFiles() });
    const bare = git.path(repoName);
    const flag = join(bare, 'refusing');
    writeFileSync(
      join(bare, 'hooks', 'pre-receive'),
      `#!/bin/sh\nif [ -e '${flag}' ]; then echo "main is protected: changes need a review" >&2; exit 1; fi\nexit 0\n`,
    );
    chmodSync(join(bare, 'hooks', 'pre-receive'), 0o755);

    bus = await Bus.connect({
      servers: nats.url,
      service: 'registry-watcher',
      instance: 'faults',
      ensureStream: true,
    });
    const b = bus;
    const tagToOp = new Map<string, string>();
    const sub = rawNats(b).nc.subscribe('flotilla.v1.>');
    void (async () => {
      for await (const m of sub) {
        const e = m.json<{ type: string; data: { tag?: string; commit?: string } }>();
        if (e.type === ImageUpdateCommitted.type && e.data.tag) {
          const op = tagToOp.get(e.data.tag);
          if (op) rec.observe(op, e.data.commit ?? '?');
        }
        if (e.type === DeadLettered.type) rec.deadLettered++;
      }
    })();
    planner = startPlannerProcess(
      {
        natsUrl: nats.url,
        repoUrl,
        repoName,
        dir,
        ttlMs: 3000,
        consumer: { maxDeliver: 3, backoffMs: [200, 1000] },
      },
      signingKeyFile(dir),
      'planner-a',
    );
    const leases = await b.kv<{ owner: string }>('planner-leader');
    await waitFor('the planner to lead', async () => (await leases.get('planner'))?.value.owner, {
      timeoutMs: 60_000,
    });

    const nemesis = new Nemesis(async () => {
      writeFileSync(flag, '');
      rec.fault();
      await new Promise((r) => setTimeout(r, REFUSE_MS));
      rmSync(flag, { force: true });
    }, 3000);
    nemesis.start();
    const deadline = performance.now() + durationMs;
    for (let i = 0; performance.now() < deadline; i++) {
      const tag = `1.4.${100 + i}`;
      const op = rec.invoke(tag);
      tagToOp.set(tag, tag);
      try {
        await b.publish(ImageTagDetected, {
          image: 'localhost:5000/shop/web',
          tag,
          digest: digest(i),
          trigger: 'poll',
        });
        rec.complete(op, 'ok');
      } catch {
        rec.complete(op, 'unknown');
        continue;
      }
      await waitFor('the commit of this tag', async () => (rec.seen(tag) ? true : undefined), {
        timeoutMs: REFUSE_MS * 3,
      }).catch(() => undefined);
    }
    await nemesis.stop();
    rmSync(flag, { force: true });
    const acked = rec.ops.filter((o) => o.outcome === 'ok');
    await waitFor(
      'every tag to be committed',
      async () => (acked.every((o) => rec.seen(o.id)) ? true : undefined),
      {
        timeoutMs: 60_000,
      },
    ).catch(() => undefined);
    // The remote is the record: every commit that names a tag counts (two would be a duplicate).
    const log = await execGit([
      '--git-dir',
      bare,
      'log',
      '--format=%H %(trailers:key=Flotilla-Image,valueonly,separator=%x2C)',
      'main',
    ]);
    for (const line of log.split('\n')) {
      const [sha, image] = line.trim().split(' ');
      const tag = image?.split('@')[0]?.split(':').pop();
      if (sha && tag && tagToOp.has(tag)) rec.observe(tag, sha);
    }
    sub.unsubscribe();
    return rec.history();
  } finally {
    await planner?.stop().catch(() => undefined);
    await bus?.close().catch(() => undefined);
    await git.stop();
    await nats.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}
