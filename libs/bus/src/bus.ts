import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { FlotillaError, messageOf } from '@flotilla/errors';
import {
  CLOUDEVENTS_JSON,
  childTraceparent,
  createEvent,
  DeadLettered,
  type EventContext,
  type EventDefinition,
  encodeEvent,
  type FlotillaEvent,
  type Producer,
  type RequestDefinition,
  requestSubject,
  requestSubjects,
  sourceFor,
  subjectOf,
  validateEvent,
  validateMessage,
} from '@flotilla/events';
import { activeTraceContext } from '@flotilla/telemetry';
import {
  type ConsumerInfo,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  type StoredMsg,
  type StreamInfo,
} from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { type NatsConnection, headers as natsHeaders, nkeyAuthenticator } from '@nats-io/nats-core';
import { Objm } from '@nats-io/obj';
import { connect } from '@nats-io/transport-node';
import type { Static, TObject } from '@sinclair/typebox';
import { Registry } from 'prom-client';
import { BlobStore } from './blobs.ts';
import { type ConsumeOptions, type DeadLetterSink, type Subscription, startConsumer } from './consumer.ts';
import { JsonKv } from './kv.ts';
import { LeaseSet, type LeaseSetOptions } from './lease.ts';
import { type BusMetrics, busMetrics } from './metrics.ts';
import {
  isConsumerNotFound,
  isNoMessageFound,
  isNoResponders,
  isStreamNotFound,
  isTimeout,
} from './nats-errors.ts';
import { type Replayed, type ReplayOptions, replayEvents } from './replay.ts';
import { inboxPrefixFor, notProvisioned } from './resources.ts';
import {
  CHECKPOINT_SUBJECT_PREFIX,
  EVENT_STREAM,
  ensureCheckpointStream,
  ensureEventStream,
  eventStreamConfig,
  type StreamOptions,
  whileClusterSettles,
} from './stream.ts';

/**
 * The key of the raw connection, for @flotilla/test-support's `rawNats` (a registered symbol, so
 * test-support needs no import of the bus). Production code has no business with it.
 */
export const RAW_NATS: unique symbol = Symbol.for('flotilla.test-support.raw-nats');

export interface BusLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface BusOptions {
  servers: string | string[];
  /** The service publishing through this bus; becomes the CloudEvents `source`. */
  service: Producer;
  instance?: string;
  user?: string;
  pass?: string;
  token?: string;
  /** Create or update the event stream on connect (tests and benches; services use `provision`). */
  ensureStream?: boolean | StreamOptions;
  /**
   * May this bus create what is missing: the event stream, a KV bucket or object store it opens,
   * a durable consumer it binds to (default true: a service started alone against a dev NATS
   * just works). Never alters what exists beyond a consumer's declared config. With `false`
   * (every shipped install) it only binds, and a missing resource is a `bus.not-provisioned`
   * error naming it: `flotilla nats bootstrap` creates them with the admin identity.
   */
  provision?: boolean;
  metrics?: Registry;
  logger?: BusLogger;
  /** Timeout for a publish to be acknowledged by JetStream. */
  publishTimeoutMs?: number;
  /**
   * Private reply inbox (e.g. `_INBOX_applier-dev`). With NATS authorization on, an applier may
   * subscribe only to its own inbox, so it cannot read plans pulled by another cluster's applier.
   */
  inboxPrefix?: string;
  /** nkey seed (`SU…`): sign the server's nonce instead of sending a password. */
  nkeySeed?: string;
  /** TLS: the CA that signed the server's certificate (always verified), and a client certificate for mTLS. */
  tls?: { caFile: string; certFile?: string; keyFile?: string };
}

export interface PublishContext extends Partial<Omit<EventContext, 'source'>> {
  /**
   * Sets correlation and causation from the event that led to this one, and continues its trace
   * (the active span's when tracing is on, else the cause's trace with a new span id).
   */
  cause?: FlotillaEvent;
}

export interface Published<D> {
  event: FlotillaEvent<D>;
  seq: number;
  duplicate: boolean;
}

const silent: BusLogger = { info() {}, warn() {}, error() {} };

