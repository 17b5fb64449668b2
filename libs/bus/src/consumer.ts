import { dispositionOf, FlotillaError, messageOf } from '@flotilla/errors';
import { decodeEvent, type FlotillaEvent } from '@flotilla/events';
import { withSpan } from '@flotilla/telemetry';
import type { ConsumerInfo, JetStreamClient, JetStreamManager, JsMsg } from '@nats-io/jetstream';
import type { BusMetrics } from './metrics.ts';
import { isConsumerNotFound } from './nats-errors.ts';
import { type ConsumerSpec, consumerConfig, consumerDrift, notProvisioned } from './resources.ts';
import { EVENT_STREAM } from './stream.ts';

export interface HandlerContext {
  /** 1 on first delivery. */
  deliveryCount: number;
  streamSequence: number;
  /** Tell JetStream the handler is still busy (also sent automatically every ackWait/3). */
  working(): void;
}

export type EventHandler = (event: FlotillaEvent, ctx: HandlerContext) => Promise<void>;

export interface ConsumeOptions extends ConsumerSpec {
  handler: EventHandler;
  /** Attempts before a failing message is dead-lettered. Default 5. */
  maxDeliver?: number;
  /** Delay before attempt n+1 (ms); the last value repeats. Default 1 s, 5 s, 15 s, 30 s. */
  backoffMs?: number[];
  /**
   * Wait for the server to confirm each ack (a round trip per message). Off by default: the
   * handler has already run when we ack, so confirmation narrows no window for a crash of this
   * process, and acks lost to a server restart are caught by the recently-acked id set below.
   */
  confirmAcks?: boolean;
  /**
   * Hold failures whose disposition is `wait` (a refusal that only someone else can lift, such as a
   * protected branch): redeliver them at the last backoff step for as long as it takes instead of
   * dead-lettering after `maxDeliver`. The handler must say so with an event of its own while it
   * waits; nothing is dropped.
   */
  holdWaiting?: boolean;
  /**
   * How long a held message is held (ms, counted in deliveries at the last backoff step, so no
   * clock is compared). Past it the message is dead-lettered with code `held.expired`: its
   * `DeadLettered` event keeps the payload and the last refusal, and the consumer stops asking
   * the same question of a remote that has said no for that long. Default one day.
   */
  maxHeldMs?: number;
}

/**
 * Whether a held message has been held past `maxHeldMs`: every delivery after `maxDeliver` came
 * after the last backoff step. Pure, clock-free (a held message is never older than its count).
 */
export function heldTooLong(
  deliveryCount: number,
  o: { maxDeliver: number; backoffMs: readonly number[]; maxHeldMs: number },
): boolean {
  const step = o.backoffMs[o.backoffMs.length - 1] ?? 1000;
  return (deliveryCount - o.maxDeliver) * step >= o.maxHeldMs;
}

class RecentIds {
  private readonly ids = new Set<string>();
  constructor(private readonly max: number) {}
  has(id: string): boolean {
    return this.ids.has(id);
  }
  add(id: string): void {
    this.ids.add(id);
    if (this.ids.size > this.max) this.ids.delete(this.ids.values().next().value as string);
  }
}

/**
 * ackAck waits for the server to confirm, so "handled" means "never delivered again". While the
 * connection is down (server restart) we keep trying: JetStream keeps the consumer's pending
 * state on disk and accepts the ack after it comes back, which avoids a second handling.
 */
async function ackConfirmed(msg: JsMsg, withinMs: number): Promise<void> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    try {
      if (await msg.ackAck({ timeout: 2000 })) return;
    } catch (err) {
      if (Date.now() >= deadline) throw err;
    }
    if (Date.now() >= deadline) throw new Error('ack not confirmed');
    await new Promise((r) => setTimeout(r, 250));
  }
}

export type DeadLetterSink = (reason: {
  consumer: string;
  msg: JsMsg;
  code: string;
  message: string;
  event?: FlotillaEvent;
}) => Promise<void>;

export interface Subscription {
  readonly durable: string;
  readonly bound: boolean;
  /** Stop fetching, finish messages in flight. */
  stop(): Promise<void>;
  /** Resolves when the loop ends (stop() or connection closed). */
  readonly closed: Promise<void>;
}

