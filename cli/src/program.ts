import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  evidenceCommand,
  type KeptCheckpoint,
  readStreamCheckpoints,
  renderEvidenceSummary,
  renderVerifyResult,
  verifyCommand,
  verifyEvidenceFile,
} from '@flotilla/audit-writer';
import { generateSealingKey } from '@flotilla/trust';
import { jetstream } from '@nats-io/jetstream';
import { nkeys } from '@nats-io/nats-core';
import { Command, CommanderError, Option } from 'commander';
import {
  type AuditRecordWire,
  type HistoryWire,
  parseTime,
  renderHistory,
  renderVerify,
  type VerifyWire,
} from './audit-view.ts';
import { resolveTypes } from './event-filter.ts';
import { connectNats, type NatsOptions, tailEvents } from './events-tail.ts';
import { CliError, EXIT, usageError } from './exit-codes.ts';
import { ApiClient } from './http-client.ts';
import type { Io } from './io.ts';
import { natsIdentities, renderNatsAuthorization } from './nats-auth.ts';
import { bootstrapNats } from './nats-bootstrap.ts';
import { flotillaDeclarations, type InstallShape } from './nats-declarations.ts';
import { Progress } from './progress.ts';
import { redactSecrets, renderLocal, toYamlStream } from './render-local.ts';
import {
  type DriftByCluster,
  type DriftRecord,
  driftByCluster,
  type PipelinesWire,
  type PromotionWire,
  renderPipelines,
  renderStatus,
  type StatusWire,
} from './status-view.ts';
import { readStoredEvents } from './trace-read.ts';
import { formatTimeline, selectTrace } from './trace-timeline.ts';
import { parseDuration, waitForRollout } from './wait-rollout.ts';

export const DEFAULTS = {
  plannerUrl: 'http://127.0.0.1:8083',
  auditUrl: 'http://127.0.0.1:8080',
  natsUrl: 'nats://127.0.0.1:4222',
};

interface GlobalOptions {
  plannerUrl: string;
  auditUrl: string;
  nats: string;
  natsUser?: string;
  natsPassword?: string;
  natsNkeySeedFile?: string;
  natsCa?: string;
  token?: string;
  pipeline?: string;
  cacert?: string;
}

/**
 * The NATS connection the global options describe. A named user reads replies only on its own
 * inbox `_INBOX_<user>` (the shipped authorization); with a seed it signs in by nkey instead of a
 * password; with a CA the server's certificate is verified against it.
 */
function natsConnection(g: GlobalOptions): NatsOptions {
  return {
    url: g.nats,
    user: g.natsUser,
    password: g.natsPassword,
    ...(g.natsUser ? { inboxPrefix: `_INBOX_${g.natsUser}` } : {}),
    ...(g.natsNkeySeedFile ? { nkeySeedFile: g.natsNkeySeedFile } : {}),
    ...(g.natsCa ? { caFile: g.natsCa } : {}),
  };
}

const outputOption = () =>
  new Option('-o, --output <format>', 'output format').choices(['table', 'json']).default('table');

const collect = (value: string, previous: string[]) => [...previous, value];

const CONFIG_DIR_HELP =
  "the services' config files (<identity>.yaml: planner.yaml, audit-writer.yaml, applier-<cluster>.yaml, …): consumers and buckets as each service is configured, defaults for a service without one";

function durationArg(name: string, value: string): number {
  const ms = parseDuration(value);
  if (ms === undefined || ms <= 0) throw usageError(`${name}: "${value}" is not a duration (e.g. 90s, 10m)`);
  return ms;
}

function timeArg(name: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const t = parseTime(value);
  if (!t) throw usageError(`${name}: "${value}" is not a time (RFC 3339, a date, or 7d / 12h / 30m ago)`);
  return t;
}

/**
 * Builds the `flotilla` command. Everything it prints goes through `io`, and every failure is
 * a CliError carrying its exit code, so tests can run it in-process or as a child process.
 */
