import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Bus, CHECKPOINT_STREAM, EVENT_STREAM } from '@flotilla/bus';
import { ApiRequestRefused, catalog, decodeEvent, type FlotillaEvent } from '@flotilla/events';
import { createLogger } from '@flotilla/runtime';
import {
  execGit,
  type GitServer,
  GitWorkdir,
  metricSum,
  type NatsServer,
  programArgs,
  rawNats,
  startGitServer,
  startNats,
  waitFor,
} from '@flotilla/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readAuditFiles, verifyAuditDir } from '../src/audit-repo.ts';
import { type AuditRecord, fileLines, GENESIS_HASH, hashRecord, recordLine } from '../src/chain.ts';
import { readStreamCheckpoints } from '../src/checkpoint-publisher.ts';
import { promotionEvents, sampleEvents } from '../src/sample-events.ts';
import { type AuditWriter, startAuditWriter } from '../src/service.ts';
import { AUDIT_TOKENS, Daemon, rand, republish, writerConfig } from './helpers.ts';

const execFileP = promisify(execFile);
const repoRoot = join(import.meta.dirname, '../../..');

let nats: NatsServer;
let git: GitServer;
let daemon: Daemon;
let scratch: string;
let writer: AuditWriter;
let publisher: Bus;
let auditName: string;
let configName: string;
let configHead: string;

async function recordsOnDisk(dir: string): Promise<AuditRecord[]> {
  return (await readAuditFiles(dir)).flatMap((f) =>
    fileLines(f.text).map((l) => JSON.parse(l) as AuditRecord),
  );
}

async function publishAll(events: FlotillaEvent[]): Promise<void> {
  for (const e of events) await publisher.publishEvent(e);
}

const get = async (path: string) => {
  const res = await fetch(`${writer.url}${path}`, {
    headers: { authorization: `Bearer ${AUDIT_TOKENS.auditor}` },
  });
  return { status: res.status, headers: res.headers, text: await res.text() };
};
const getJson = async <T>(path: string): Promise<T> => JSON.parse((await get(path)).text) as T;
const lastSeq = async () => metricSum((await get('/metrics')).text, 'flotilla_audit_last_seq');

/** Runs the verify CLI; resolves with its exit code and output instead of throwing. */
const verifyCli = (args: string[]) =>
  execFileP(process.execPath, programArgs('audit-verify', ...args), {
    cwd: repoRoot,
  }).then(
    ({ stdout }) => ({ code: 0, stdout }),
    (err: { code: number; stdout: string; stderr: string }) => ({
      code: err.code,
      stdout: err.stdout + err.stderr,
    }),
  );

/**
 * The insider of issue #15: edits one record's actor, drops another, renumbers and re-hashes
 * the whole chain and commits it with fresh trailers, so the unkeyed chain verifies again.
 */
async function rewriteLikeAnInsider(dir: string, editId: string, dropId: string): Promise<void> {
  let seq = 0;
  let prevHash = GENESIS_HASH;
  for (const f of await readAuditFiles(dir)) {
    const out: string[] = [];
    for (const line of fileLines(f.text)) {
      const r = JSON.parse(line) as AuditRecord;
      if (r.id === dropId) continue;
      const { hash: _h, ...rest } = {
        ...r,
        seq: ++seq,
        prevHash,
        ...(r.id === editId ? { actor: 'user:mallory' } : {}),
      };
      const hash = hashRecord(rest);
      prevHash = hash;
      out.push(recordLine({ ...rest, hash }));
    }
    await writeFile(join(dir, f.path), out.join(''));
  }
  await execGit(['add', '-A'], { cwd: dir });
  await execGit(
    ['commit', '-q', '-m', `audit: tidy\n\nAudit-Last-Seq: ${seq}\nAudit-Last-Hash: ${prevHash}`],
    { cwd: dir },
  );
}

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'flotilla-audit-test-'));
  [nats, git] = await Promise.all([startNats(), startGitServer()]);
  daemon = await Daemon.start(git.root);
  auditName = rand('audit');
  configName = rand('config');
  await git.createRepo(auditName);
  configHead = (
    await git.createRepo(configName, { files: { 'clusters/prod-eu/web.yaml': 'image: web:1\n' } })
  ).head as string;
  const config = writerConfig({
    natsUrl: nats.url,
    auditUrl: daemon.url(auditName),
    dir: join(scratch, 'audit'),
    configUrl: git.url(configName),
    configDir: join(scratch, 'config'),
  });
  writer = await startAuditWriter(config, createLogger({ service: 'audit-writer', level: 'silent' }));
  await writer.whenActive();
  publisher = await Bus.connect({ servers: nats.url, service: 'cli', instance: 'test' });
});