/**
 * Binds to the durable consumer. A service never administers consumers under the shipped
 * authorization: the bootstrap created it from the same spec. Only a `provision` bus (a dev
 * NATS without authorization) creates a missing one or brings a changed one to its spec.
 */
async function bindOrCreate(jsm: JetStreamManager, spec: ConsumerSpec, provision: boolean): Promise<void> {
  let existing: ConsumerInfo | undefined;
  try {
    existing = await jsm.consumers.info(EVENT_STREAM, spec.durable);
  } catch (err) {
    if (!isConsumerNotFound(err)) throw err;
  }
  const config = consumerConfig(spec);
  if (!existing) {
    if (!provision) throw notProvisioned(`durable consumer "${spec.durable}" on ${EVENT_STREAM}`);
    await jsm.consumers.add(EVENT_STREAM, config);
    return;
  }
  const drift = consumerDrift(existing.config, spec);
  if (drift.length === 0) return;
  if (!provision) {
    const fields = drift.map(
      (d) => `${d.field}: have ${JSON.stringify(d.have)}, want ${JSON.stringify(d.want)}`,
    );
    throw new FlotillaError(
      'bus.consumer-mismatch',
      `durable consumer "${spec.durable}" differs from what this service declares (${fields.join('; ')}); ` +
        "run `flotilla nats bootstrap --config-dir` with this service's config file to update it",
      { disposition: 'wait' },
    );
  }
  const { durable_name: _d, ack_policy: _a, deliver_policy: _p, ...update } = config;
  await jsm.consumers.update(EVENT_STREAM, spec.durable, update);
}

