import { backoffDelay } from '@flotilla/async';
import { Bus, natsOptions } from '@flotilla/bus';
import { messageOf, retryable } from '@flotilla/errors';
import { ApiRequestRefused } from '@flotilla/events';
import { Workspace } from '@flotilla/git';
import {
  createServiceServer,
  type Logger,
  loadApiTokens,
  RejectionBudget,
  type ServiceHandle,
} from '@flotilla/runtime';
import { verifierKeyString } from '@flotilla/trust';
import { Value } from '@sinclair/typebox/value';
import { AuditRepo, readRepoCheckpoints, type Staged, TRAILER_LAST, verifyAuditDir } from './audit-repo.ts';
import { Batcher } from './batcher.ts';
import { type AuditRecord, sha256 } from './chain.ts';
import { defaultOrigin, loadCheckpointSigner } from './checkpoint-key.ts';
import { CheckpointPublisher } from './checkpoint-publisher.ts';
import { Config } from './config.ts';
import { ConfigNotes, formatNote } from './config-notes.ts';
import { GapScanner } from './gap-scanner.ts';
import { GapTracker, initialFloor } from './gaps.ts';
import { commitTrailers } from './git-local.ts';
import { type AuditMetrics, auditMetrics } from './metrics.ts';
import { auditConsumer } from './nats-resources.ts';
import { AuditIndex } from './projection.ts';
import { Pusher } from './pusher.ts';
import { registerRoutes } from './routes.ts';
import { VerifyGate } from './verify-gate.ts';

export interface AuditWriterHooks {
  /** Called after each batch commit (benchmarks measure end-to-end lag with it). */
  onCommitted?: (records: AuditRecord[], committedAt: number) => void;
}

/** What runs while this instance holds the writer lease. */
interface Active {
  repo: AuditRepo;
  index: AuditIndex;
  batcher: Batcher<Staged>;
  pusher: Pusher;
  checkpoints: CheckpointPublisher | undefined;
  /** `<name>+<hash>+<key>`: what an auditor needs to verify this log's checkpoints. */
  verifierKey: string | undefined;
  notes: ConfigNotes | undefined;
  gaps: GapScanner;
  stopConsumer: () => Promise<void>;
}

export interface AuditWriter extends ServiceHandle {
  url: string;
  bus: Bus;
  metrics: AuditMetrics;
  /** Resolves once this instance is the active writer and consuming. */
  whenActive(): Promise<void>;
  readonly active: Active | undefined;
}

/**
 * One writer per audit repo. A JetStream durable alone would spread messages over every
 * instance bound to it, and two clones appending to one hash chain would fork it; so instances
 * compete for a NATS KV lease keyed by the audit repo, and only the holder binds the consumer.
 * The others wait as standbys (not ready) and take over, from the remote's head, when the holder
 * stops renewing. Pushes never rebase, so a fork (split brain) shows up as a failing push.
 */