/**
 * A clustered JetStream is briefly unavailable while it elects a meta leader (after a node
 * restart, at cluster start). Services should wait that out rather than crash-loop.
 */
async function jetStreamWhenReady(
  nc: NatsConnection,
  logger: BusLogger,
  withinMs = 60_000,
): Promise<JetStreamManager> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    try {
      return await jetstreamManager(nc, { timeout: 10_000 });
    } catch (err) {
      if (Date.now() >= deadline) throw err;
      logger.warn({ err: messageOf(err) }, 'JetStream not ready yet; retrying');
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

export class Bus {
  readonly source: string;
  readonly metrics: BusMetrics;
  private readonly subs = new Set<Subscription>();
  private readonly leaseSets = new Set<LeaseSet>();

  // The raw handles stay here: every caller goes through a typed method below, so subjects, stream
  // names, validation and nats.js's error codes are decided once. Tests that must step outside the
  // contract (publish garbage, purge a stream) reach them through test-support's `rawNats(bus)`.
  private constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    readonly service: Producer,
    readonly instance: string,
    private readonly logger: BusLogger,
    registry: Registry,
    private readonly publishTimeoutMs: number,
    readonly provision: boolean,
  ) {
    this.source = sourceFor(service, instance);
    this.metrics = busMetrics(registry);
  }

  static async connect(opts: BusOptions): Promise<Bus> {
    const instance = opts.instance ?? `${hostname()}-${process.pid}`;
    const logger = opts.logger ?? silent;
    let nc: NatsConnection;
    try {
      nc = await connect({
        servers: opts.servers,
        name: `flotilla-${opts.service}-${instance}`,
        user: opts.user,
        pass: opts.pass,
        token: opts.token,
        ...(opts.inboxPrefix ? { inboxPrefix: opts.inboxPrefix } : {}),
        ...(opts.tls ? { tls: opts.tls } : {}),
        ...(opts.nkeySeed
          ? { authenticator: nkeyAuthenticator(new TextEncoder().encode(opts.nkeySeed)) }
          : {}),
        maxReconnectAttempts: -1,
        reconnectTimeWait: 500,
        waitOnFirstConnect: true,
        timeout: 5000,
        // Otherwise every request (each JetStream publish waiting for its ack) builds an Error
        // up front, stack and all, only to append that stack to a failure; failures become
        // FlotillaErrors saying what failed anyway. It was ~4% of an applier's CPU in a resync.
        noAsyncTraces: true,
      });
    } catch (err) {
      throw new FlotillaError(
        'bus.unreachable',
        `cannot connect to NATS at ${String(opts.servers)}: ${messageOf(err)}`,
        {
          disposition: 'retry',
          cause: err,
        },
      );
    }
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect' || s.type === 'reconnect' || s.type === 'error')
          logger.warn({ nats: s.type, server: 'server' in s ? s.server : undefined }, `nats ${s.type}`);
      }
    })();
    const jsm = await jetStreamWhenReady(nc, logger);
    const provision = opts.provision ?? true;
    if (opts.ensureStream) await ensureEventStream(jsm, opts.ensureStream === true ? {} : opts.ensureStream);
    else if (!(await streamExists(jsm, EVENT_STREAM))) {
      if (!provision) {
        await nc.close();
        throw notProvisioned(`the event stream ${EVENT_STREAM}`);
      }
      // Two services starting at once may race to create it; the loser binds to the winner's (so
      // does an attempt after one that timed out but was applied).
      await whileClusterSettles(() =>
        jsm.streams.add(eventStreamConfig()).catch((err) => {
          if (!/already in use/i.test(messageOf(err))) throw err;
        }),
      );
    }
    const js = jetstream(nc, { timeout: opts.publishTimeoutMs ?? 10_000 });
    return new Bus(
      nc,
      js,
      jsm,
      opts.service,
      instance,
      logger,
      opts.metrics ?? new Registry(),
      opts.publishTimeoutMs ?? 10_000,
      provision,
    );
  }

  /** For `rawNats(bus)` in @flotilla/test-support only; not part of the bus's API. */
  [RAW_NATS](): { nc: NatsConnection; js: JetStreamClient; jsm: JetStreamManager } {
    return { nc: this.nc, js: this.js, jsm: this.jsm };
  }

  /** A stream's config and state (default the event stream); undefined when it does not exist. */
  streamInfo(stream: string = EVENT_STREAM): Promise<StreamInfo | undefined> {
    return streamInfo(this.jsm, stream);
  }

  /** A durable consumer's state (pending, ack floor…); undefined when it (or its stream) does not exist. */
  async consumerInfo(durable: string, stream: string = EVENT_STREAM): Promise<ConsumerInfo | undefined> {
    try {
      return await this.jsm.consumers.info(stream, durable);
    } catch (err) {
      if (isConsumerNotFound(err) || isStreamNotFound(err)) return undefined;
      throw err;
    }
  }

  /**
   * One stored message by sequence or as the last on a subject (default the event stream);
   * undefined when there is none (deleted, expired, never written).
   */
  async storedMessage(
    query: { seq: number } | { last_by_subj: string },
    stream: string = EVENT_STREAM,
  ): Promise<StoredMsg | undefined> {
    try {
      return (await this.jsm.streams.getMessage(stream, query)) ?? undefined;
    } catch (err) {
      if (isNoMessageFound(err) || isStreamNotFound(err)) return undefined;
      throw err;
    }
  }

  /** Creates the audit checkpoint stream when it is missing (stream.ts checkpointStreamConfig). */
  ensureCheckpointStream(opts: { replicas?: number } = {}): Promise<void> {
    return ensureCheckpointStream(this.jsm, opts);
  }

  /**
   * Appends a signed audit checkpoint: only to the checkpoint stream's subjects, deduplicated by
   * `msgID` (a retried publish of the same checkpoint is stored once).
   */
  async appendCheckpoint(subject: string, data: string, msgID: string): Promise<void> {
    if (!subject.startsWith(`${CHECKPOINT_SUBJECT_PREFIX}.`))
      throw new FlotillaError('bus.bad-subject', `${subject} is not a checkpoint subject`, {
        disposition: 'stall',
      });
    await this.js.publish(subject, data, { msgID });
  }

  /**
   * Every message on `filter` as it is published, as plain NATS: nothing stored, acked or replayed,
   * and not validated (the handler decodes). For live views that refetch state when
   * `onConnection(true)` says the connection is back.
   */
  tail(
    filter: string,
    handler: (msg: { subject: string; data: Uint8Array }) => void,
    onConnection?: (up: boolean) => void,
  ): { stop(): void } {
    const sub = this.nc.subscribe(filter);
    if (onConnection)
      void (async () => {
        for await (const s of this.nc.status()) {
          if (s.type === 'disconnect') onConnection(false);
          if (s.type === 'reconnect') onConnection(true);
        }
      })().catch(() => undefined);
    void (async () => {
      for await (const msg of sub) handler({ subject: msg.subject, data: msg.data });
    })();
    return { stop: () => sub.unsubscribe() };
  }

  get connected(): boolean {
    return !this.nc.isClosed() && !this.nc.isDraining() && this.nc.getServer() !== '';
  }

  /** True when every consumer started through this bus is still bound. */
  get consumersBound(): boolean {
    return [...this.subs].every((s) => s.bound);
  }

  /** Builds, validates and publishes an event; resolves once JetStream has stored it. */
  async publish<S extends TObject>(
    def: EventDefinition<string, S>,
    data: Static<S>,
    ctx: PublishContext = {},
  ): Promise<Published<Static<S>>> {
    const published = await this.publishEvent(this.event(def, data, ctx));
    return published as Published<Static<S>>;
  }

  /**
   * Builds the event `publish` would, without publishing it: an outbox stores it with the state
   * change it announces and publishes it (by `publishEvent`, under the same id) once that is saved.
   */
  event<S extends TObject>(
    def: EventDefinition<string, S>,
    data: Static<S>,
    ctx: PublishContext = {},
  ): FlotillaEvent<Static<S>> {
    const { cause, ...rest } = ctx;
    return createEvent(def, data, {
      actor: rest.actor ?? cause?.actor ?? `service:${this.service}`,
      ...traceContextFor(rest, cause),
      ...rest,
      source: this.source,
      ...(cause ? { correlationid: cause.correlationid, causationid: cause.id } : {}),
    });
  }

  /**
   * Publishes a prebuilt event (validated again: nothing invalid leaves a service). The event id
   * is the `Nats-Msg-Id`, so a re-publish within the stream's window is stored once.
   */
  async publishEvent(event: FlotillaEvent): Promise<Published<unknown>> {
    validateEvent(event);
    const subject = event.subject ?? '';
    try {
      // The CloudEvents NATS binding (draft for NATS >= 2.2) reads a message as a structured-mode
      // event by this header; the released binding ignores headers, so it costs nothing there.
      const h = natsHeaders();
      h.set('Content-Type', CLOUDEVENTS_JSON);
      const ack = await this.js.publish(subject, encodeEvent(event), {
        msgID: event.id,
        timeout: this.publishTimeoutMs,
        headers: h,
      });
      this.metrics.published.inc({ type: event.type });
      return { event, seq: ack.seq, duplicate: ack.duplicate };
    } catch (err) {
      throw new FlotillaError(
        'bus.publish-failed',
        `publishing ${event.type} ${event.id} failed: ${messageOf(err)}`,
        {
          disposition: 'retry',
          cause: err,
        },
      );
    }
  }

  async consume(opts: ConsumeOptions): Promise<Subscription> {
    const sub = await startConsumer(
      this.js,
      this.jsm,
      opts,
      this.provision,
      this.deadLetterSink,
      this.metrics,
      (level, obj, msg) => this.logger[level](obj, msg),
    );
    this.subs.add(sub);
    void sub.closed.finally(() => this.subs.delete(sub));
    return sub;
  }

  private readonly deadLetterSink: DeadLetterSink = async ({ consumer, msg, code, message, event }) => {
    // An event refused for what it carries (a secret value) is not copied into the dead letter,
    // which every subscriber and the audit log would keep.
    const payload =
      code === 'event.forbidden-content'
        ? '(withheld: the event carried content it may not, e.g. a secret value)'
        : new TextDecoder().decode(msg.data.subarray(0, 60_000));
    const data: Static<typeof DeadLettered.data> = {
      consumer,
      subject: msg.subject,
      streamSequence: msg.seq,
      deliveries: msg.info.deliveryCount,
      code,
      reason: message.slice(0, 16_000),
      payload,
    };
    if (event) {
      data.eventId = event.id;
      data.eventType = event.type;
    }
    // The dead-letter id is derived from consumer + stream sequence so a retry of this step
    // (we crashed before term) does not record the same message twice.
    await this.publishEvent(
      createEvent(DeadLettered, data, {
        source: sourceFor('bus', this.instance),
        actor: event?.actor ?? `service:${this.service}`,
        id: `dl-${consumer}-${msg.seq}`,
        ...(event ? { correlationid: event.correlationid, causationid: event.id } : {}),
      }),
    );
    this.metrics.deadLettered.inc({ consumer, code });
    this.logger.warn(
      { consumer, code, subject: msg.subject, seq: msg.seq, reason: message },
      'message dead-lettered',
    );
  };

  /**
   * Asks whoever serves `def` for this request's scope (the source's owner) and resolves with its
   * validated reply. Typed failures: `bus.no-responders` (nobody owns it now: wait),
   * `bus.request-timeout` (retry), `bus.invalid-request`/`bus.invalid-reply` (stall).
   */
  async request<Q extends TObject, R extends TObject>(
    def: RequestDefinition<string, Q, R>,
    request: Static<Q>,
    opts: { timeoutMs: number },
  ): Promise<Static<R>> {
    validateMessage(def, 'request', request);
    const subject = requestSubject(def, request);
    let data: Uint8Array;
    try {
      data = (await this.nc.request(subject, JSON.stringify(request), { timeout: opts.timeoutMs })).data;
    } catch (err) {
      if (isNoResponders(err))
        throw new FlotillaError('bus.no-responders', `nobody answers ${def.name} on ${subject}`, {
          disposition: 'wait',
          cause: err,
        });
      if (isTimeout(err))
        throw new FlotillaError(
          'bus.request-timeout',
          `${def.name} on ${subject}: no reply in ${opts.timeoutMs} ms`,
          {
            disposition: 'retry',
            cause: err,
          },
        );
      throw new FlotillaError('bus.request-failed', `${def.name} on ${subject}: ${messageOf(err)}`, {
        disposition: 'retry',
        cause: err,
      });
    }
    return validateMessage<R>(def, 'reply', parseJson(data, def.name, 'reply'));
  }

  /**
   * Serves `def` on every scope: the handler answers, or returns undefined to stay silent (another
   * instance owns that scope and answers). A request that does not fit the schema is logged with
   * its problems and answered by nobody. Resolves once the server has the subscription, so a
   * request sent after it is served; `stop` resolves once the server has dropped it, so a request
   * sent after that gets the server's "no responders" at once rather than a timeout (the
   * unsubscribe and a request from another connection would otherwise race at the server).
   */
  async serve<Q extends TObject, R extends TObject>(
    def: RequestDefinition<string, Q, R>,
    handler: (request: Static<Q>) => Static<R> | undefined | Promise<Static<R> | undefined>,
  ): Promise<{ stop(): Promise<void> }> {
    const sub = this.nc.subscribe(requestSubjects(def), {
      callback: (err, msg) => {
        if (err) {
          this.logger.error({ request: def.name, err: messageOf(err) }, 'request subscription failed');
          return;
        }
        void (async () => {
          let request: Static<Q>;
          try {
            request = validateMessage<Q>(def, 'request', parseJson(msg.data, def.name, 'request'));
          } catch (e) {
            this.logger.warn(
              { request: def.name, subject: msg.subject, err: messageOf(e) },
              'request refused',
            );
            return;
          }
          try {
            const reply = await handler(request);
            if (reply !== undefined) msg.respond(JSON.stringify(validateMessage<R>(def, 'reply', reply)));
          } catch (e) {
            this.logger.error({ request: def.name, err: messageOf(e) }, 'request handler failed');
          }
        })();
      },
    });
    await this.nc.flush();
    return {
      stop: async () => {
        sub.unsubscribe();
        if (this.nc.isClosed()) return;
        // Bounded: a partitioned connection must not hold up a shutdown (the server drops the
        // subscription with the connection anyway).
        const timer = new AbortController();
        await Promise.race([
          this.nc.flush().catch(() => undefined),
          sleep(2000, undefined, { signal: timer.signal }).catch(() => undefined),
        ]);
        timer.abort();
      },
    };
  }

  /** Opens a KV bucket (binding to the existing one; creating it only when `provision` is on). */
  async kv<T>(
    bucket: string,
    opts: { history?: number; ttlMs?: number; replicas?: number } = {},
  ): Promise<JsonKv<T>> {
    const kvm = new Kvm(this.js);
    const info = await streamInfo(this.jsm, `KV_${bucket}`);
    if (info)
      return new JsonKv<T>(await kvm.open(bucket, { allow_direct: info.config.allow_direct === true }));
    if (!this.provision) throw notProvisioned(`KV bucket "${bucket}"`);
    const kv = await kvm.create(bucket, {
      history: opts.history ?? 1,
      ...(opts.ttlMs ? { ttl: opts.ttlMs } : {}),
      replicas: opts.replicas ?? 1,
    });
    return new JsonKv<T>(kv);
  }

  async leaseSet(bucket: string, opts: LeaseSetOptions): Promise<LeaseSet> {
    const set = new LeaseSet(await this.kv(bucket), opts);
    this.leaseSets.add(set);
    return set;
  }

  /** Opens an object store (binding to the existing one; creating it only when `provision` is on). */
  async blobs(bucket: string, opts: { replicas?: number } = {}): Promise<BlobStore> {
    const objm = new Objm(this.js);
    if (await streamInfo(this.jsm, `OBJ_${bucket}`))
      return new BlobStore(await objm.open(bucket, false), this.jsm);
    if (!this.provision) throw notProvisioned(`object store "${bucket}"`);
    return new BlobStore(await objm.create(bucket, { replicas: opts.replicas ?? 1 }), this.jsm);
  }

  /** The stored events of one subject filter, oldest first (see replay.ts); bad ones are logged and skipped. */
  replay(filter: string, opts: ReplayOptions = {}): AsyncGenerator<Replayed> {
    return replayEvents(this.js, this.logger, filter, opts);
  }

  /** Drops the connection at once: nothing flushed, no lease released (what SIGKILL leaves behind). */
  async abandon(): Promise<void> {
    if (!this.nc.isClosed()) await this.nc.close();
  }

  /** Graceful: stop intake, let handlers finish, release leases, flush and close the connection. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.subs].map((s) => s.stop()));
    await Promise.allSettled([...this.leaseSets].map((l) => l.stop()));
    if (!this.nc.isClosed()) await this.nc.drain().catch(() => this.nc.close());
  }
}

export { subjectOf };

/**
 * The trace an event continues: one given explicitly (a promotion's stored context), the active
 * span's, or its cause's; none of them starts a new trace (createEvent).
 */
