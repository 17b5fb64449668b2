import { readFileSync } from 'node:fs';
import type { EventDefinition } from '@flotilla/events';
import { decodeEvent, type FlotillaEvent } from '@flotilla/events';
import type { NatsConnection } from '@nats-io/nats-core';
import { nkeyAuthenticator } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { type EventFilter, formatEventLine, matches, subjectsFor } from './event-filter.ts';
import { CliError, EXIT } from './exit-codes.ts';
import type { Io } from './io.ts';

export interface NatsOptions {
  url: string;
  user?: string | undefined;
  password?: string | undefined;
  /** A subscriber identity may only use its own inbox prefix (deploy/nats/README.md). */
  inboxPrefix?: string | undefined;
  /** Sign in by nkey (the shipped install): `user` then only names the inbox. */
  nkeySeedFile?: string | undefined;
  /** TLS to NATS, the server's certificate verified against this CA (never system roots alone). */
  caFile?: string | undefined;
}

export async function connectNats(o: NatsOptions): Promise<NatsConnection> {
  let seed: Uint8Array | undefined;
  if (o.nkeySeedFile) {
    try {
      seed = new TextEncoder().encode(readFileSync(o.nkeySeedFile, 'utf8').trim());
    } catch (err) {
      throw new CliError(
        `cannot read the NATS nkey seed ${o.nkeySeedFile}: ${(err as Error).message}`,
        EXIT.usage,
      );
    }
  }
  try {
    return await connect({
      servers: o.url.split(',').map((s) => s.trim()),
      name: 'flotilla-cli',
      ...(seed
        ? { authenticator: nkeyAuthenticator(seed) }
        : o.user
          ? { user: o.user, pass: o.password ?? '' }
          : {}),
      ...(o.caFile ? { tls: { caFile: o.caFile } } : {}),
      ...(o.inboxPrefix ? { inboxPrefix: o.inboxPrefix } : {}),
      timeout: 5000,
      maxReconnectAttempts: 10,
    });
  } catch (err) {
    const msg = (err as Error).message;
    if (/authoriz|authenticat/i.test(msg))
      throw new CliError(`NATS at ${o.url} refused the connection: ${msg}`, EXIT.refused);
    throw new CliError(
      `cannot reach NATS at ${o.url} (${msg}). Is it running? Set --nats or FLOTILLA_NATS_URL.`,
      EXIT.unreachable,
    );
  }
}

export interface TailOptions {
  nats: NatsOptions;
  types: EventDefinition[];
  filter: EventFilter;
  json: boolean;
  /** Stop after this many matching events (scripts, tests). */
  count?: number | undefined;
  signal?: AbortSignal;
}

/**
 * Live events through a core subscription on `flotilla.v1.>` (or per chosen type): read-only,
 * nothing left behind on the server, which is exactly what the `subscriber` identity allows.
 */
export async function tailEvents(o: TailOptions, io: Io): Promise<number> {
  const nc = await connectNats(o.nats);
  const subjects = subjectsFor(o.types);
  let seen = 0;
  let denied: string | undefined;
  const done = new Promise<void>((resolve) => {
    const stop = () => resolve();
    o.signal?.addEventListener('abort', stop, { once: true });
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'error' && /permission/i.test(String((s as { error?: unknown }).error ?? ''))) {
          denied = String((s as { error?: unknown }).error);
          resolve();
        }
      }
    })();
    const onEvent = (subject: string, data: Uint8Array) => {
      let event: FlotillaEvent;
      try {
        event = decodeEvent(data, { subject });
      } catch (err) {
        io.err(`skipped an invalid message on ${subject}: ${(err as Error).message}`);
        return;
      }
      if (!matches(event, o.filter)) return;
      io.out(o.json ? JSON.stringify(event) : formatEventLine(event));
      seen++;
      if (o.count !== undefined && seen >= o.count) resolve();
    };
    for (const subject of subjects) {
      nc.subscribe(subject, {
        callback: (err, msg) => {
          if (err) {
            denied = err.message;
            resolve();
            return;
          }
          onEvent(msg.subject, msg.data);
        },
      });
    }
  });
  await nc.flush();
  io.status(`listening on ${subjects.join(', ')} at ${o.nats.url} (Ctrl-C to stop)`);
  await done;
  await nc.close().catch(() => undefined);
  if (denied) throw new CliError(`NATS refused the subscription: ${denied}`, EXIT.refused);
  return EXIT.ok;
}
