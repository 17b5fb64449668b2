import { createHmac } from 'node:crypto';
import { AckPolicy, DeliverPolicy, type JsMsg, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { type EventSchemas, loadSchemas, resolveType, subjectFilterFor } from './schemas.ts';

export interface NotifierOptions {
  natsUrl: string;
  natsUser?: string | undefined;
  natsPassword?: string | undefined;
  /** Durable consumer name; a `subscriber` identity may own exactly the one named like it. */
  durable: string;
  /** Event names (`ApplyFailed`) or CloudEvents types to forward. */
  events: string[];
  webhookUrl: string;
  /** HMAC-SHA256 key for `X-Flotilla-Signature: sha256=<hex>`. */
  secret: string;
  schemasDir?: string;
  log?: (line: string) => void;
}

export interface NotifierStats {
  forwarded: number;
  invalid: number;
  failedDeliveries: number;
}

export interface Notifier {
  readonly stats: NotifierStats;
  stop(): Promise<void>;
}

export function sign(body: string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

const STREAM = 'FLOTILLA_EVENTS';

/**
 * Forwards chosen Flotilla events to a webhook. Each message is validated against the published
 * JSON Schema of its type first: anything invalid is dropped (acked, logged), never forwarded.
 * Delivery is at least once: the message is acked only after the endpoint answered 2xx, and
 * redelivered with a delay otherwise, so receivers should dedupe by `X-Flotilla-Event-Id`.
 */
export async function startNotifier(o: NotifierOptions): Promise<Notifier> {
  const log = o.log ?? ((line: string) => console.log(line));
  const schemas: EventSchemas = loadSchemas(o.schemasDir);
  const types = new Set(o.events.map((e) => resolveType(schemas, e)));
  const filters = [...types].map(subjectFilterFor);
  const nc = await connect({
    servers: o.natsUrl.split(','),
    name: `webhook-notifier-${o.durable}`,
    ...(o.natsUser ? { user: o.natsUser, pass: o.natsPassword ?? '' } : {}),
    // A subscriber identity may only receive replies on its own inbox prefix.
    ...(o.natsUser ? { inboxPrefix: `_INBOX_${o.natsUser}` } : {}),
    maxReconnectAttempts: -1,
  });
  const jsm = await jetstreamManager(nc);
  const config = {
    durable_name: o.durable,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.New,
    ack_wait: 30_000_000_000,
    max_deliver: 20,
    ...(filters.length === 1 ? { filter_subject: filters[0] } : { filter_subjects: filters }),
  };
  try {
    await jsm.consumers.info(STREAM, o.durable);
    await jsm.consumers.update(STREAM, o.durable, {
      ...(filters.length === 1 ? { filter_subject: filters[0] } : { filter_subjects: filters }),
    });
  } catch (err) {
    if (!/not found/i.test((err as Error).message)) throw err;
    await jsm.consumers.add(STREAM, config);
  }
  const consumer = await jetstream(nc).consumers.get(STREAM, o.durable);
  const messages = await consumer.consume({ max_messages: 64 });
  const stats: NotifierStats = { forwarded: 0, invalid: 0, failedDeliveries: 0 };

  const handle = async (m: JsMsg) => {
    const body = new TextDecoder().decode(m.data);
    let event: { type?: unknown; id?: unknown };
    try {
      event = JSON.parse(body) as { type?: unknown; id?: unknown };
    } catch {
      stats.invalid++;
      log(`dropped a message on ${m.subject}: not JSON`);
      m.term('not JSON');
      return;
    }
    const validate = typeof event.type === 'string' ? schemas.validators.get(event.type) : undefined;
    if (!validate || !types.has(event.type as string) || !validate(event)) {
      stats.invalid++;
      const why =
        validate?.errors?.map((e) => `${e.instancePath || '/'} ${e.message}`).join('; ') ?? 'unknown type';
      log(`dropped an invalid event on ${m.subject}: ${why}`);
      m.term('schema-invalid');
      return;
    }
    try {
      const res = await fetch(o.webhookUrl, {
        method: 'POST',
        headers: {
          'content-type': 'application/cloudevents+json',
          'x-flotilla-signature': sign(body, o.secret),
          'x-flotilla-event-type': event.type as string,
          'x-flotilla-event-id': String(event.id),
        },
        body,
        signal: AbortSignal.timeout(10_000),
      });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      stats.forwarded++;
      m.ack();
    } catch (err) {
      stats.failedDeliveries++;
      log(`delivery of ${String(event.id)} failed (${(err as Error).message}); retrying`);
      m.nak(5000);
    }
  };

  const loop = (async () => {
    for await (const m of messages) await handle(m);
  })();

  log(`forwarding ${[...types].join(', ')} to ${o.webhookUrl}`);
  return {
    stats,
    async stop() {
      await messages.close();
      await loop.catch(() => undefined);
      await nc.drain();
    },
  };
}
