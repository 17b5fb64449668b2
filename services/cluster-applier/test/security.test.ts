import { ApplyFailed, ApplySucceeded } from '@flotilla/events';
import { bundleContentDigest, createBundle, encodeBundle } from '@flotilla/manifests';
import { createServiceAccountKubeconfig } from '@flotilla/test-support';
import { generateSealingKey, generateSigningKey, sealingPublicKey } from '@flotilla/trust';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cm, createHarness, type Harness, ns, rand, revisionOf } from './harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await createHarness({ kwok: false });
});
afterAll(async () => {
  await h?.stop();
});

interface Failed {
  planId: string;
  code: string;
  message: string;
  nothingApplied: boolean;
  objects: { object: string; code?: string; reason: string }[];
}

describe('cluster-applier: only verified plans, only what RBAC allows', () => {
  it('refuses unsigned, unknown-key, wrongly signed and tampered plans without touching the cluster', async () => {
    const cluster = `c-${rand()}`;
    await h.start(cluster);
    const cases: {
      code: string;
      space: string;
      publish: (space: string, seq: number) => Promise<{ planId: string }>;
    }[] = [
      {
        code: 'plan.unsigned',
        space: `s-${rand()}`,
        publish: (s, seq) => h.publishPlan(cluster, [ns(s)], { sequence: seq, signWith: null }),
      },
      {
        code: 'plan.unknown-key',
        space: `s-${rand()}`,
        publish: (s, seq) =>
          h.publishPlan(cluster, [ns(s)], {
            sequence: seq,
            signWith: generateSigningKey('intruder').signing,
          }),
      },
      {
        code: 'plan.bad-signature',
        space: `s-${rand()}`,
        // Same key id as the trusted one, different private key.
        publish: (s, seq) =>
          h.publishPlan(cluster, [ns(s)], {
            sequence: seq,
            signWith: generateSigningKey('planner-test').signing,
          }),
      },
      {
        code: 'plan.bad-signature',
        space: `s-${rand()}`,
        // Signed, then the revision is changed in flight.
        publish: (s, seq) =>
          h.publishPlan(cluster, [ns(s)], {
            sequence: seq,
            mutate: (p) => ({ ...p, revision: revisionOf(999) }),
          }),
      },
    ];
    let seq = 1;
    for (const c of cases) {
      const plan = await c.publish(c.space, seq++);
      const failed = await h.events.wait<Failed>(ApplyFailed, (d) => d.planId === plan.planId);
      expect(failed.data).toMatchObject({ code: c.code, nothingApplied: true });
      expect(await h.get('namespace', c.space)).toBeUndefined();
    }
  });

  it('refuses a bundle whose bytes do not match the digest the plan names', async () => {
    const cluster2 = `c-${rand()}`;
    const space2 = `s-${rand()}`;
    await h.start(cluster2);
    const evil = encodeBundle(
      createBundle({
        cluster: cluster2,
        revision: revisionOf(1),
        source: { repo: 'config', path: `clusters/${cluster2}` },
        objects: [ns(space2), ns(`${space2}-evil`)],
      }),
    );
    // The planner signed the honest digest; the store serves other bytes under that name.
    const tampered = await h.publishPlan(cluster2, [ns(space2)], { sequence: 1, storeInstead: evil });
    const failed = await h.events.wait<Failed>(ApplyFailed, (d) => d.planId === tampered.planId);
    expect(failed.data).toMatchObject({ code: 'bundle.digest-mismatch', nothingApplied: true });
    expect(await h.get('namespace', `${space2}-evil`)).toBeUndefined();
  });

  it("refuses a plan whose signed content digest is not its bundle's; a plan without one is read as before", async () => {
    const cluster = `c-${rand()}`;
    const space = `s-${rand()}`;
    await h.start(cluster);
    // A later plan claiming this content would be answered without reading its bundle, so the
    // claim is held to the bundle whenever one is read.
    const other = bundleContentDigest({ source: { path: 'elsewhere' }, objects: [ns(space)] });
    const lying = await h.publishPlan(cluster, [ns(space)], { sequence: 1, contentDigest: other });
    const failed = await h.events.wait<Failed>(ApplyFailed, (d) => d.planId === lying.planId);
    expect(failed.data).toMatchObject({ code: 'bundle.mismatch', nothingApplied: true });
    expect(failed.data.message).toContain(other);
    expect(await h.get('namespace', space)).toBeUndefined();
    const older = await h.publishPlan(cluster, [ns(space)], { sequence: 2, contentDigest: null });
    expect(older.bundle.contentDigest).toBeUndefined();
    await h.events.wait(ApplySucceeded, (d: { planId: string }) => d.planId === older.planId);
    expect(await h.get('namespace', space)).toBeDefined();
  });

  it('sealed bundles: applied with the cluster key; a corrupt seal, another key, a plaintext downgrade refused', async () => {
    const cluster = `c-${rand()}`;
    const own = generateSealingKey();
    const other = generateSealingKey();
    await h.start(cluster, { sealing: { key: own.privatePem } });
    const space = `s-${rand()}`;
    const ok = await h.publishPlan(cluster, [ns(space), cm(space, 'sealed')], {
      sequence: 1,
      sealTo: sealingPublicKey(own.publicKey),
    });
    await h.events.wait(ApplySucceeded, (d: { planId: string }) => d.planId === ok.planId);
    expect(await h.get('configmap', 'sealed', space)).toBeDefined();

    const cases: Array<{ code: string; opts: Parameters<Harness['publishPlan']>[2]; reason: RegExp }> = [
      {
        // Signed over the altered bytes, so only the seal itself can tell.
        code: 'bundle.seal-invalid',
        opts: {
          sequence: 2,
          sealTo: sealingPublicKey(own.publicKey),
          alterSealed: (b) => {
            const bad = Uint8Array.from(b);
            bad[bad.length - 20] = (bad[bad.length - 20] as number) ^ 1;
            return bad;
          },
        },
        reason: /does not open for cluster .*tampered, or sealed to another key/,
      },
      {
        code: 'bundle.seal-invalid',
        opts: { sequence: 3, sealTo: sealingPublicKey(other.publicKey) },
        reason: /does not open/,
      },
      { code: 'bundle.unsealed', opts: { sequence: 4 }, reason: /accepts only bundles sealed to its key/ },
    ];
    for (const c of cases) {
      const evil = `evil-${rand()}`;
      const plan = await h.publishPlan(cluster, [ns(space), cm(space, evil)], c.opts);
      const failed = await h.events.wait<Failed>(ApplyFailed, (d) => d.planId === plan.planId);
      expect(failed.data).toMatchObject({ code: c.code, nothingApplied: true });
      expect(failed.data.message).toMatch(c.reason);
      expect(await h.get('configmap', evil, space)).toBeUndefined();
    }
  });

  it('an applier without a key refuses a sealed bundle by name', async () => {
    const cluster = `c-${rand()}`;
    await h.start(cluster);
    const plan = await h.publishPlan(cluster, [ns(`s-${rand()}`)], {
      sequence: 1,
      sealTo: sealingPublicKey(generateSealingKey().publicKey),
    });
    const failed = await h.events.wait<Failed>(ApplyFailed, (d) => d.planId === plan.planId);
    expect(failed.data).toMatchObject({ code: 'bundle.sealed-no-key', nothingApplied: true });
  });

  it('refuses a replayed older plan after a newer one was applied', async () => {
    const cluster = `c-${rand()}`;
    const space = `s-${rand()}`;
    const a = await h.start(cluster);
    const p2 = await h.publishPlan(cluster, [ns(space), cm(space, 'v2')], { sequence: 2 });
    await h.events.wait(ApplySucceeded, (d: { planId: string }) => d.planId === p2.planId);
    const old = await h.publishPlan(cluster, [ns(space), cm(space, 'v1')], { sequence: 1 });
    const failed = await h.events.wait<Failed>(ApplyFailed, (d) => d.planId === old.planId);
    expect(failed.data).toMatchObject({ code: 'plan.replayed', nothingApplied: true });
    expect(await h.get('configmap', 'v1', space)).toBeUndefined();
    expect(await h.get('configmap', 'v2', space)).toBeDefined();
    // The refusal is acked (never dead-lettered): only this counter shows it to a scrape (and
    // the FlotillaPlanReplayRefused alert).
    const metrics = await (await fetch(`${a.url}/metrics`)).text();
    expect(metrics).toMatch(
      /^cluster_applier_plan_failures_total\{code="plan\.replayed",disposition="stall"\} 1$/m,
    );
  });

  it('an applier allowed only namespace team-a: a bundle touching kube-system fails with an RBAC error and writes nothing', async () => {
    const cluster = `c-${rand()}`;
    const teamA = `team-a-${rand()}`;
    const sa = await createServiceAccountKubeconfig(h.cluster, {
      namespace: teamA,
      name: 'applier',
      roles: [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }],
    });
    await h.start(cluster, { inventoryNamespace: teamA }, sa.kubeconfigPath);
    const plan = await h.publishPlan(cluster, [cm(teamA, 'mine'), cm('kube-system', `not-mine-${rand()}`)], {
      sequence: 1,
    });
    const failed = await h.events.wait<Failed>(ApplyFailed, (d) => d.planId === plan.planId);
    expect(failed.data).toMatchObject({ code: 'apply.forbidden', nothingApplied: true });
    expect(failed.data.objects).toHaveLength(1);
    expect(failed.data.objects[0]?.object).toMatch(/^ConfigMap kube-system\/not-mine-/);
    expect(failed.data.objects[0]?.reason).toContain(
      `RBAC: system:serviceaccount:${teamA}:applier may not patch`,
    );
    expect(await h.get('configmap', 'mine', teamA)).toBeUndefined();

    // Within its namespace it works.
    const ok = await h.publishPlan(cluster, [cm(teamA, 'mine')], { sequence: 2 });
    await h.events.wait(ApplySucceeded, (d: { planId: string }) => d.planId === ok.planId);
    expect(await h.get('configmap', 'mine', teamA)).toBeDefined();
  });
});