function traceContextFor(
  given: Pick<EventContext, 'traceparent' | 'tracestate'>,
  cause: FlotillaEvent | undefined,
): Pick<EventContext, 'traceparent' | 'tracestate'> {
  if (given.traceparent) return {};
  const active = activeTraceContext();
  if (active?.traceparent)
    return {
      traceparent: active.traceparent,
      ...(active.tracestate ? { tracestate: active.tracestate } : {}),
    };
  if (!cause?.traceparent) return {};
  return {
    traceparent: childTraceparent(cause.traceparent),
    ...(cause.tracestate ? { tracestate: cause.tracestate } : {}),
  };
}

function parseJson(data: Uint8Array, name: string, part: 'request' | 'reply'): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(data));
  } catch {
    throw new FlotillaError(`bus.invalid-${part}`, `${name} ${part} is not JSON`);
  }
}

async function streamInfo(jsm: JetStreamManager, name: string): Promise<StreamInfo | undefined> {
  try {
    return await jsm.streams.info(name);
  } catch (err) {
    if (isStreamNotFound(err)) return undefined;
    throw err;
  }
}

async function streamExists(jsm: JetStreamManager, name: string): Promise<boolean> {
  return (await streamInfo(jsm, name)) !== undefined;
}

/**
 * Maps the shared `nats` config block (runtime's serviceConfigFields) to connection options.
 * A named user gets the private reply inbox `_INBOX_<user>` unless one is given: under the
 * shipped authorization every identity may subscribe only to its own inbox, so without it
 * every JetStream request would go unanswered (a permissions violation at start).
 */
