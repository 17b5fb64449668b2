// nkeys instead of passwords: `flotilla nats nkeys` makes a seed per identity, `nats-auth --nkeys`
// renders those identities with their public key, and each service signs in with its seed file.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Bus, natsOptions, provisionNats } from '@flotilla/bus';
import { StageLockChanged } from '@flotilla/events';
import { samples } from '@flotilla/events/samples';
import { type NatsServer, programArgs, rawNats, startNats } from '@flotilla/test-support';
import { nkeys } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderNatsAuthorization } from '../src/nats-auth.ts';
import { flotillaDeclarations } from '../src/nats-declarations.ts';

const shape = { clusters: ['dev'] };
let dir: string;
let nats: NatsServer;
let keys: Record<string, string>;
const buses: Bus[] = [];

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) =>
    execFile(process.execPath, programArgs('cli', ...args), { timeout: 60_000 }, (err, stdout, stderr) =>
      done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    ),
  );
}

const seed = (user: string) => join(dir, 'seeds', `${user}.nk`);

async function busAs(user: string): Promise<Bus> {
  const bus = await Bus.connect({
    // Only the admin provisions (it creates the stream on connect); services bind.
    ...natsOptions({ servers: [nats.url], user, nkeySeedFile: seed(user), provision: user === 'admin' }),
    service: 'planner',
    instance: user,
  });
  buses.push(bus);
  return bus;
}

/** One attempt, no retries: resolves with the server's refusal, fails if it connects. */
async function refused(opts: Parameters<typeof connect>[0]): Promise<string> {
  try {
    const nc = await connect({ ...opts, servers: nats.url, reconnect: false, timeout: 3000 });
    await nc.close();
  } catch (err) {
    return String((err as Error).message);
  }
  throw new Error('expected NATS to refuse the connection');
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flotilla-nkeys-'));
  const made = await cli(['nats', 'nkeys', '--clusters', 'dev', '--out', join(dir, 'seeds')]);
  if (made.code !== 0) throw new Error(made.stderr);
  keys = JSON.parse(made.stdout) as Record<string, string>;
  await writeFile(join(dir, 'nkeys.json'), made.stdout);
  const rendered = await cli(['nats-auth', '--clusters', 'dev', '--nkeys', join(dir, 'nkeys.json')]);
  if (rendered.code !== 0) throw new Error(rendered.stderr);
  nats = await startNats({ extraConfig: rendered.stdout });
  const admin = await busAs('admin');
  await provisionNats(rawNats(admin).jsm, flotillaDeclarations(shape));
});
afterAll(async () => {
  for (const b of buses) await b.close().catch(() => undefined);
  await nats?.dispose();
  await rm(dir, { recursive: true, force: true });
});

describe('NATS identities by nkey', () => {
  it('one seed per identity (0600, never overwritten); the authorization holds public keys only', async () => {
    expect(Object.keys(keys).sort()).toEqual(
      [
        'admin',
        'applier-dev',
        'audit-writer',
        'git-watcher',
        'planner',
        'registry-watcher',
        'subscriber',
      ].sort(),
    );
    for (const [user, key] of Object.entries(keys)) {
      expect(key).toMatch(/^U[A-Z2-7]{55}$/);
      expect((await stat(seed(user))).mode & 0o777).toBe(0o600);
    }
    const again = await cli(['nats', 'nkeys', '--clusters', 'dev', '--out', join(dir, 'seeds')]);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('never overwritten');
    const conf = renderNatsAuthorization({ ...shape, nkeys: keys });
    expect(conf).toContain(`nkey: "${keys.planner}" # planner`);
    // A user seed is `SU` + 56 base32 characters, a whole word. (Unanchored, `SU` + 50 matched inside
    // a public key by chance, about one run in forty.)
    expect(conf).not.toMatch(/password|\bSU[A-Z2-7]{56}\b/);
    expect(() => renderNatsAuthorization({ ...shape, nkeys: { planner: 'not-a-key' } })).toThrow(
      /not a user nkey/,
    );
    expect(() => renderNatsAuthorization({ ...shape, nkeys: { nobody: keys.planner as string } })).toThrow(
      /not an identity/,
    );
  });

  it('a service signs in with its seed and keeps its own permissions; password and unknown keys are refused', async () => {
    const planner = await busAs('planner');
    const { seq } = await planner.publish(StageLockChanged, samples.StageLockChanged);
    expect(seq).toBeGreaterThan(0);
    // The key is the identity: applier-dev's seed gets applier-dev's rights, not the planner's.
    const applier = await busAs('applier-dev');
    await expect(applier.publish(StageLockChanged, samples.StageLockChanged)).rejects.toThrow(
      /Permissions Violation/,
    );
    // No password signs in as an identity that has a key, and a key nobody listed is nobody.
    expect(await refused({ user: 'planner', pass: 'anything' })).toMatch(/Authorization Violation/i);
    const stranger = nkeys.createUser();
    const { nkeyAuthenticator } = await import('@nats-io/nats-core');
    expect(await refused({ authenticator: nkeyAuthenticator(stranger.getSeed()) })).toMatch(
      /Authorization Violation/i,
    );
  });
});
