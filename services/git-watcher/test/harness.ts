import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Bus, EVENT_STREAM } from '@flotilla/bus';
import { decodeEvent, type FlotillaEvent } from '@flotilla/events';
import { createLogger, type Logger, loadConfig } from '@flotilla/runtime';
import {
  type GitServer,
  type NatsServer,
  rawNats,
  startGitServer,
  startNats,
  waitFor,
} from '@flotilla/test-support';
import type { Consumer, ConsumerMessages } from '@nats-io/jetstream';
import { Config } from '../src/config.ts';
import { type GitWatcherHandle, startGitWatcher } from '../src/service.ts';

export const uniq = (p: string) => `${p}-${randomUUID().slice(0, 8)}`;

/** Every git and webhook event stored in the stream (after JetStream's dedupe), in order. */
export class EventLog {
  readonly events: FlotillaEvent[] = [];
  private messages: ConsumerMessages | undefined;
  private consumer: Consumer | undefined;
  /** Stream sequence of the last message handled here. */
  private handledSeq = 0;

  static async start(bus: Bus): Promise<EventLog> {
    const log = new EventLog();
    const consumer = await rawNats(bus).js.consumers.get(EVENT_STREAM, {
      filter_subjects: ['flotilla.v1.git.>', 'flotilla.v1.webhook.>'],
    });
    log.consumer = consumer;
    log.messages = await consumer.consume();
    void (async () => {
      for await (const m of log.messages!) {
        log.events.push(decodeEvent(m.data));
        log.handledSeq = m.seq;
      }
    })();
    return log;
  }

  /**
   * Resolves once every event stored so far has been handled here: the condition to wait on before
   * asserting that something was not published (after the check that would have published it).
   */
  async caughtUp(timeoutMs = 20_000): Promise<void> {
    const consumer = this.consumer!;
    let last = { pending: -1, delivered: -1 };
    await this.until(
      'the event log caught up with the stream',
      async () => {
        const info = await consumer.info();
        last = { pending: info.num_pending, delivered: info.delivered.stream_seq };
        return info.num_pending === 0 && this.handledSeq >= info.delivered.stream_seq;
      },
      timeoutMs,
    ).catch((err: Error) => {
      throw new Error(
        `${err.message} (pending ${last.pending}, delivered ${last.delivered}, handled ${this.handledSeq})`,
      );
    });
  }

  of<D = Record<string, unknown>>(type: string, repo?: string): Array<FlotillaEvent<D>> {
    return this.events.filter(
      (e) =>
        e.type === `io.flotilla.${type}.v1` &&
        (repo === undefined || (e.data as { repo?: string }).repo === repo),
    ) as Array<FlotillaEvent<D>>;
  }

  async until<T>(
    what: string,
    fn: () => T | undefined | false | Promise<T | undefined | false>,
    timeoutMs = 20_000,
  ): Promise<T> {
    return await waitFor(what, async () => (await fn()) || undefined, { timeoutMs, intervalMs: 50 }).catch(
      (err: Error) => {
        throw new Error(`${err.message}; ${this.events.length} events`);
      },
    );
  }

  stop(): void {
    this.messages?.stop();
  }
}

export interface Env {
  nats: NatsServer;
  git: GitServer;
  bus: Bus;
  log: EventLog;
  tmp: string;
  watchers: GitWatcherHandle[];
  start(
    config: Partial<Record<string, unknown>> & { repositories: unknown[] },
    logger?: Logger,
  ): Promise<GitWatcherHandle>;
  stop(): Promise<void>;
}

/**
 * What SIGKILL leaves behind: the NATS connection drops first, so the shutdown that follows can
 * release no lease and leave no members entry; the others take the repos over only after the TTL.
 */
export async function crash(w: GitWatcherHandle): Promise<void> {
  await w.bus.abandon();
  await w.stop();
}

/** One NATS, one git daemon, an event log, and a factory for watchers that are all stopped at the end. */
export async function startEnv(): Promise<Env> {
  const nats = await startNats();
  const git = await startGitServer();
  const bus = await Bus.connect({ servers: nats.url, service: 'cli', instance: 'test', ensureStream: true });
  const log = await EventLog.start(bus);
  const tmp = await mkdtemp(join(tmpdir(), 'gw-test-'));
  const watchers: GitWatcherHandle[] = [];
  return {
    nats,
    git,
    bus,
    log,
    tmp,
    watchers,
    async start(overrides, logger) {
      const instance = (overrides.instance as string | undefined) ?? uniq('gw');
      const file = join(tmp, `${instance}.json`);
      await writeFile(
        file,
        JSON.stringify({
          instance,
          nats: { servers: [nats.url] },
          http: { port: 0 },
          cacheDir: join(tmp, `cache-${instance}`),
          ...overrides,
          poll: { intervalMs: 300, jitter: 0.2, ...(overrides.poll as object) },
        }),
      );
      const config = loadConfig(Config, { file, env: {} });
      const w = await startGitWatcher(
        config,
        logger ?? createLogger({ service: 'git-watcher', level: 'silent' }),
      );
      watchers.push(w);
      return w;
    },
    async stop() {
      await Promise.allSettled(watchers.map((w) => w.stop()));
      log.stop();
      await bus.close();
      await git.stop();
      await nats.dispose();
      await rm(tmp, { recursive: true, force: true });
    },
  };
}