export async function startConsumer(
  js: JetStreamClient,
  jsm: JetStreamManager,
  opts: ConsumeOptions,
  provision: boolean,
  deadLetter: DeadLetterSink,
  metrics: BusMetrics,
  log: (level: 'warn' | 'error', obj: object, msg: string) => void,
): Promise<Subscription> {
  const maxDeliver = opts.maxDeliver ?? 5;
  const backoff = opts.backoffMs ?? [1000, 5000, 15_000, 30_000];
  const ackWaitMs = opts.ackWaitMs ?? 30_000;
  const maxHeldMs = opts.maxHeldMs ?? 24 * 3600_000;
  const concurrency = Math.max(1, opts.concurrency ?? 1);
  await bindOrCreate(jsm, opts, provision);

  const consumer = await js.consumers.get(EVENT_STREAM, opts.durable);
  const messages = await consumer.consume({ max_messages: Math.max(512, concurrency * 4) });
  let bound = true;
  let stopping = false;
  const untrack = metrics.trackConsumer(opts.durable, async () => {
    const info = await consumer.info(false);
    return { pending: info.num_pending, ackPending: info.num_ack_pending };
  });
  const inFlight = new Set<Promise<void>>();
  // JetStream persists consumer ack state lazily, so after a server crash it can redeliver
  // messages this process already handled and acked. Remembering recent ids makes that
  // invisible to handlers; handlers still need to be idempotent across process restarts.
  const recentlyAcked = new RecentIds(10_000);

  const handleOne = async (msg: JsMsg) => {
    const deliveryCount = msg.info.deliveryCount;
    let event: FlotillaEvent;
    try {
      event = decodeEvent(msg.data, { subject: msg.subject });
    } catch (err) {
      const e = err instanceof FlotillaError ? err : new FlotillaError('event.invalid', messageOf(err));
      await deadLetter({ consumer: opts.durable, msg, code: e.code, message: e.message });
      msg.term(e.code);
      metrics.consumed.inc({ consumer: opts.durable, outcome: 'invalid' });
      return;
    }
    if (recentlyAcked.has(event.id)) {
      msg.ack();
      metrics.consumed.inc({ consumer: opts.durable, outcome: 'duplicate' });
      return;
    }
    // Past maxDeliver without our own nak means acks never came (a handler that hung or a process
    // that died on it). A held message gets there by our naks, so under `holdWaiting` the handler
    // decides again instead: a `wait` is held, anything else is dead-lettered below.
    if (deliveryCount > maxDeliver && opts.holdWaiting !== true) {
      await deadLetter({
        consumer: opts.durable,
        msg,
        event,
        code: 'handler.timeout',
        message: `not acknowledged after ${maxDeliver} deliveries (handler exceeded ack wait)`,
      });
      msg.term('max deliveries');
      metrics.consumed.inc({ consumer: opts.durable, outcome: 'dead-letter' });
      return;
    }
    // Most handlers finish in milliseconds; start the heartbeat only if this one does not.
    let heartbeat: NodeJS.Timeout | undefined = setTimeout(
      function beat() {
        msg.working();
        heartbeat = setTimeout(beat, Math.max(1000, Math.floor(ackWaitMs / 3)));
      },
      Math.max(1000, Math.floor(ackWaitMs / 3)),
    );
    const timer = metrics.handlerSeconds.startTimer({ consumer: opts.durable });
    let handled = false;
    try {
      await withSpan(
        `handle ${event.type}`,
        {
          kind: 'consumer',
          parent: event,
          attributes: {
            'messaging.system': 'nats',
            'messaging.consumer.group.name': opts.durable,
            'messaging.message.id': event.id,
            'cloudevents.event_type': event.type,
            'flotilla.correlationid': event.correlationid,
            'flotilla.delivery': deliveryCount,
          },
        },
        () => opts.handler(event, { deliveryCount, streamSequence: msg.seq, working: () => msg.working() }),
      );
      handled = true;
      clearTimeout(heartbeat);
      recentlyAcked.add(event.id);
      if (opts.confirmAcks) await ackConfirmed(msg, ackWaitMs);
      else msg.ack();
      metrics.consumed.inc({ consumer: opts.durable, outcome: 'ack' });
    } catch (err) {
      clearTimeout(heartbeat);
      if (handled) {
        // The work is done but the server never confirmed the ack: JetStream will redeliver
        // after ack wait, and the handler must be idempotent for that case (at-least-once).
        log(
          'warn',
          { consumer: opts.durable, id: event.id, err: messageOf(err) },
          'ack not confirmed; message may be redelivered',
        );
        return;
      }
      const disposition = dispositionOf(err);
      const code = err instanceof FlotillaError ? err.code : 'handler.failed';
      const waiting = opts.holdWaiting === true && disposition === 'wait';
      const expired = waiting && heldTooLong(deliveryCount, { maxDeliver, backoffMs: backoff, maxHeldMs });
      const held = waiting && !expired;
      if (disposition === 'stall' || (deliveryCount >= maxDeliver && !held)) {
        await deadLetter({
          consumer: opts.durable,
          msg,
          event,
          code: expired ? 'held.expired' : code,
          message: expired
            ? `held for ${deliveryCount} deliveries (maxHeldMs ${maxHeldMs}), still refused: ${code}: ${messageOf(err)}`
            : messageOf(err),
        });
        msg.term(code);
        metrics.consumed.inc({ consumer: opts.durable, outcome: 'dead-letter' });
      } else {
        const delay = backoff[Math.min(deliveryCount - 1, backoff.length - 1)] ?? 1000;
        log(
          'warn',
          {
            consumer: opts.durable,
            type: event.type,
            id: event.id,
            deliveryCount,
            code,
            delay,
            err: messageOf(err),
          },
          held ? 'handler waiting; message held' : 'handler failed; will retry',
        );
        msg.nak(delay);
        metrics.consumed.inc({ consumer: opts.durable, outcome: 'retry' });
      }
    } finally {
      timer();
    }
  };

  let slotFreed: (() => void) | undefined;
  const loop = (async () => {
    try {
      for await (const msg of messages) {
        if (stopping) {
          msg.nak();
          continue;
        }
        const p: Promise<void> = handleOne(msg)
          .catch((err) => {
            // Dead-lettering itself failed (bus down): leave the message unacked for redelivery.
            log(
              'error',
              { consumer: opts.durable, err: messageOf(err) },
              'could not settle message; it will be redelivered',
            );
          })
          .finally(() => {
            inFlight.delete(p);
            slotFreed?.();
          });
        inFlight.add(p);
        if (inFlight.size >= concurrency)
          await new Promise<void>((r) => {
            slotFreed = r;
          });
        slotFreed = undefined;
      }
    } finally {
      await Promise.allSettled([...inFlight]);
      bound = false;
      untrack();
    }
  })();

  return {
    durable: opts.durable,
    get bound() {
      return bound;
    },
    closed: loop,
    async stop() {
      stopping = true;
      await Promise.allSettled([...inFlight]);
      await messages.close();
      await loop;
    },
  };
}
