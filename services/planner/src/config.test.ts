import { loadConfig } from '@flotilla/runtime';
import { describe, expect, it } from 'vitest';
import { Config, RENAMED } from './config.ts';
import { natsResources, PLANNER_SLOTS } from './nats-resources.ts';

const required = {
  FLOTILLA_GIT_URL: 'file:///repo.git',
  FLOTILLA_SIGNING_KEY_ID: 'k',
};

describe('planner config: the shared consumer group', () => {
  it('has the shared shape (ackWaitMs) with the redelivery settings beside it, all defaulted', () => {
    expect(loadConfig(Config, { env: required }).consumer).toEqual({
      ackWaitMs: 60_000,
      maxDeliver: 8,
      backoffMs: [500, 2000, 5000, 15_000],
      maxHeldMs: 86_400_000,
    });
  });

  it('is set by the shared variables (FLOTILLA_CONSUMER_ACK_WAIT_MS as for the applier and the audit-writer)', () => {
    const env = {
      ...required,
      FLOTILLA_CONSUMER_ACK_WAIT_MS: '90000',
      FLOTILLA_CONSUMER_MAX_DELIVER: '3',
      FLOTILLA_CONSUMER_BACKOFF_MS: '[100,300]',
    };
    expect(loadConfig(Config, { env }).consumer).toMatchObject({
      ackWaitMs: 90_000,
      maxDeliver: 3,
      backoffMs: [100, 300],
    });
  });

  it('holds the shared bounds', () => {
    expect(() => loadConfig(Config, { env: { ...required, FLOTILLA_CONSUMER_ACK_WAIT_MS: '10' } })).toThrow(
      /consumer\.ackWaitMs/,
    );
    expect(() => loadConfig(Config, { env: { ...required, FLOTILLA_CONSUMER_MAX_DELIVER: '0' } })).toThrow(
      /consumer\.maxDeliver/,
    );
  });

  it('declares every consumer with the configured ack wait, so the bootstrap makes what the planner binds', () => {
    const declared = natsResources({ consumer: { ackWaitMs: 90_000 } }).consumers;
    expect(declared).toHaveLength(1 + PLANNER_SLOTS);
    expect(declared.map((c) => c.ackWaitMs)).toEqual(Array(1 + PLANNER_SLOTS).fill(90_000));
    expect(natsResources().consumers.map((c) => c.ackWaitMs)).toEqual(Array(1 + PLANNER_SLOTS).fill(60_000));
  });
});

describe('planner config: renamed keys', () => {
  it('refuses the old `leader` group (now `lease`) instead of quietly running single', () => {
    expect(() =>
      loadConfig(Config, { env: { ...required, FLOTILLA_LEADER_MODE: 'sharded' }, renamed: RENAMED }),
    ).toThrow(/leader \(FLOTILLA_LEADER_MODE\) was renamed lease/);
  });
});
