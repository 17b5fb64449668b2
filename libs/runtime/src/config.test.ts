import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Type } from '@sinclair/typebox';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.ts';
import { consumerOptions, leaseOptions } from './option-groups.ts';

const Schema = Type.Object({
  lease: leaseOptions({ bucket: 'b' }, { mode: Type.String({ default: 'single' }) }),
  consumer: consumerOptions({ durable: 'd' }),
});
const renamed = { leader: 'lease', ackWaitMs: 'consumer.ackWaitMs' } as const;

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const fileWith = (yaml: string) => {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-config-'));
  dirs.push(dir);
  const file = join(dir, 'config.yaml');
  writeFileSync(file, yaml);
  return file;
};

const problems = (f: () => unknown): string[] => {
  try {
    f();
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
};

describe('loadConfig: renamed keys', () => {
  it('refuses an old key in the file, naming the new one, instead of ignoring it', () => {
    const file = fileWith('leader:\n  mode: sharded\n');
    // Without the declaration the old key is ignored like any unknown one and the default wins.
    expect(loadConfig(Schema, { env: {}, file }).lease.mode).toBe('single');
    expect(problems(() => loadConfig(Schema, { env: {}, file, renamed }))).toEqual([
      `leader (${file}) was renamed lease (FLOTILLA_LEASE_…): rename it`,
    ]);
  });

  it('refuses an old variable, naming the new one', () => {
    expect(problems(() => loadConfig(Schema, { env: { FLOTILLA_LEADER_TTL_MS: '3000' }, renamed }))).toEqual([
      'leader (FLOTILLA_LEADER_TTL_MS) was renamed lease (FLOTILLA_LEASE_…): rename it',
    ]);
    expect(problems(() => loadConfig(Schema, { env: { FLOTILLA_ACK_WAIT_MS: '9000' }, renamed }))).toEqual([
      'ackWaitMs (FLOTILLA_ACK_WAIT_MS) was renamed consumer.ackWaitMs (FLOTILLA_CONSUMER_ACK_WAIT_MS): rename it',
    ]);
  });

  it('takes the new names as before', () => {
    const env = {
      FLOTILLA_LEASE_TTL_MS: '3000',
      FLOTILLA_CONSUMER_ACK_WAIT_MS: '9000',
      FLOTILLA_LEASE_MODE: 'sharded',
    };
    const config = loadConfig(Schema, { env, renamed });
    expect(config.lease).toMatchObject({ ttlMs: 3000, mode: 'sharded' });
    expect(config.consumer.ackWaitMs).toBe(9000);
  });
});