export async function startAuditWriter(
  config: Config,
  logger: Logger,
  hooks: AuditWriterHooks = {},
): Promise<AuditWriter> {
  // Read first: a malformed token file stops the start before anything is opened.
  const tokens = loadApiTokens(config.api);
  const server = createServiceServer({
    logger,
    http: config.http,
  });
  let active: Active | undefined;
  const metrics = auditMetrics(server.registry, () => active?.pusher.lag() ?? { records: 0, seconds: 0 });
  const bus = await Bus.connect({
    ...natsOptions(config.nats),
    service: 'audit-writer',
    instance: config.instance,
    metrics: server.registry,
    logger,
  });
  server.addReadinessCheck({ name: 'nats', check: () => bus.connected });
  server.addReadinessCheck({ name: 'consumers', check: () => bus.consumersBound });
  server.addReadinessCheck({ name: 'writer', check: () => active !== undefined });
  // Set while commits fail: the writer holds what it has, takes nothing more, and says so.
  let stalledSince: number | undefined;
  server.addReadinessCheck({ name: 'writing', check: () => stalledSince === undefined });

  const author = { name: config.audit.authorName, email: config.audit.authorEmail };
  // Callers that build the config by hand (tests, benches) may leave the block out: its defaults apply.
  const cpConfig = Value.Default(Config.properties.checkpoint, {
    ...config.checkpoint,
  }) as Config['checkpoint'];
  const origin = cpConfig.origin || defaultOrigin(config.audit.url, config.audit.branch);
  if (cpConfig.enabled && cpConfig.publish) await bus.ensureCheckpointStream();
  let stopping = false;
  let activating: Promise<void> | undefined;
  let becameActive!: () => void;
  const activeOnce = new Promise<void>((r) => {
    becameActive = r;
  });

  const openNotes = async (index: AuditIndex): Promise<ConfigNotes | undefined> => {
    if (!config.configRepo.enabled || !config.configRepo.url) return undefined;
    try {
      const notes = await ConfigNotes.open({
        url: config.configRepo.url,
        branch: config.configRepo.branch,
        dir: config.configRepo.dir,
        ref: config.configRepo.notesRef,
        author,
        debounceMs: config.configRepo.debounceMs,
        retryMaxMs: config.audit.pushRetryMaxMs,
        log: logger,
        render: (rev) => {
          const deployments = index.deployments.get(rev);
          const promotion = index.promotionForCommit(rev);
          if (!deployments && !promotion?.committed) return null;
          return formatNote(rev, deployments?.values() ?? [], promotion);
        },
        onOutcome: (outcome, pending) => {
          metrics.notes.inc({ outcome });
          metrics.notesPending.set(pending);
        },
      });
      // Revisions of recent records: notes a crash may have left unwritten.
      const recent = new Set<string>();
      for (const r of index.records.slice(-1000)) {
        if (r.revision && index.deployments.has(r.revision)) recent.add(r.revision);
        if (r.commit && index.deployments.has(r.commit)) recent.add(r.commit);
      }
      notes.touch(recent);
      return notes;
    } catch (err) {
      logger.warn(
        { err: messageOf(err) },
        'config repo unavailable: git notes disabled until the next activation',
      );
      return undefined;
    }
  };

  const activateOnce = async (): Promise<void> => {
    const index = new AuditIndex();
    const repo = await AuditRepo.open(
      {
        url: config.audit.url,
        branch: config.audit.branch,
        dir: config.audit.dir,
        author,
        timeoutMs: config.audit.gitTimeoutMs,
        syncWithRemote: true,
        log: logger,
        ...(config.audit.segmentMaxBytes ? { segmentMaxBytes: config.audit.segmentMaxBytes } : {}),
      },
      (records) => index.apply(records),
    );
    // A second Workspace on the same clone, so pushes (network) never queue behind commits.
    const pushWs = await Workspace.open({
      url: config.audit.url,
      branch: config.audit.branch,
      dir: config.audit.dir,
      author,
      timeoutMs: config.audit.gitTimeoutMs,
    });
    const remoteSeq = Number(
      (await commitTrailers(config.audit.dir, `refs/remotes/origin/${config.audit.branch}`)).get(
        TRAILER_LAST,
      ) ?? 0,
    );
    const pusher = new Pusher({
      ws: pushWs,
      retryMinMs: config.audit.pushRetryMinMs,
      retryMaxMs: config.audit.pushRetryMaxMs,
      minIntervalMs: config.audit.pushMinIntervalMs,
      onPushed: () => metrics.pushes.inc({ outcome: 'ok' }),
      onFailed: (err, attempt) => {
        metrics.pushes.inc({ outcome: 'failed' });
        logger.warn(
          { err: messageOf(err), attempt },
          'audit push failed; records are committed locally, retrying',
        );
      },
    });
    let verifierKey: string | undefined;
    let checkpoints: CheckpointPublisher | undefined;
    if (cpConfig.enabled) {
      const { signer, generated } = await loadCheckpointSigner({
        keyFile: cpConfig.keyFile,
        keyName: cpConfig.keyName,
        auditDir: config.audit.dir,
      });
      repo.signWith({ signer, origin });
      verifierKey = verifierKeyString(signer.name, signer.publicKey);
      // The public key only; give it to auditors through another channel than the audit repo.
      logger.info({ verifierKey, origin, generated }, 'signing audit checkpoints');
      if (cpConfig.publish) {
        checkpoints = new CheckpointPublisher({
          bus,
          origin,
          retryMinMs: config.audit.pushRetryMinMs,
          retryMaxMs: config.audit.pushRetryMaxMs,
          onPublished: () => metrics.checkpointPublishes.inc({ outcome: 'ok' }),
          onFailed: (err, attempt) => {
            metrics.checkpointPublishes.inc({ outcome: 'failed' });
            logger.warn({ err: messageOf(err), attempt }, 'publishing an audit checkpoint failed; retrying');
          },
        });
        const published = await checkpoints.publishedSize();
        const missing =
          published < repo.lastSeq ? (await readRepoCheckpoints(config.audit.dir)).map((k) => k.entry) : [];
        checkpoints.start(published, missing);
      }
    }
    pusher.start(Number.isInteger(remoteSeq) ? remoteSeq : 0, repo.lastSeq);
    const notes = await openNotes(index);
    metrics.lastSeq.set(repo.lastSeq);

    /**
     * Commits a batch, retrying for as long as it takes: an event the writer could not persist is
     * never given up (no nak towards a dead letter, no term). Its handler keeps it in progress
     * meanwhile, and once `concurrency` events wait, the consumer stops fetching. Only a
     * shutdown ends the wait; the events then go back unacked and are delivered again.
     */
    const commit = async (events: Staged[]) => {
      for (let attempt = 1; ; attempt++) {
        try {
          const result = await repo.append(events, (reloaded) => index.apply(reloaded));
          if (stalledSince !== undefined) {
            logger.info({ stalledSeconds: (Date.now() - stalledSince) / 1000 }, 'audit commits work again');
            stalledSince = undefined;
            metrics.stalled.set(0);
          }
          return result;
        } catch (err) {
          metrics.commitFailures.inc();
          if (stopping || !active) throw err;
          if (stalledSince === undefined) {
            stalledSince = Date.now();
            metrics.stalled.set(1);
          }
          const delay = backoffDelay(attempt - 1, { baseMs: 200, maxMs: config.audit.commitRetryMaxMs });
          logger.error(
            { err: messageOf(err), events: events.length, attempt, retryInMs: delay },
            'audit commit failed; holding the events (not acked) and retrying',
          );
          await new Promise((r) => setTimeout(r, delay));
        }
      }
    };
    const inBatch = new Set<number>();
    const batcher = new Batcher<Staged>({
      maxItems: config.audit.batchMaxRecords,
      // Under a backlog a commit takes every event waiting (at most `concurrency` are held): its
      // fixed cost (git, fsync, the segment re-stored) is then shared by more records.
      maxBatchItems: config.consumer.concurrency,
      maxDelayMs: config.audit.batchMaxDelayMs,
      flush: async (events) => {
        const end = metrics.commitSeconds.startTimer();
        const { records, duplicates, checkpoint } = await commit(events);
        end();
        if (duplicates > 0) metrics.duplicates.inc(duplicates);
        if (records.length === 0) return;
        const touched = index.apply(records);
        gaps.current?.apply(records);
        metrics.commits.inc();
        metrics.batchRecords.observe(records.length);
        for (const r of records) metrics.records.inc({ type: r.event });
        metrics.lastSeq.set(repo.lastSeq);
        pusher.committed(repo.lastSeq);
        if (checkpoint) checkpoints?.enqueue(checkpoint);
        notes?.touch(touched);
        hooks.onCommitted?.(records, Date.now());
      },
    });
    const floor = initialFloor(index.records);
    const tracker = floor === undefined ? undefined : new GapTracker(floor, config.consumer.durable);
    tracker?.apply(index.records);
    const gaps = new GapScanner({
      bus,
      durable: config.consumer.durable,
      tracker,
      recorded: (id) => repo.has(id),
      inFlight: () => inBatch,
      onGap: (gap) => metrics.gaps.inc({ reason: gap.reason }, gap.count),
      onBacklog: (b) => {
        metrics.backlogMessages.set(b.messages);
        metrics.streamUsageRatio.set(b.usageRatio);
        metrics.backlogAgeRatio.set(b.ageRatio);
      },
      log: logger,
    });
    const sub = await bus.consume({
      ...auditConsumer(config.consumer),
      // Never dead-letter a valid event for taking long: commits are retried in place (see commit).
      maxDeliver: Number.MAX_SAFE_INTEGER,
      backoffMs: [500, 2000, 5000, 15_000],
      // Acked only once the batch holding the event is committed: the handler awaits that commit.
      handler: async (event, ctx) => {
        if (repo.has(event.id)) {
          metrics.duplicates.inc();
          gaps.duplicate(ctx.streamSequence);
          return;
        }
        inBatch.add(ctx.streamSequence);
        try {
          // Chained now (record built and serialised) while the commit before it is in progress.
          await batcher.submit(repo.stage({ event, streamSeq: ctx.streamSequence }));
        } catch (err) {
          // Commits are retried until they succeed, so the batch fails only on a shutdown: the event
          // goes back to the stream, never to a dead letter. Anything else (an event its record
          // cannot be built from) is retried by the consumer like any failing handler.
          if (!stopping && active) throw err;
          throw retryable('audit.stopping', `not recorded, writer stopping: ${messageOf(err)}`, {
            cause: err,
          });
        } finally {
          inBatch.delete(ctx.streamSequence);
        }
      },
    });
    gaps.start(config.audit.gapScanMs);
    active = {
      repo,
      index,
      batcher,
      pusher,
      checkpoints,
      verifierKey,
      notes,
      gaps,
      stopConsumer: () => sub.stop(),
    };
    metrics.leader.set(1);
    logger.info(
      { records: repo.lastSeq, remoteSeq, dir: config.audit.dir, remote: repo.ws.displayUrl },
      'active audit writer',
    );
    becameActive();
  };

  const activate = async (): Promise<void> => {
    for (let attempt = 1; !stopping && leases.holds(leaseKey) && !active; attempt++) {
      try {
        await activateOnce();
      } catch (err) {
        const delay = backoffDelay(attempt, { baseMs: 500, maxMs: 30_000 });
        logger.error(
          { err: messageOf(err), attempt, delay },
          'cannot become the active audit writer; retrying',
        );
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  };

  const deactivate = async (reason: string): Promise<void> => {
    await activating;
    const a = active;
    if (!a) return;
    active = undefined;
    metrics.leader.set(0);
    logger.info({ reason }, 'stepping down as audit writer');
    await a.gaps.stop();
    await a.stopConsumer();
    await a.batcher.close();
    await a.pusher.stop();
    await a.checkpoints?.stop();
    await a.notes?.stop();
  };

  const leaseKey = `audit-writer/${sha256(`${config.audit.url}#${config.audit.branch}`).slice(7, 23)}`;
  const leases = await bus.leaseSet(config.lease.bucket, {
    owner: config.instance,
    ttlMs: config.lease.ttlMs,
    keys: () => [leaseKey],
    // Not awaited: opening a large log can take longer than a lease cycle, and renewals must go on.
    onAcquired: () => {
      activating = activate().finally(() => {
        activating = undefined;
      });
    },
    onLost: () => {
      void deactivate('lease lost');
    },
    onError: (err) => logger.warn({ err: messageOf(err) }, 'lease renewal failed'),
  });

  const refusals = new RejectionBudget(config.apiRefusalEventsPerMinute);
  registerRoutes(server.app, {
    index: () => active?.index,
    head: () => ({
      records: active?.repo.recordCount ?? 0,
      headSeq: active?.repo.lastSeq ?? 0,
      headHash: active && active.repo.lastSeq > 0 ? active.repo.headHash : null,
      ...(active?.repo.checkpoint ? { checkpoint: active.repo.checkpoint } : {}),
    }),
    checkpoint: () =>
      active
        ? {
            origin,
            note: active.repo.checkpoint ?? null,
            verifierKey: active.verifierKey ?? null,
            published: active.checkpoints?.published ?? null,
            pending: active.checkpoints?.pending ?? 0,
          }
        : undefined,
    verify: new VerifyGate({
      verify: async () => {
        const a = active;
        if (!a) throw new Error('not the active writer');
        return a.repo.exclusive(() => verifyAuditDir(config.audit.dir));
      },
      head: () => (active ? `${active.repo.lastSeq} ${active.repo.headHash}` : 'standby'),
      minIntervalMs: config.verify.minIntervalMs,
      maxAgeMs: config.verify.maxAgeMs,
    }),
    productionStages: config.productionStages,
    tokens,
    onRefused: (r) => {
      const { admitted, suppressedBefore } = refusals.take(`${r.status}|${r.route}`);
      // Logged at warn only when published: the log must not grow with a flood either.
      logger[admitted ? 'warn' : 'debug'](r, 'audit API request refused');
      if (!admitted) return;
      const by = r.who ? `user:${r.who}`.slice(0, 256) : undefined;
      bus
        .publish(
          ApiRequestRefused,
          {
            service: 'audit-writer',
            status: r.status,
            code: r.code,
            route: r.route.slice(0, 256),
            ...(by ? { by } : {}),
            remoteAddress: r.remoteAddress.slice(0, 64),
            ...(suppressedBefore > 0 ? { suppressedBefore } : {}),
          },
          { actor: by ?? `api:${r.remoteAddress}`.slice(0, 256) },
        )
        .catch((err) => logger.error({ err: messageOf(err) }, 'could not publish ApiRequestRefused'));
    },
  });
  const url = await server.listen(config.http.port, config.http.host);
  leases.start();

  return {
    url,
    bus,
    metrics,
    get active() {
      return active;
    },
    whenActive: () => activeOnce,
    async stop() {
      stopping = true;
      server.setShuttingDown();
      // Finish and push before the lease is released, so a successor starts from our last record.
      await deactivate('shutdown');
      await bus.close();
      await server.close();
    },
  };
}