export function buildProgram(io: Io, env: NodeJS.ProcessEnv): Command {
  const program = new Command('flotilla');
  program
    .description(
      'Flotilla: pull-based GitOps delivery. Status, approvals, promotion, live events and the audit log.',
    )
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) })
    .showHelpAfterError('(run flotilla --help for usage)')
    .addOption(
      new Option('--planner-url <url>', 'planner API')
        .env('FLOTILLA_PLANNER_URL')
        .default(DEFAULTS.plannerUrl),
    )
    .addOption(
      new Option('--audit-url <url>', 'audit-writer API')
        .env('FLOTILLA_AUDIT_URL')
        .default(DEFAULTS.auditUrl),
    )
    .addOption(
      new Option('--nats <url>', 'NATS server(s), comma-separated')
        .env('FLOTILLA_NATS_URL')
        .default(DEFAULTS.natsUrl),
    )
    .addOption(new Option('--nats-user <user>', 'NATS user (e.g. subscriber)').env('FLOTILLA_NATS_USER'))
    .addOption(new Option('--nats-password <password>', 'NATS password').env('FLOTILLA_NATS_PASSWORD'))
    .addOption(
      new Option(
        '--nats-nkey-seed-file <file>',
        'NATS nkey seed of --nats-user (signs in by key, no password)',
      ).env('FLOTILLA_NATS_NKEY_SEED_FILE'),
    )
    .addOption(
      new Option('--nats-ca <file>', "CA certificate (PEM) that signed NATS's TLS certificate (TLS on)").env(
        'FLOTILLA_NATS_TLS_CA_FILE',
      ),
    )
    .addOption(
      new Option(
        '--cacert <file>',
        'CA certificate (PEM) that signed the planner and audit APIs’ HTTPS certificates',
      ).env('FLOTILLA_CACERT'),
    )
    .addOption(
      new Option('--token <token>', 'bearer token for the planner and audit APIs').env('FLOTILLA_TOKEN'),
    )
    .addOption(
      new Option(
        '-p, --pipeline <name>',
        "pipeline to act on (default: the repo's root or only pipeline)",
      ).env('FLOTILLA_PIPELINE'),
    );

  // commander reads env through process.env; make the given env authoritative for tests.
  for (const opt of program.options) {
    if (opt.envVar && env[opt.envVar] === undefined) delete process.env[opt.envVar];
    else if (opt.envVar) process.env[opt.envVar] = env[opt.envVar];
  }

  const globals = () => program.opts<GlobalOptions>();
  const api = (pipeline?: string) => {
    const g = globals();
    return new ApiClient({
      plannerUrl: g.plannerUrl,
      auditUrl: g.auditUrl,
      token: g.token,
      pipeline: pipeline ?? g.pipeline,
      caFile: g.cacert,
    });
  };
  const json = (value: unknown) => io.out(JSON.stringify(value, null, 2));

  program
    .command('status [pipeline]')
    .description(
      'the pipelines of the repo; with a pipeline (or a repo of one): per stage and cluster revision, images, sync, health, drift, pending approvals',
    )
    .addOption(outputOption())
    .option('--no-drift', 'do not ask the audit API for drift')
    .action(async (pipeline: string | undefined, opts: { output: string; drift: boolean }) => {
      const client = api(pipeline);
      let status: StatusWire;
      try {
        status = await client.stages<StatusWire>();
      } catch (err) {
        // Several pipelines and none named: list them.
        if (!(err instanceof CliError) || (err.details as { error?: string })?.error !== 'pipeline-required')
          throw err;
        const list = await client.pipelines<PipelinesWire>();
        if (opts.output === 'json') json(list);
        else io.out(renderPipelines(list));
        return;
      }
      let drift: DriftByCluster;
      if (opts.drift) {
        try {
          const [detected, corrected] = await Promise.all(
            ['DriftDetected', 'DriftCorrected'].map((type) =>
              client.history<{ records: DriftRecord[] }>({ type, limit: '10000' }),
            ),
          );
          drift = driftByCluster([...(detected?.records ?? []), ...(corrected?.records ?? [])]);
        } catch (err) {
          if (!(err instanceof CliError)) throw err;
          drift = undefined;
        }
      }
      if (opts.output === 'json') {
        json({ ...status, drift: drift ? Object.fromEntries(drift) : null });
        return;
      }
      io.out(renderStatus(status, drift));
    });

  program
    .command('history')
    .description('audit log records (audit-writer /history), oldest first')
    .option('--cluster <name>')
    .option('--stage <name>')
    .option('--type <event>', 'event name or CloudEvents type, e.g. PromotionApproved')
    .option('--actor <actor>', 'e.g. user:alice')
    .option('--app <name>')
    .option('--revision <sha>')
    .option('--since <time>', 'RFC 3339, a date, or 7d / 12h / 30m (ago)')
    .option('--until <time>')
    .option('--limit <n>', 'at most this many records', '200')
    .addOption(outputOption())
    .action(async (opts: Record<string, string>) => {
      if (!/^\d+$/.test(opts.limit ?? '') || Number(opts.limit) < 1)
        throw usageError(`--limit: "${opts.limit}" is not a positive integer`);
      const h = await api().history<HistoryWire>({
        cluster: opts.cluster,
        stage: opts.stage,
        type: opts.type,
        actor: opts.actor,
        app: opts.app,
        revision: opts.revision,
        since: timeArg('--since', opts.since),
        until: timeArg('--until', opts.until),
        limit: opts.limit,
      });
      if (opts.output === 'json') json(h);
      else io.out(renderHistory(h));
    });

  program
    .command('approve <promotionId>')
    .description('approve a promotion awaiting approval (your token must map to an allowed approver)')
    .option('-m, --comment <text>')
    .addOption(outputOption())
    .action(async (id: string, opts: { comment?: string; output: string }) => {
      const res = await api().approve<{ promotion: PromotionWire }>(id, opts.comment);
      if (opts.output === 'json') json(res);
      else io.out(`approved ${id}: promotion is ${res.promotion.status}`);
    });

  program
    .command('reject <promotionId>')
    .description('reject a promotion awaiting approval')
    .requiredOption('-r, --reason <text>', 'why (recorded in the audit log)')
    .addOption(outputOption())
    .action(async (id: string, opts: { reason: string; output: string }) => {
      if (!opts.reason.trim()) throw usageError('--reason must not be empty');
      const res = await api().reject<{ promotion: PromotionWire }>(id, opts.reason);
      if (opts.output === 'json') json(res);
      else io.out(`rejected ${id}: ${opts.reason}`);
    });

  const waitOptions = (cmd: Command) =>
    cmd
      .option('-w, --wait', 'wait until every cluster of the stage applied the change and is healthy')
      .option('--timeout <duration>', 'give up waiting after this long', '10m')
      .option('--interval <duration>', 'poll interval while waiting', '2s');

  const stageRevision = async (client: ApiClient, stage: string) => {
    const status = await client.stages<StatusWire>();
    const s = status.stages.find((x) => x.name === stage);
    if (!s)
      throw new CliError(
        `no stage ${stage}; stages: ${status.stages.map((x) => x.name).join(', ')}`,
        EXIT.failure,
      );
    return s.revision;
  };

  const wait = async (
    client: ApiClient,
    stage: string,
    before: string | null,
    opts: { timeout: string; interval: string },
    promotionId?: string,
  ) => {
    const progress = new Progress(io);
    progress.start(`waiting for ${stage}`);
    try {
      const done = await waitForRollout({
        api: client,
        stage,
        revisionBefore: before,
        promotionId,
        timeoutMs: durationArg('--timeout', opts.timeout),
        intervalMs: durationArg('--interval', opts.interval),
        progress,
      });
      progress.stop(
        `✔ ${stage} is at ${done.revision?.slice(0, 12) ?? '-'}: every cluster applied and healthy`,
      );
    } catch (err) {
      progress.stop();
      throw err;
    }
  };

  waitOptions(
    program
      .command('promote <stage>')
      .description(
        "promote the previous stage's images into <stage> now (skips soak; manual stages need an approver's token)",
      ),
  )
    .addOption(outputOption())
    .action(
      async (stage: string, opts: { wait?: boolean; timeout: string; interval: string; output: string }) => {
        const client = api();
        if (opts.wait) durationArg('--timeout', opts.timeout);
        const before = opts.wait ? await stageRevision(client, stage) : null;
        const res = await client.stageAction<{ promotion: PromotionWire }>(stage, 'promote');
        if (opts.output === 'json') json(res);
        else
          io.out(
            `promotion ${res.promotion.id}: ${res.promotion.fromStage} → ${stage} is ${res.promotion.status}`,
          );
        if (opts.wait) await wait(client, stage, before, opts, res.promotion.id);
      },
    );

  waitOptions(
    program
      .command('rollback <stage>')
      .description('restore the last healthy revision of <stage> (or --to) and lock the stage'),
  )
    .option('--to <revision>', 'full commit sha to restore')
    .option('-r, --reason <text>')
    .addOption(outputOption())
    .action(
      async (
        stage: string,
        opts: {
          to?: string;
          reason?: string;
          wait?: boolean;
          timeout: string;
          interval: string;
          output: string;
        },
      ) => {
        if (opts.to && !/^[0-9a-f]{40}$/.test(opts.to))
          throw usageError('--to: a full 40-character commit sha');
        const client = api();
        const before = opts.wait ? await stageRevision(client, stage) : null;
        const res = await client.stageAction<{ commit: string; toRevision: string }>(stage, 'rollback', {
          ...(opts.to ? { toRevision: opts.to } : {}),
          ...(opts.reason ? { reason: opts.reason } : {}),
        });
        if (opts.output === 'json') json(res);
        else
          io.out(
            `rolled back ${stage} to ${res.toRevision.slice(0, 12)} in commit ${res.commit.slice(0, 12)}; ${stage} is locked until \`flotilla unlock ${stage}\``,
          );
        if (opts.wait) await wait(client, stage, before, opts);
      },
    );

  for (const action of ['lock', 'unlock'] as const) {
    program
      .command(`${action} <stage>`)
      .description(action === 'lock' ? 'stop automated changes to <stage>' : 'resume automation on <stage>')
      .option('-r, --reason <text>')
      .addOption(outputOption())
      .action(async (stage: string, opts: { reason?: string; output: string }) => {
        const res = await api().stageAction<{ stage: { locked?: unknown } }>(
          stage,
          action,
          opts.reason ? { reason: opts.reason } : {},
        );
        if (opts.output === 'json') json(res);
        else io.out(`${stage} is ${res.stage.locked ? 'locked' : 'unlocked'}`);
      });
  }

  const events = program.command('events').description('live events from NATS');
  events
    .command('tail')
    .description('print events as they happen (core subscription on flotilla.v1.>; needs only read access)')
    .option('-t, --type <event>', 'event name, type or domain; repeatable or comma-separated', collect, [])
    .option('-c, --cluster <name>', 'only events about this cluster; repeatable', collect, [])
    .option('-s, --stage <name>', 'only events about this stage; repeatable', collect, [])
    .option('-n, --count <n>', 'exit after this many events')
    .addOption(outputOption())
    .action(
      async (opts: {
        type: string[];
        cluster: string[];
        stage: string[];
        count?: string;
        output: string;
      }) => {
        if (opts.count !== undefined && (!/^\d+$/.test(opts.count) || Number(opts.count) < 1))
          throw usageError(`--count: "${opts.count}" is not a positive integer`);
        const g = globals();
        const ac = new AbortController();
        const onSignal = () => ac.abort();
        process.once('SIGINT', onSignal);
        process.once('SIGTERM', onSignal);
        try {
          await tailEvents(
            {
              nats: natsConnection(g),
              types: resolveTypes(opts.type),
              filter: { clusters: opts.cluster, stages: opts.stage },
              json: opts.output === 'json',
              count: opts.count === undefined ? undefined : Number(opts.count),
              signal: ac.signal,
            },
            io,
          );
        } finally {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
        }
      },
    );

  program
    .command('trace <id>')
    .description(
      'the timeline of one delivery from the event stream (no tracing backend needed): <id> is a correlation id, ' +
        'an event id, a trace id, or a commit (7+ hex digits); events sharing its correlation or trace are included',
    )
    .option('--since <time>', 'read events stored since (RFC 3339, a date, or 7d / 12h / 30m ago)', '24h')
    .option('--max-events <n>', 'read at most this many events from the stream', '200000')
    .addOption(outputOption())
    .action(async (id: string, opts: { since: string; maxEvents: string; output: string }) => {
      if (!/^[\w.:@-]{1,128}$/.test(id))
        throw usageError(`"${id}" is not a correlation id, event id or commit`);
      if (!/^\d+$/.test(opts.maxEvents) || Number(opts.maxEvents) < 1)
        throw usageError(`--max-events: "${opts.maxEvents}" is not a positive integer`);
      const g = globals();
      const { events, truncated } = await readStoredEvents({
        nats: natsConnection(g),
        since: timeArg('--since', opts.since) as string,
        maxEvents: Number(opts.maxEvents),
      });
      if (truncated)
        io.err(`read the first ${opts.maxEvents} events only; narrow --since or raise --max-events`);
      const selected = selectTrace(events, id);
      if (selected.length === 0)
        throw new CliError(
          `no event names ${id} since ${opts.since} (${events.length} events read)`,
          EXIT.failure,
        );
      if (opts.output === 'json') json(selected.map((s) => s.event));
      else for (const line of formatTimeline(selected)) io.out(line);
    });

  const audit = program.command('audit').description('the hash-chained audit log');
  audit
    .command('verify')
    .description(
      'verify the audit log; exit 1 and name the first bad record. With --dir and --key: offline, against ' +
        "the writer's signed checkpoints (catches a rewrite that was re-hashed); else asks the audit-writer",
    )
    .option('--dir <clone>', 'a clone of the audit repo to verify here, trusting nothing in it')
    .option(
      '--key <verifier-key>',
      "the audit-writer's verifier key (name+hash+key) or a file holding it or a PEM",
      collect,
      [],
    )
    .option(
      '--checkpoint <file>',
      'a checkpoint kept earlier (note, checkpoints/ line, or an export); repeatable',
      collect,
      [],
    )
    .option('--origin <origin>', 'the log origin (first checkpoint line); required with --stream')
    .option('--stream', 'also check every checkpoint kept in the NATS checkpoint stream (--nats)')
    .addOption(outputOption())
    .action(
      async (opts: {
        dir?: string;
        key: string[];
        checkpoint: string[];
        origin?: string;
        stream?: boolean;
        output: string;
      }) => {
        if (!opts.dir) {
          if (opts.key.length || opts.checkpoint.length || opts.stream)
            throw usageError('--key, --checkpoint and --stream verify a clone: give it with --dir');
          const res = await api().verify<VerifyWire>();
          if (opts.output === 'json') json(res.body);
          else io.out(renderVerify(res.body));
          if (!res.ok || !res.body.ok) throw new CliError('', EXIT.failure);
          return;
        }
        if (!existsSync(opts.dir)) throw usageError(`--dir: ${opts.dir} does not exist`);
        if (opts.stream && !opts.origin)
          throw usageError('--stream needs --origin (GET /checkpoint shows it)');
        const extra: KeptCheckpoint[] = [];
        if (opts.stream && opts.origin) {
          const g = globals();
          const nc = await connectNats(natsConnection(g));
          try {
            for (const { seq, entry } of await readStreamCheckpoints(jetstream(nc), opts.origin))
              extra.push({ source: `stream:${seq}`, entry });
          } finally {
            await nc.close();
          }
        }
        let result: Awaited<ReturnType<typeof verifyCommand>>;
        try {
          result = await verifyCommand({
            dir: opts.dir,
            keys: opts.key,
            kept: opts.checkpoint,
            extra,
            ...(opts.origin ? { origin: opts.origin } : {}),
          });
        } catch (err) {
          throw usageError((err as Error).message);
        }
        if (opts.output === 'json') json(result);
        else io.out(renderVerifyResult(result));
        if (opts.key.length === 0)
          io.err(
            'warning: no --key: only the unkeyed hash chain was checked; a re-hashed rewrite goes unnoticed',
          );
        if (!result.ok) throw new CliError('', EXIT.failure);
      },
    );
  audit
    .command('checkpoint')
    .description(
      "the audit log's newest signed checkpoint and the key that verifies it (keep a copy: later logs must extend it)",
    )
    .option('--out <file>', 'write the signed checkpoint to a file')
    .addOption(outputOption())
    .action(async (opts: { out?: string; output: string }) => {
      const cp = await api().checkpoint<{
        origin: string;
        note: string | null;
        verifierKey: string | null;
      }>();
      if (opts.out) {
        if (!cp.note) throw new CliError('the audit log has no signed checkpoint yet', EXIT.failure);
        writeFileSync(opts.out, cp.note);
        io.status(`wrote ${opts.out}`);
      }
      if (opts.output === 'json') json(cp);
      else
        io.out(
          `origin: ${cp.origin}\nverifier key: ${cp.verifierKey ?? '(signing off)'}\n\n${cp.note ?? '(no checkpoint yet)'}`.trimEnd(),
        );
    });
  audit
    .command('export')
    .description('production changes in a period: config commit, author, approver, plan digest, apply result')
    .option('--since <time>', 'RFC 3339, a date, or 30d (ago)')
    .option('--until <time>')
    .addOption(new Option('-f, --format <format>').choices(['csv', 'json']).default('json'))
    .option('--out <file>', 'write to a file instead of stdout')
    .action(async (opts: { since?: string; until?: string; format: 'csv' | 'json'; out?: string }) => {
      const since = timeArg('--since', opts.since);
      const until = timeArg('--until', opts.until);
      const res = await api().exportChanges({
        ...(since ? { since } : {}),
        ...(until ? { until } : {}),
        format: opts.format,
      });
      const body = opts.format === 'json' ? `${JSON.stringify(JSON.parse(res.text), null, 2)}\n` : res.text;
      if (opts.out) {
        writeFileSync(opts.out, body);
        const sha = res.headers.get('x-flotilla-export-sha256');
        io.status(`wrote ${opts.out}${sha ? ` (${sha})` : ''}`);
      } else process.stdout.write(body);
    });

  audit
    .command('evidence [change]')
    .description(
      'chain of custody of production changes (one, by commit, promotion, plan or change id; or all in a period): ' +
        'commit, author, approvals, plan digest and signature, apply result, classification standard/emergency/rollback, ' +
        'with the audit records and signed checkpoints that prove them. Cut offline from a verified clone.',
    )
    .requiredOption('--dir <clone>', 'a clone of the audit repo (verified against --key first)')
    .option(
      '--key <verifier-key>',
      "the audit-writer's verifier key (name+hash+key), a file, or a PEM",
      collect,
      [],
    )
    .option('--stage <stage>', 'production stage (repeatable; default prod)', collect, [])
    .option('--since <time>', 'RFC 3339, a date, or 30d (ago)')
    .option('--until <time>')
    .option('--out <file>', 'write the package to a file instead of stdout')
    .action(
      async (
        change: string | undefined,
        opts: { dir: string; key: string[]; stage: string[]; since?: string; until?: string; out?: string },
      ) => {
        if (!existsSync(opts.dir)) throw usageError(`--dir: ${opts.dir} does not exist`);
        if (opts.key.length === 0) throw usageError("--key: the audit-writer's verifier key is required");
        const since = timeArg('--since', opts.since);
        const until = timeArg('--until', opts.until);
        let res: Awaited<ReturnType<typeof evidenceCommand>>;
        try {
          res = await evidenceCommand({
            dir: opts.dir,
            keys: opts.key,
            stages: opts.stage.length > 0 ? opts.stage : ['prod'],
            ...(since ? { since } : {}),
            ...(until ? { until } : {}),
            ...(change ? { selector: change } : {}),
          });
        } catch (err) {
          throw usageError((err as Error).message);
        }
        if (!res.evidence) {
          io.err(renderVerifyResult(res.verify));
          throw new CliError('the audit log does not verify; no evidence cut from it', EXIT.failure);
        }
        if (change && res.evidence.changes.length === 0)
          throw new CliError(`no production change matches ${change}`, EXIT.failure);
        const body = `${JSON.stringify(res.evidence, null, 2)}\n`;
        if (opts.out) {
          writeFileSync(opts.out, body);
          io.status(`wrote ${opts.out}`);
        } else process.stdout.write(body);
        io.err(renderEvidenceSummary(res.evidence));
      },
    );
  audit
    .command('verify-evidence <file>')
    .description(
      'check an evidence package offline with the audit-writer public key alone: self-hash, checkpoint signatures, every record',
    )
    .option(
      '--key <verifier-key>',
      "the audit-writer's verifier key (name+hash+key), a file, or a PEM",
      collect,
      [],
    )
    .addOption(outputOption())
    .action(async (file: string, opts: { key: string[]; output: string }) => {
      if (opts.key.length === 0) throw usageError("--key: the audit-writer's verifier key is required");
      if (!existsSync(file)) throw usageError(`${file} does not exist`);
      let result: Awaited<ReturnType<typeof verifyEvidenceFile>>;
      try {
        result = await verifyEvidenceFile(file, opts.key);
      } catch (err) {
        throw usageError((err as Error).message);
      }
      if (opts.output === 'json') json(result);
      else if (result.ok)
        io.out(
          `ok: ${result.changes} changes, ${result.records} records proven by ${result.checkpoints} signed checkpoints`,
        );
      else io.out(`INVALID:\n${result.problems.map((p) => `- ${p}`).join('\n')}`);
      if (!result.ok) throw new CliError('', EXIT.failure);
    });

  program
    .command('render <repo-dir>')
    .description(
      "render a cluster of a local config repo checkout as the planner would (same pipeline loader, kustomization walk, sandbox and budgets): the objects on stdout, a refusal's file and line on stderr and exit 1. Needs no server: run it in CI",
    )
    .requiredOption(
      '-c, --cluster <name>',
      'the cluster to render (its path in every pipeline that names it; --pipeline limits)',
    )
    .addOption(new Option('-o, --output <format>', 'output format').choices(['yaml', 'json']).default('yaml'))
    .addOption(
      new Option(
        '--kustomize <renderer>',
        "what builds kustomizations, as the planner's kustomize setting: auto (flotilla-kustomize when on PATH or built by scripts/setup.sh, else kubectl), kubectl, or a flotilla-kustomize path",
      )
        .env('FLOTILLA_KUSTOMIZE')
        .default('auto'),
    )
    .option('--kubectl <binary>', 'kubectl for `kubectl kustomize`', 'kubectl')
    .option('--show-secrets', "print Secrets' data and stringData values (hidden by default)")
    .action(
      async (
        dir: string,
        opts: { cluster: string; output: string; kustomize: string; kubectl: string; showSecrets?: boolean },
      ) => {
        const pipeline = globals().pipeline;
        const { rendered } = await renderLocal({
          dir,
          cluster: opts.cluster,
          ...(pipeline ? { pipeline } : {}),
          kustomize: opts.kustomize,
          kubectl: opts.kubectl,
        });
        const all = rendered.flatMap((r) => r.objects);
        const { objects, hidden } = opts.showSecrets ? { objects: all, hidden: 0 } : redactSecrets(all);
        if (opts.output === 'json') json({ apiVersion: 'v1', kind: 'List', items: objects });
        else if (objects.length > 0) io.out(toYamlStream(objects));
        for (const r of rendered)
          io.status(
            `rendered ${opts.cluster} of pipeline ${r.pipeline} (${r.path}): ${r.objects.length} objects`,
          );
        if (hidden > 0) io.status(`${hidden} Secret value(s) hidden; --show-secrets prints them`);
      },
    );

  const split = (s: string) =>
    s
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean);

  program
    .command('seal-key <cluster>')
    .description(
      "make a cluster's bundle sealing key pair: the private key for its applier (sealing.keyFile), the recipient entry for the planner (bundles.recipients)",
    )
    .requiredOption('--out <file>', 'where to write the private key (PKCS#8 PEM, mode 0600); must not exist')
    .action((cluster: string, opts: { out: string }) => {
      if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(cluster))
        throw usageError(`cluster "${cluster}" must be a DNS label`);
      if (existsSync(opts.out)) throw usageError(`${opts.out} exists; a key is never overwritten`);
      const pair = generateSealingKey();
      writeFileSync(opts.out, pair.privatePem, { mode: 0o600, flag: 'wx' });
      io.out(`${cluster}=${pair.publicKey}`);
    });

  program
    .command('nats-auth')
    .description('print the nats-server authorization block for these clusters (deploy/nats/README.md)')
    .requiredOption('--clusters <names>', 'comma-separated target clusters, e.g. dev,test,uat,prod')
    .option('--subscribers <names>', 'read-only subscriber identities', 'subscriber')
    .option('--bundle-bucket <name>', 'object store of plan bundles', 'flotilla-bundles')
    .option('--config-dir <dir>', CONFIG_DIR_HELP)
    .option(
      '--nkeys <file|env>',
      "JSON map identity → nkey public key (`flotilla nats nkeys`): those sign in by key; `env`: every identity does, its key from nats-server's environment ($FLOTILLA_NATS_NKEY_<USER>, the shipped install)",
    )
    .action(
      (opts: {
        clusters: string;
        subscribers: string;
        bundleBucket: string;
        nkeys?: string;
        configDir?: string;
      }) => {
        try {
          io.out(
            renderNatsAuthorization({
              clusters: split(opts.clusters),
              subscribers: split(opts.subscribers),
              bundleBucket: opts.bundleBucket,
              ...(opts.configDir ? { configDir: opts.configDir } : {}),
              ...(opts.nkeys === 'env'
                ? { nkeysFromEnv: true }
                : opts.nkeys
                  ? { nkeys: JSON.parse(readFileSync(opts.nkeys, 'utf8')) as Record<string, string> }
                  : {}),
            }).trimEnd(),
          );
        } catch (err) {
          throw usageError((err as Error).message);
        }
      },
    );

  const natsCommand = program.command('nats').description('NATS administration');
  natsCommand
    .command('bootstrap')
    .description(
      'create the event stream, buckets, object stores and durable consumers every service declares (admin identity; idempotent)',
    )
    .requiredOption('--clusters <names>', 'comma-separated target clusters, e.g. dev,test,uat,prod')
    .option('--subscribers <names>', 'read-only subscriber identities', 'subscriber')
    .option('--bundle-bucket <name>', 'object store of plan bundles', 'flotilla-bundles')
    .option('--replicas <n>', 'JetStream replicas (3 on the shipped 3-node NATS)', '1')
    .option('--config-dir <dir>', CONFIG_DIR_HELP)
    .action(
      async (opts: {
        clusters: string;
        subscribers: string;
        bundleBucket: string;
        replicas: string;
        configDir?: string;
      }) => {
        if (!/^[1-5]$/.test(opts.replicas)) throw usageError(`--replicas: "${opts.replicas}" must be 1..5`);
        let shape: InstallShape;
        try {
          shape = {
            clusters: split(opts.clusters),
            subscribers: split(opts.subscribers),
            bundleBucket: opts.bundleBucket,
            ...(opts.configDir ? { configDir: opts.configDir } : {}),
          };
          flotillaDeclarations(shape); // names and the services' config files are checked before connecting
        } catch (err) {
          throw usageError((err as Error).message);
        }
        const g = globals();
        await bootstrapNats(
          {
            ...shape,
            replicas: Number(opts.replicas),
            nats: natsConnection(g),
          },
          io,
        );
      },
    );

  natsCommand
    .command('nkeys')
    .description(
      "make an nkey per identity of the install: seeds into --out (0600, never overwritten; mount each as its service's nats.nkeySeedFile), the public keys as JSON on stdout (for `nats-auth --nkeys`)",
    )
    .requiredOption('--clusters <names>', 'comma-separated target clusters, e.g. dev,test,uat,prod')
    .option('--subscribers <names>', 'read-only subscriber identities', 'subscriber')
    .requiredOption('--out <dir>', 'directory for the seed files (<identity>.nk)')
    .action((opts: { clusters: string; subscribers: string; out: string }) => {
      let users: string[];
      try {
        users = natsIdentities({ clusters: split(opts.clusters), subscribers: split(opts.subscribers) }).map(
          (id) => id.user,
        );
      } catch (err) {
        throw usageError((err as Error).message);
      }
      mkdirSync(opts.out, { recursive: true, mode: 0o700 });
      const existing = users.filter((u) => existsSync(join(opts.out, `${u}.nk`)));
      if (existing.length)
        throw usageError(`seeds exist for ${existing.join(', ')}; a seed is never overwritten`);
      const publicKeys: Record<string, string> = {};
      for (const user of users) {
        const pair = nkeys.createUser();
        writeFileSync(join(opts.out, `${user}.nk`), `${new TextDecoder().decode(pair.getSeed())}\n`, {
          mode: 0o600,
          flag: 'wx',
        });
        publicKeys[user] = pair.getPublicKey();
      }
      io.out(JSON.stringify(publicKeys, null, 2));
    });

  return program;
}

/** Runs the CLI and resolves to its exit code (never throws). */
export async function runCli(args: string[], io: Io, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const program = buildProgram(io, env);
  try {
    await program.parseAsync(args, { from: 'user' });
    return EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (
        err.code === 'commander.helpDisplayed' ||
        err.code === 'commander.version' ||
        err.code === 'commander.help'
      )
        return EXIT.ok;
      // commander already printed the message
      return EXIT.usage;
    }
    if (err instanceof CliError) {
      if (err.message) io.err(`flotilla: ${err.message}`);
      return err.exitCode;
    }
    io.err(`flotilla: ${(err as Error).stack ?? String(err)}`);
    return EXIT.failure;
  }
}

export type { AuditRecordWire };
