import { Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.ts';
import {
  consumerOptions,
  fixedConsumerOptions,
  leaseOptions,
  pollOptions,
  redeliveryOptions,
} from './option-groups.ts';

// Two services' configs built from the same groups: one env name per setting in both.
const Watcher = Type.Object({
  poll: pollOptions({ intervalMs: 60_000 }, { hostConcurrency: Type.Integer({ default: 4, minimum: 1 }) }),
  lease: leaseOptions({ bucket: 'watcher-leases' }, { balance: Type.Boolean({ default: true }) }),
});
const Writer = Type.Object({
  consumer: consumerOptions(
    { durable: 'writer' },
    { concurrency: Type.Integer({ default: 64, minimum: 1 }) },
  ),
  lease: leaseOptions({ bucket: 'flotilla-leases' }),
});

// A service whose durables are named by its NATS resources, with configurable redelivery (the planner).
const Planner = Type.Object({
  consumer: fixedConsumerOptions(
    { ackWaitMs: 60_000 },
    redeliveryOptions({ maxDeliver: 8, backoffMs: [500, 2000] }),
  ),
});

describe('option groups', () => {
  it('give every service the same defaults and the service its own settings beside them', () => {
    expect(loadConfig(Watcher, { env: {} })).toEqual({
      poll: { intervalMs: 60_000, jitter: 0.2, maxBackoffMs: 600_000, hostConcurrency: 4 },
      lease: { bucket: 'watcher-leases', ttlMs: 15_000, balance: true },
    });
    expect(loadConfig(Writer, { env: {} })).toEqual({
      consumer: { durable: 'writer', ackWaitMs: 30_000, concurrency: 64 },
      lease: { bucket: 'flotilla-leases', ttlMs: 15_000 },
    });
    expect(loadConfig(Planner, { env: {} })).toEqual({
      consumer: { ackWaitMs: 60_000, maxDeliver: 8, backoffMs: [500, 2000] },
    });
  });

  it('are set by the same environment variable in every service', () => {
    const env = {
      FLOTILLA_LEASE_TTL_MS: '3000',
      FLOTILLA_POLL_INTERVAL_MS: '500',
      FLOTILLA_CONSUMER_ACK_WAIT_MS: '4000',
    };
    expect(loadConfig(Watcher, { env }).lease.ttlMs).toBe(3000);
    expect(loadConfig(Writer, { env }).lease.ttlMs).toBe(3000);
    expect(loadConfig(Watcher, { env }).poll.intervalMs).toBe(500);
    expect(loadConfig(Writer, { env }).consumer.ackWaitMs).toBe(4000);
    expect(loadConfig(Planner, { env }).consumer.ackWaitMs).toBe(4000);
  });

  it('hold the same bounds everywhere', () => {
    expect(() => loadConfig(Watcher, { env: { FLOTILLA_LEASE_TTL_MS: '100' } })).toThrow(ConfigError);
    expect(() => loadConfig(Writer, { env: { FLOTILLA_LEASE_TTL_MS: '100' } })).toThrow(ConfigError);
    expect(() => loadConfig(Watcher, { env: { FLOTILLA_POLL_JITTER: '2' } })).toThrow(ConfigError);
    expect(() => loadConfig(Writer, { env: { FLOTILLA_CONSUMER_ACK_WAIT_MS: '10' } })).toThrow(ConfigError);
    expect(() => loadConfig(Planner, { env: { FLOTILLA_CONSUMER_ACK_WAIT_MS: '10' } })).toThrow(ConfigError);
    expect(() => loadConfig(Planner, { env: { FLOTILLA_CONSUMER_BACKOFF_MS: '[]' } })).toThrow(ConfigError);
  });

  it('fill a group left out whole by a caller that builds its config in code', () => {
    // Tests and embedding processes build configs with Value.Default, not loadConfig: a missing
    // group must come out with its defaults, not undefined (the planner read consumer.ackWaitMs).
    expect(Value.Default(Planner, {})).toEqual({
      consumer: { ackWaitMs: 60_000, maxDeliver: 8, backoffMs: [500, 2000] },
    });
    expect(Value.Default(Watcher, { lease: { ttlMs: 2000 } })).toEqual({
      poll: { intervalMs: 60_000, jitter: 0.2, maxBackoffMs: 600_000, hostConcurrency: 4 },
      lease: { bucket: 'watcher-leases', ttlMs: 2000, balance: true },
    });
  });
});
