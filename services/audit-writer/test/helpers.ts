import { randomBytes } from 'node:crypto';
import type { Bus } from '@flotilla/bus';
import { createEvent, encodeEvent, type FlotillaEvent, StageLockChanged } from '@flotilla/events';
import { freePort, type GitServer, rawNats, startGitServer } from '@flotilla/test-support';
import { Value } from '@sinclair/typebox/value';
import { Config } from '../src/config.ts';

// No vitest import here: the benches (bench/audit-writer/*.ts) use writerConfig outside vitest,
// where importing vitest throws; test-only lifecycles live in repo-fixture.ts.

export const rand = (p: string) => `${p}-${randomBytes(4).toString('hex')}`;

/** The repo-level tests' stock event: the i-th of a run of prod lock changes, id `${tag}-${i}`. */
export const lockEvent = (tag: string, i: number, reason: string) =>
  createEvent(
    StageLockChanged,
    { stage: 'prod', locked: i % 2 === 0, by: 'user:test', reason },
    { source: 'flotilla://planner/test', actor: 'user:test', id: `${tag}-${i}` },
  );

/** The test git server, stopped and started again on the same port (the remote going away). */
export class Daemon {
  private server: GitServer | undefined;
  private constructor(
    readonly root: string,
    readonly port: number,
  ) {}

  static async start(root: string): Promise<Daemon> {
    const d = new Daemon(root, await freePort());
    await d.up();
    return d;
  }

  url(repo: string): string {
    return `git://127.0.0.1:${this.port}/${repo}.git`;
  }

  async up(): Promise<void> {
    this.server = await startGitServer({ dir: this.root, port: this.port });
  }

  async down(): Promise<void> {
    await this.server?.stop();
    this.server = undefined;
  }
}

/** API tokens every test writer accepts: an auditor (read on all), a scoped reader, no role. */
export const AUDIT_TOKENS = {
  auditor: 'auditor-token-0123456789abcdef',
  scoped: 'scoped-token-0123456789abcdef',
  nobody: 'nobody-token-0123456789abcdef',
};

export function writerConfig(over: {
  natsUrl: string;
  auditUrl: string;
  dir: string;
  configUrl?: string;
  configDir?: string;
  durable?: string;
  /** Sign checkpoints (default on, as in production). */
  checkpoint?: boolean;
  verify?: { minIntervalMs?: number; maxAgeMs?: number };
}): Config {
  return Value.Default(Config, {
    instance: rand('aw'),
    nats: { servers: [over.natsUrl] },
    http: { port: 0, host: '127.0.0.1' },
    audit: {
      url: over.auditUrl,
      dir: over.dir,
      batchMaxDelayMs: 100,
      pushRetryMinMs: 200,
      pushRetryMaxMs: 1000,
      gitTimeoutMs: 20_000,
    },
    checkpoint: { enabled: over.checkpoint ?? true },
    consumer: { durable: over.durable ?? rand('audit'), concurrency: 256 },
    lease: { ttlMs: 3000 },
    configRepo: {
      url: over.configUrl ?? '',
      dir: over.configDir ?? `${over.dir}-config`,
      debounceMs: 100,
    },
    productionStages: ['prod'],
    api: {
      tokens: [
        { token: AUDIT_TOKENS.auditor, name: 'auditor', roles: ['read'] },
        { token: AUDIT_TOKENS.scoped, name: 'shop-dev', roles: ['read:shop'] },
        { token: AUDIT_TOKENS.nobody, name: 'nobody' },
      ],
    },
    apiRefusalEventsPerMinute: 10,
    ...(over.verify ? { verify: over.verify } : {}),
  }) as Config;
}

/** Publishes an event again under another Nats-Msg-Id: what a redelivery looks like to us. */
export async function republish(bus: Bus, event: FlotillaEvent): Promise<void> {
  await rawNats(bus).js.publish(event.subject ?? '', encodeEvent(event), { msgID: `again-${event.id}` });
}
