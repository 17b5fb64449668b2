import { randomBytes } from 'node:crypto';
import { ApplySucceeded, DriftCorrected, DriftDetected } from '@flotilla/events';
import { valueHash } from '@flotilla/kube';
import type { KubeObject } from '@flotilla/manifests';
import { rawNats } from '@flotilla/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cm, createHarness, type Harness, ns, rand } from './harness.ts';

let h: Harness;
let raw: string[];
beforeAll(async () => {
  h = await createHarness({ kwok: false });
  // Every message on the bus as sent (dead letters included), to grep for the values.
  raw = [];
  const sub = rawNats(h.planner).nc.subscribe('flotilla.>');
  void (async () => {
    for await (const m of sub) raw.push(new TextDecoder().decode(m.data));
  })();
});
afterAll(async () => {
  await h?.stop();
});

const b64 = (s: string) => Buffer.from(s).toString('base64');
const HASH_KEY = `drift-hash-key-${'x'.repeat(32)}`;
const key = new TextEncoder().encode(HASH_KEY);

interface Drift {
  object: string;
  diffs: Array<Record<string, unknown> & { path: string }>;
}

const secret = (space: string, password: string): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name: 'db', namespace: space },
  type: 'Opaque',
  data: { password: b64(password) },
});
const web = (space: string, dbPassword: string): KubeObject => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', namespace: space },
  spec: {
    selector: { matchLabels: { app: 'web' } },
    template: {
      metadata: { labels: { app: 'web' } },
      spec: {
        containers: [
          { name: 'app', image: 'registry.local/app:1.0', env: [{ name: 'DB_PASSWORD', value: dbPassword }] },
        ],
      },
    },
  },
});

describe('cluster-applier: secret values never leave the cluster', () => {
  it('a Secret edited with kubectl, a credential env var and a configured path drift as paths and keyed hashes; a rotation by plan carries no value either', async () => {
    const cluster = `c-${rand()}`;
    const space = `secrets-${rand()}`;
    // Values unique to this run: any sighting anywhere is a leak, not a coincidence.
    const v = (what: string) => `${what}-${randomBytes(6).toString('hex')}`;
    const [gitPw, editedPw, rotatedPw, gitEnv, editedEnv, gitUrl, editedUrl] = [
      v('git-pw'),
      v('edited-pw'),
      v('rotated-pw'),
      v('git-env'),
      v('edited-env'),
      v('postgres-git'),
      v('postgres-edited'),
    ];
    const logs: string[] = [];
    const app = await h.start(
      cluster,
      {
        drift: {
          policy: 'correct',
          intervalMs: 0,
          hashKey: HASH_KEY,
          sensitivePaths: 'ConfigMap:.data.DATABASE_URL',
        },
      },
      undefined,
      logs,
    );
    const objects = (pw: string) => [
      ns(space),
      secret(space, pw),
      web(space, gitEnv),
      cm(space, 'settings', { DATABASE_URL: gitUrl, MODE: 'blue' }),
    ];
    const first = await h.publishPlan(cluster, objects(gitPw), { sequence: 1 });
    await h.events.wait(ApplySucceeded, (d: { planId: string }) => d.planId === first.planId);

    // Out-of-band edits, as someone with kubectl would make them.
    await h.kubectl(
      'patch',
      'secret',
      'db',
      '-n',
      space,
      '-p',
      JSON.stringify({ data: { password: b64(editedPw) } }),
    );
    await h.kubectl('set', 'env', 'deployment/web', '-n', space, `DB_PASSWORD=${editedEnv}`);
    await h.kubectl(
      'patch',
      'configmap',
      'settings',
      '-n',
      space,
      '-p',
      JSON.stringify({ data: { DATABASE_URL: editedUrl, MODE: 'green' } }),
    );
    const report = await app.applier.checkDrift();
    expect(report.drifted).toHaveLength(3);

    const of = (object: string) => h.events.wait<Drift>(DriftDetected, (d) => d.object === object, 30_000);
    const secretDrift = await of(`Secret ${space}/db`);
    expect(secretDrift.data.diffs).toEqual([
      {
        path: '.data.password',
        sensitive: true,
        expectedHash: valueHash(key, b64(gitPw)),
        actualHash: valueHash(key, b64(editedPw)),
        manager: 'kubectl-patch',
      },
    ]);
    const envDrift = await of(`apps/Deployment ${space}/web`);
    expect(envDrift.data.diffs).toEqual([
      {
        path: '.spec.template.spec.containers[name=app].env[name=DB_PASSWORD].value',
        sensitive: true,
        expectedHash: valueHash(key, gitEnv),
        actualHash: valueHash(key, editedEnv),
        manager: 'kubectl-set',
      },
    ]);
    const cmDrift = await of(`ConfigMap ${space}/settings`);
    // The configured path is hashed; an ordinary key of the same ConfigMap still shows its values.
    expect(cmDrift.data.diffs).toEqual([
      {
        path: '.data.DATABASE_URL',
        sensitive: true,
        expectedHash: valueHash(key, gitUrl),
        actualHash: valueHash(key, editedUrl),
        manager: 'kubectl-patch',
      },
      { path: '.data.MODE', expected: 'blue', actual: 'green', manager: 'kubectl-patch' },
    ]);
    await h.events.wait(DriftCorrected, (d: { object: string }) => d.object === `Secret ${space}/db`, 30_000);
    expect((await h.get('secret', 'db', space))?.data.password).toBe(b64(gitPw));

    // A rotation through Git: the plan applies the new value; no event names it.
    const rotation = await h.publishPlan(cluster, objects(rotatedPw), { sequence: 2 });
    await h.events.wait(ApplySucceeded, (d: { planId: string }) => d.planId === rotation.planId);
    expect((await h.get('secret', 'db', space))?.data.password).toBe(b64(rotatedPw));

    const everything = [...raw, ...logs].join('\n');
    expect(raw.length).toBeGreaterThan(0);
    expect(logs.length).toBeGreaterThan(0);
    for (const value of [gitPw, editedPw, rotatedPw, gitEnv, editedEnv, gitUrl, editedUrl]) {
      expect(everything).not.toContain(value);
      expect(everything).not.toContain(b64(value));
    }
    expect(everything).not.toContain(HASH_KEY);
  });
});
