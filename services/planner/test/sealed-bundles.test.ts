import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ChangeAwaitingApproval, PlanCreated } from '@flotilla/events';
import { decodeBundle } from '@flotilla/manifests';
import { GitWorkdir } from '@flotilla/test-support';
import {
  generateSealingKey,
  isSealed,
  openBundle,
  type PlanData,
  sealingPrivateKey,
  sealingPublicKey,
  verifyPlanSignature,
} from '@flotilla/trust';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from './harness.ts';

let h: Harness;
const prod = generateSealingKey();
const uat = generateSealingKey();

beforeAll(async () => {
  h = await createHarness();
  // prod's key inline, uat's from a file (PEM); dev and test stay unsealed.
  const uatFile = join(h.keyFile, '..', 'uat.pub');
  await writeFile(
    uatFile,
    sealingPublicKey(uat.publicKey).export({ type: 'spki', format: 'pem' }).toString(),
  );
  await h.start({
    bundles: { bucket: 'flotilla-bundles', recipients: `prod=${prod.publicKey},uat=${uatFile}` },
  });
});
afterAll(async () => {
  await h?.stop();
});

describe('sealed bundles from the planner', () => {
  it("seals a cluster's bundle to its key; the plan signs the ciphertext's digest; only that key opens it", async () => {
    const plan = (await h.events.wait<PlanData>(PlanCreated, (d) => d.cluster === 'prod')).data;
    expect(() => verifyPlanSignature(plan, [h.trusted])).not.toThrow();
    expect(plan.bundle.bucket).toBe('flotilla-bundles-prod');
    const stored = await (await h.watcher.blobs(plan.bundle.bucket)).get(plan.bundle.digest);
    expect(isSealed(stored)).toBe(true);
    expect(plan.bundle.size).toBe(stored.byteLength);
    // A copy of the bucket is ciphertext: no object name, kind or path of the cluster shows.
    expect(Buffer.from(stored).includes(Buffer.from('clusters/prod'))).toBe(false);
    expect(decodeBundle(stored).ok).toBe(false);
    const opened = decodeBundle(openBundle(stored, sealingPrivateKey(prod.privatePem), 'prod'));
    expect(opened.ok && opened.bundle).toMatchObject({ cluster: 'prod', revision: plan.revision });
    // uat's key does not open prod's bundle, nor does prod's key open it as another cluster's.
    expect(() => openBundle(stored, sealingPrivateKey(uat.privatePem), 'prod')).toThrow(/does not open/);
    expect(() => openBundle(stored, sealingPrivateKey(prod.privatePem), 'uat')).toThrow(/does not open/);
  });

  it('a key from a PEM file seals too; clusters without a key keep plaintext bundles', async () => {
    const uatPlan = (await h.events.wait<PlanData>(PlanCreated, (d) => d.cluster === 'uat')).data;
    const sealed = await (await h.watcher.blobs(uatPlan.bundle.bucket)).get(uatPlan.bundle.digest);
    expect(decodeBundle(openBundle(sealed, sealingPrivateKey(uat.privatePem), 'uat')).ok).toBe(true);
    const devPlan = (await h.events.wait<PlanData>(PlanCreated, (d) => d.cluster === 'dev')).data;
    const plain = await (await h.watcher.blobs(devPlan.bundle.bucket)).get(devPlan.bundle.digest);
    expect(isSealed(plain)).toBe(false);
    expect(decodeBundle(plain, { expectedDigest: devPlan.bundle.digest }).ok).toBe(true);
  });

  it("a held change's diff for a sealed cluster names only what changed (from the planner's own record)", async () => {
    const first = (await h.events.wait<PlanData>(PlanCreated, (d) => d.cluster === 'prod')).data;
    const running = await (await h.watcher.blobs(first.bundle.bucket)).get(first.bundle.digest);
    expect(isSealed(running)).toBe(true);
    const work = await GitWorkdir.clone(h.git.fileUrl(h.repoName));
    try {
      const path = 'clusters/prod/kustomization.yaml';
      await work.writeFile(
        path,
        (await h.fileAtHead(path)).replace(
          'flotilla.io/cluster: prod',
          'flotilla.io/cluster: prod\n  hotfix: "sealed"',
        ),
      );
      const sha = await work.commit('prod: hand edit', {
        author: { name: 'Alice', email: 'alice@example.com' },
      });
      await work.push();
      await h.commitDetected(sha, [path]);
      const held = await h.events.wait<{
        revision: string;
        diff: { added: string[]; removed: string[]; changed: string[] };
      }>(ChangeAwaitingApproval, (d) => d.revision === sha);
      // Before: the planner could not open the sealed bundle that runs, so every object was "added".
      expect(held.data.diff.added).toEqual([]);
      expect(held.data.diff.removed).toEqual([]);
      expect(held.data.diff.changed).toEqual(
        expect.arrayContaining(['apps/Deployment shop/web', 'Service shop/web']),
      );
    } finally {
      await work.remove();
    }
  });

  it('a malformed recipient stops the start, naming the cluster', async () => {
    await expect(
      h.start({ bundles: { bucket: 'flotilla-bundles', recipients: 'prod=not-a-key' } }),
    ).rejects.toThrow(/bundles.recipients: prod: not an X25519 public key/);
  });
});