afterAll(async () => {
  await publisher?.close();
  await writer?.stop();
  await daemon?.down();
  await git?.stop();
  await nats?.dispose();
  await rm(scratch, { recursive: true, force: true });
});

describe('audit-writer against real NATS and git', () => {
  it('records every event type exactly once, ignores redeliveries, and the chain verifies', async () => {
    const events = sampleEvents(rand('all'));
    await publishAll(events);
    // Redeliveries: the same events under other message ids (the stream's dedupe does not catch them).
    for (const e of events.slice(0, 5)) await republish(publisher, e);
    await waitFor('records', async () => ((await lastSeq()) >= events.length ? true : undefined), {
      timeoutMs: 20_000,
    });
    // Each redelivery is dropped once: by the writer (its original not yet committed, or already
    // in the log), or, when it arrives after the original was acked, by the bus consumer's
    // recently-acked ids before the handler runs. Which one depends on how fast commits are.
    await waitFor('duplicates counted', async () => {
      const text = (await get('/metrics')).text;
      const byWriter = metricSum(text, 'flotilla_audit_duplicates_total');
      const byBus = Number(
        /^flotilla_bus_consumed_total\{[^}]*outcome="duplicate"[^}]*\} (\d+)$/m.exec(text)?.[1] ?? 0,
      );
      return byWriter + byBus >= 5 ? true : undefined;
    });
    const records = await recordsOnDisk(join(scratch, 'audit'));
    const ids = events.map((e) => e.id);
    for (const id of ids) expect(records.filter((r) => r.id === id)).toHaveLength(1);
    expect(new Set(records.filter((r) => ids.includes(r.id)).map((r) => r.event))).toEqual(
      new Set(catalog.map((d) => d.name)),
    );
    const verify = await get('/verify');
    expect(verify.status).toBe(200);
    expect(JSON.parse(verify.text)).toMatchObject({ ok: true, records: records.length });

    // Commits: the writer's identity, a message counting the batch by type, trailers anchoring the chain.
    const log = await execGit(['log', '-1', '--format=%an <%ae>%n%B'], { cwd: join(scratch, 'audit') });
    expect(log).toMatch(/^Flotilla Audit Writer <audit-writer@flotilla\.invalid>\naudit: \d+ records? \(seq/);
    expect(log).toMatch(/Audit-Last-Hash: sha256:[0-9a-f]{64}/);

    // The remote receives the log and it verifies from a fresh clone, with the CLI.
    await waitFor('pushed', async () =>
      metricSum((await get('/metrics')).text, 'flotilla_audit_push_lag_records') === 0 ? true : undefined,
    );
    const clone = await GitWorkdir.clone(git.fileUrl(auditName));
    const { stdout } = await execFileP(process.execPath, programArgs('audit-verify', clone.dir), {
      cwd: repoRoot,
    });
    expect(stdout).toMatch(/^ok: \d+ records in \d+ files, chain intact/);
    await clone.remove();
  });

  it('a promotion: export shows author and approver; approvals, where, history; git note on the config commit', async () => {
    const tag = rand('t');
    const sourceSha = 'b'.repeat(40);
    await publishAll(promotionEvents({ tag, sourceSha, commitSha: configHead }));
    await waitFor('promotion recorded', async () => {
      const h = await getJson<{ count: number }>('/history?cluster=prod-eu&type=HealthChanged');
      return h.count >= 1 ? true : undefined;
    });
    const exp = await getJson<{ metadata: Record<string, unknown>; changes: Array<Record<string, unknown>> }>(
      '/export?format=json&since=2026-11-26T00:00:00Z&until=2026-11-27T00:00:00Z',
    );
    const change = exp.changes.find((c) => c.promotionId === `p-${tag}`);
    expect(change).toMatchObject({
      changeType: 'promotion',
      cluster: 'prod-eu',
      configCommit: configHead,
      changeAuthor: 'Bob <bob@example.com>',
      approvers: ['user:alice'],
      approverIsNotAuthor: true,
      approvedBeforeDeploy: true,
      applyResult: 'succeeded',
      health: 'Current',
    });
    expect(exp.metadata).toMatchObject({
      period: { since: '2026-11-26T00:00:00.000Z', until: '2026-11-27T00:00:00.000Z' },
      recordCount: exp.changes.length,
    });
    expect(exp.metadata.sha256).toMatch(/^sha256:[0-9a-f]{64}$/);
    const csv = await get('/export?format=csv');
    expect(csv.headers.get('content-type')).toContain('text/csv');
    expect(csv.headers.get('x-flotilla-export-sha256')).toMatch(/^sha256:/);
    expect(csv.text).toContain('Bob <bob@example.com>');

    const approvals = await getJson<{ promotions: Array<{ promotionId: string; approvers: string[] }> }>(
      '/approvals',
    );
    expect(approvals.promotions.find((p) => p.promotionId === `p-${tag}`)?.approvers).toEqual(['user:alice']);
    const where = await getJson<{ clusters: Array<Record<string, unknown>> }>('/where');
    expect(where.clusters.find((c) => c.cluster === 'prod-eu')).toMatchObject({
      stage: 'prod',
      applied: { revision: configHead },
      health: { status: 'Current' },
    });
    const hist = await getJson<{ records: AuditRecord[] }>(
      `/history?stage=prod&actor=user:alice&type=PromotionApproved`,
    );
    expect(hist.records.some((r) => r.promotionId === `p-${tag}`)).toBe(true);
    expect((await get('/history?since=yesterday')).status).toBe(400);

    // The git note on the config commit, pushed to the config remote.
    const probe = await GitWorkdir.clone(git.fileUrl(configName));
    const note = await waitFor(
      'note pushed',
      async () => {
        try {
          await probe.git('fetch', '--quiet', 'origin', '+refs/notes/flotilla:refs/notes/flotilla');
          const text = await probe.git('notes', '--ref=flotilla', 'show', configHead);
          return text.includes('health=Current') ? text : undefined;
        } catch {
          return undefined;
        }
      },
      { timeoutMs: 20_000, intervalMs: 300 },
    );
    expect(note).toContain('cluster=prod-eu stage=prod');
    expect(note).toContain('result=succeeded');
    expect(note).toContain(`approved-by=user:alice`);
    await probe.remove();
  });

  it('remote unreachable: records still committed locally, pushed when it returns; lag rises and falls', async () => {
    await daemon.down();
    const before = await lastSeq();
    const events = sampleEvents(rand('offline'));
    await publishAll(events);
    await waitFor(
      'committed locally',
      async () => ((await lastSeq()) >= before + events.length ? true : undefined),
      {
        timeoutMs: 20_000,
      },
    );
    const lagged = await waitFor('lag visible', async () => {
      const m = (await get('/metrics')).text;
      const records = metricSum(m, 'flotilla_audit_push_lag_records');
      const seconds = metricSum(m, 'flotilla_audit_push_lag_seconds');
      return records >= events.length && seconds > 0.5 ? { records, seconds } : undefined;
    });
    expect(lagged.records).toBeGreaterThanOrEqual(events.length);
    const local = await recordsOnDisk(join(scratch, 'audit'));
    expect(local.filter((r) => events.some((e) => e.id === r.id))).toHaveLength(events.length);

    await daemon.up();
    await waitFor(
      'lag back to zero',
      async () => {
        const m = (await get('/metrics')).text;
        return metricSum(m, 'flotilla_audit_push_lag_records') === 0 &&
          metricSum(m, 'flotilla_audit_push_lag_seconds') === 0
          ? true
          : undefined;
      },
      { timeoutMs: 20_000 },
    );
    const remoteLast = await execGit(
      ['log', '-1', '--format=%(trailers:key=Audit-Last-Seq,valueonly)', 'main'],
      {
        cwd: git.path(auditName),
      },
    );
    expect(Number(remoteLast.trim())).toBe(await lastSeq());
  });

  it('signs a checkpoint per commit, in the repo and the deny-delete stream; a re-hashed rewrite fails naming its first record', async () => {
    const events = promotionEvents({ tag: rand('cp'), sourceSha: 'c'.repeat(40), commitSha: configHead });
    const settled = () =>
      waitFor(
        'recorded, pushed and published',
        async () => {
          const n = await lastSeq();
          const cp = await getJson<{ published: number | null }>('/checkpoint');
          const m = (await get('/metrics')).text;
          return cp.published === n && metricSum(m, 'flotilla_audit_push_lag_records') === 0 ? n : undefined;
        },
        { timeoutMs: 20_000 },
      );
    // Two commits at least, so there are two checkpoints.
    const before = await lastSeq();
    await publishAll(events.slice(0, 3));
    await waitFor('first part', async () => ((await lastSeq()) >= before + 3 ? true : undefined));
    await publishAll(events.slice(3));
    await waitFor('second part', async () =>
      (await lastSeq()) >= before + events.length ? true : undefined,
    );
    const seq = await settled();
    const cp = await getJson<{ origin: string; note: string; verifierKey: string }>('/checkpoint');
    expect(cp.note.split('\n').slice(0, 2)).toEqual([cp.origin, String(seq)]);
    expect(cp.verifierKey).toMatch(/^flotilla-audit\+[0-9a-f]{8}\+/);
    // The export embeds the checkpoint it was cut at.
    const exp = await getJson<{ metadata: { auditLog: { headSeq: number; checkpoint: string } } }>('/export');
    expect(exp.metadata.auditLog).toMatchObject({ headSeq: seq, checkpoint: cp.note });
    const keptFile = join(scratch, 'kept-checkpoint.json');
    await writeFile(keptFile, JSON.stringify(exp));

    // Published outside the repo too, and that stream refuses purge and delete.
    const fromStream = await readStreamCheckpoints(rawNats(publisher).js, cp.origin);
    expect(fromStream.length).toBeGreaterThan(1);
    await expect(rawNats(publisher).jsm.streams.purge(CHECKPOINT_STREAM)).rejects.toThrow();
    await expect(
      rawNats(publisher).jsm.streams.deleteMessage(CHECKPOINT_STREAM, fromStream[0]!.seq),
    ).rejects.toThrow();

    const clone = await GitWorkdir.clone(git.fileUrl(auditName));
    try {
      const ok = await verifyCli([clone.dir, '--key', cp.verifierKey, '--checkpoint', keptFile]);
      expect(ok.stdout).toMatch(
        new RegExp(`^ok: ${seq} records .* checkpoints verified, signed checkpoint ${seq}`),
      );
      expect(ok.code).toBe(0);

      const records = await recordsOnDisk(clone.dir);
      const approval = records.find(
        (r) => r.event === 'PromotionApproved' && events.some((e) => e.id === r.id),
      )!;
      const dropped = records.find((r) => r.seq === approval.seq + 2)!;
      await rewriteLikeAnInsider(clone.dir, approval.id, dropped.id);
      // What the issue found: the bare chain and its trailer say all is well.
      expect((await verifyCli([clone.dir])).code).toBe(0);
      // With the writer's public key it fails and names the first record that differs.
      const line = fileLines(
        (await readAuditFiles(clone.dir)).find((f) => f.text.includes(approval.id))!.text,
      ).findIndex((l) => l.includes(approval.id));
      const bad = await verifyCli([clone.dir, '--key', cp.verifierKey]);
      expect(bad.code).toBe(1);
      expect(bad.stdout).toContain(`TAMPERED: rewritten at `);
      expect(bad.stdout).toContain(`:${line + 1} (seq ${approval.seq}): record seq ${approval.seq}`);
      expect(bad.stdout).toContain(`event ${approval.id}) is not the record the writer signed`);
      // The insider also deletes the repo's checkpoints: the stream's copy still names the record.
      await rm(join(clone.dir, 'checkpoints'), { recursive: true });
      await rm(join(clone.dir, 'checkpoint'));
      expect((await verifyCli([clone.dir, '--key', cp.verifierKey])).stdout).toContain('TAMPERED: unsigned');
      const viaStream = await verifyCli([
        clone.dir,
        '--key',
        cp.verifierKey,
        '--nats',
        nats.url,
        '--origin',
        cp.origin,
      ]);
      expect(viaStream.code).toBe(1);
      expect(viaStream.stdout).toContain(`(seq ${approval.seq}): record seq ${approval.seq}`);
      expect(viaStream.stdout).toMatch(/checkpoint \d+ of \S+ \(stream:\d+\)/);
      // Against only the export an auditor kept (a head, no record list): the log lost a record it signed.
      const viaExport = await verifyCli([clone.dir, '--key', cp.verifierKey, '--checkpoint', keptFile]);
      expect(viaExport.code).toBe(1);
      expect(viaExport.stdout).toContain(`TAMPERED: truncated`);
      expect(viaExport.stdout).toContain(`kept:${keptFile}`);
    } finally {
      await clone.remove();
    }
  });

  it('verify names the edited, removed or swapped line', async () => {
    const clone = await GitWorkdir.clone(git.fileUrl(auditName));
    try {
      expect((await verifyAuditDir(clone.dir)).ok).toBe(true);
      const [file] = (await readAuditFiles(clone.dir)).map((f) => f.path);
      const path = join(clone.dir, file!);
      const original = await readFile(path, 'utf8');
      const lines = fileLines(original);
      const seqAt = (i: number) => (JSON.parse(lines[i]!) as AuditRecord).seq;
      const tamper = async (fn: (ls: string[]) => string[]) => {
        await writeFile(path, `${fn([...lines]).join('\n')}\n`);
        const result = await verifyAuditDir(clone.dir);
        await writeFile(path, original);
        return result.problem;
      };

      // Edit: through the CLI, as an auditor would run it.
      await writeFile(path, original.replace(/"actor":"user:alice"/, '"actor":"user:mallory"'));
      const edited = lines.findIndex((l) => l.includes('"actor":"user:alice"'));
      const cli = await execFileP(process.execPath, programArgs('audit-verify', clone.dir), {
        cwd: repoRoot,
      }).then(
        () => ({ code: 0, stdout: '' }),
        (err: { code: number; stdout: string }) => err,
      );
      expect(cli.code).toBe(1);
      expect(cli.stdout).toContain(`TAMPERED: edited at ${file}:${edited + 1} (seq ${seqAt(edited)})`);
      await writeFile(path, original);

      expect(await tamper((ls) => ls.filter((_, i) => i !== 3))).toMatchObject({
        kind: 'removed',
        file,
        line: 4,
        expectedSeq: seqAt(3),
      });
      expect(
        await tamper((ls) => {
          [ls[5], ls[6]] = [ls[6]!, ls[5]!];
          return ls;
        }),
      ).toMatchObject({ kind: 'reordered', file, line: 6, seq: seqAt(6), expectedSeq: seqAt(5) });
      // Removing the newest lines leaves a valid chain prefix; the commit trailers catch it.
      const all = await readAuditFiles(clone.dir);
      const lastFile = join(clone.dir, all[all.length - 1]!.path);
      const lastText = await readFile(lastFile, 'utf8');
      await writeFile(lastFile, `${fileLines(lastText).slice(0, -1).join('\n')}\n`);
      expect((await verifyAuditDir(clone.dir)).problem).toMatchObject({ kind: 'truncated' });
    } finally {
      await clone.remove();
    }
  });
});