export function natsOptions(nats: {
  servers: string[];
  user?: string | undefined;
  password?: string | undefined;
  token?: string | undefined;
  inboxPrefix?: string | undefined;
  provision?: boolean | undefined;
  tls?: { caFile: string; certFile?: string | undefined; keyFile?: string | undefined } | undefined;
  nkeySeedFile?: string | undefined;
}): Pick<
  BusOptions,
  'servers' | 'user' | 'pass' | 'token' | 'inboxPrefix' | 'provision' | 'tls' | 'nkeySeed'
> {
  const inboxPrefix = nats.inboxPrefix || (nats.user ? inboxPrefixFor(nats.user) : undefined);
  // With an nkey the identity signs in by key: `user` only names its inbox, no password is sent.
  const nkeySeed = nats.nkeySeedFile ? readFileSync(nats.nkeySeedFile, 'utf8').trim() : undefined;
  return {
    servers: nats.servers,
    ...(nkeySeed ? { nkeySeed } : {}),
    ...(nats.user && !nkeySeed ? { user: nats.user } : {}),
    ...(nats.password && !nkeySeed ? { pass: nats.password } : {}),
    ...(nats.token ? { token: nats.token } : {}),
    ...(inboxPrefix ? { inboxPrefix } : {}),
    ...(nats.provision !== undefined ? { provision: nats.provision } : {}),
    ...(nats.tls
      ? {
          tls: {
            caFile: nats.tls.caFile,
            ...(nats.tls.certFile ? { certFile: nats.tls.certFile } : {}),
            ...(nats.tls.keyFile ? { keyFile: nats.tls.keyFile } : {}),
          },
        }
      : {}),
  };
}