describe('audit API: who may read, and /verify rationed', () => {
  let guarded: AuditWriter;
  const durable = rand('audit-api');
  /** Until the guarded writer has recorded everything in the stream: its head then holds still. */
  const caughtUp = () =>
    waitFor(
      'the writer to catch up',
      async () => {
        const info = await rawNats(publisher)
          .jsm.consumers.info(EVENT_STREAM, durable)
          .catch(() => null);
        return info && info.num_pending === 0 && info.num_ack_pending === 0 ? true : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    );
  beforeAll(async () => {
    const name = rand('audit-api');
    await git.createRepo(name);
    // A walk at most every 10 minutes: a second walk within this test is always refused.
    guarded = await startAuditWriter(
      writerConfig({
        natsUrl: nats.url,
        auditUrl: daemon.url(name),
        dir: join(scratch, 'audit-api'),
        durable,
        verify: { minIntervalMs: 600_000, maxAgeMs: 600_000 },
      }),
      createLogger({ service: 'audit-writer', level: 'silent' }),
    );
    await guarded.whenActive();
  });
  afterAll(async () => {
    await guarded?.stop();
  });

  const call = async (path: string, token?: string) => {
    const res = await fetch(`${guarded.url}${path}`, {
      headers: token ? { authorization: `Bearer ${token}` } : {},
    });
    return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
  };

  it('history, export, verify, where and approvals need a token with read on every pipeline', async () => {
    for (const path of ['/history', '/export', '/verify', '/where', '/approvals']) {
      const none = await call(path);
      expect(none).toMatchObject({ status: 401, body: { error: 'unauthenticated' } });
      expect(none.headers.get('www-authenticate')).toBe('Bearer');
      expect((await call(path, 'not-a-token-of-anyone-at-all')).status).toBe(401);
      expect(await call(path, AUDIT_TOKENS.nobody)).toMatchObject({
        status: 403,
        body: { error: 'role-missing' },
      });
      // read:shop is a pipeline's reader; the log holds every pipeline's events.
      expect((await call(path, AUDIT_TOKENS.scoped)).status).toBe(403);
    }
    expect((await call('/history', AUDIT_TOKENS.auditor)).status).toBe(200);
    expect((await call('/export', AUDIT_TOKENS.auditor)).status).toBe(200);
    // Checkpoints are published for anyone: verifying them needs only the public key.
    expect((await call('/checkpoint')).status).toBe(200);
  });

  it('a refused call publishes ApiRequestRefused: status, code, route and who, never the token', async () => {
    const seen: FlotillaEvent[] = [];
    const sub = rawNats(publisher).nc.subscribe(`flotilla.v1.api.refused.>`);
    void (async () => {
      for await (const m of sub) seen.push(decodeEvent(m.data, { subject: m.subject }));
    })();
    await rawNats(publisher).nc.flush();
    try {
      expect((await call('/approvals', 'not-a-token-of-anyone-at-all')).status).toBe(401);
      expect((await call('/approvals', AUDIT_TOKENS.nobody)).status).toBe(403);
      const found = await waitFor(
        'ApiRequestRefused for the 401 and the 403',
        async () => {
          const of = (status: number) =>
            seen.find((e) => {
              const d = e.data as { status: number; route: string };
              // The previous test's refusals may still arrive: any 401/403 on /approvals will do.
              return e.type === ApiRequestRefused.type && d.status === status && d.route === '/approvals';
            });
          const [u, f] = [of(401), of(403)];
          return u && f ? { u, f } : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 50 },
      );
      expect(found.u.data).toMatchObject({
        service: 'audit-writer',
        code: 'unauthenticated',
        route: '/approvals',
      });
      expect(found.f.data).toMatchObject({ code: 'role-missing', route: '/approvals', by: 'user:nobody' });
      expect(JSON.stringify(seen)).not.toMatch(/token-0123456789|not-a-token/);
    } finally {
      sub.unsubscribe();
    }
  });

  it('/verify answers from its last walk while the head holds, and rations new walks', async () => {
    await caughtUp();
    const first = await call('/verify', AUDIT_TOKENS.auditor);
    expect(first.status).toBe(200);
    expect(first.headers.get('x-flotilla-verify-cached')).toBe('false');
    const again = await call('/verify', AUDIT_TOKENS.auditor);
    expect(again).toMatchObject({ status: 200, body: first.body });
    expect(again.headers.get('x-flotilla-verify-cached')).toBe('true');
    expect(again.headers.get('x-flotilla-verify-head')).toBe(first.headers.get('x-flotilla-verify-head'));

    // The head moves: a new walk must wait, so the last result comes back marked stale, naming
    // the head it covers (a 429 only while no walk has finished: verify-gate.test.ts).
    await publishAll(sampleEvents(rand('head')).slice(0, 1));
    await caughtUp();
    const limited = await call('/verify', AUDIT_TOKENS.auditor);
    expect(limited).toMatchObject({ status: 200, body: first.body });
    expect(limited.headers.get('x-flotilla-verify-stale')).toBe('true');
    expect(limited.headers.get('x-flotilla-verify-head')).toBe(first.headers.get('x-flotilla-verify-head'));
  });
});
