import { PlanCreated, RenderFailed } from '@flotilla/events';
import { bundleContentDigest, decodeBundle } from '@flotilla/manifests';
import { GitWorkdir } from '@flotilla/test-support';
import { type PlanData, verifyPlanSignature } from '@flotilla/trust';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PlannerHandle } from '../src/service.ts';
import { createHarness, type Harness, TOKENS } from './harness.ts';
import './status-matcher.ts';

type D = Record<string, unknown>;
let h: Harness;
let planner: PlannerHandle;
let work: GitWorkdir;

beforeAll(async () => {
  h = await createHarness();
  planner = await h.start();
  work = await GitWorkdir.clone(h.git.fileUrl(h.repoName));
});
afterAll(async () => {
  await work?.remove();
  await h?.stop();
});

async function pushChange(files: Record<string, string>, message: string): Promise<string> {
  await work.pull();
  for (const [p, text] of Object.entries(files)) await work.writeFile(p, text);
  const sha = await work.commit(message);
  await work.push();
  await h.commitDetected(sha);
  await h.drained();
  return sha;
}

describe('plans: signed, content-addressed, only for changed clusters; render errors', () => {
  it('publishes one signed plan per cluster whose bundle is in the object store', async () => {
    for (const cluster of ['dev', 'test', 'uat', 'prod']) {
      const e = await h.events.wait<PlanData>(PlanCreated, (d) => d.cluster === cluster);
      // Each cluster's bundles in its own store, the only one its applier may read.
      expect(e.data.bundle.bucket).toBe(`flotilla-bundles-${cluster}`);
      const blobs = await h.watcher.blobs(e.data.bundle.bucket);
      expect(() => verifyPlanSignature(e.data, [h.trusted])).not.toThrow();
      expect(() => verifyPlanSignature({ ...e.data, path: 'clusters/tampered' }, [h.trusted])).toThrow(
        /signature/,
      );
      expect(e.data).toMatchObject({ repo: h.repoName, sequence: 1, path: `clusters/${cluster}` });
      const decoded = decodeBundle(await blobs.get(e.data.bundle.digest), {
        expectedDigest: e.data.bundle.digest,
      });
      expect(decoded.ok).toBe(true);
      if (!decoded.ok) return;
      expect(decoded.bundle.revision).toBe(e.data.revision);
      // The signed content digest is the bundle's own (an applier holding it skips the bundle).
      expect(e.data.bundle.contentDigest).toBe(bundleContentDigest(decoded.bundle));
      expect(decoded.bundle.objects.map((o) => o.kind).sort()).toEqual([
        'Deployment',
        'Namespace',
        'Service',
      ]);
    }
  });

  it('a commit that changes only the test overlay yields exactly one new plan', async () => {
    const before = h.events.of<PlanData>(PlanCreated, (d) => d.cluster === 'test')[0];
    const text = await h.fileAtHead('clusters/test/kustomization.yaml');
    const sha = await pushChange(
      {
        'clusters/test/kustomization.yaml': text.replace(
          'flotilla.io/cluster: test',
          'flotilla.io/cluster: test\n  team: shop',
        ),
      },
      'test: annotate',
    );
    const plans = h.events.of<PlanData>(PlanCreated, (d) => d.revision === sha);
    expect(plans.map((p) => p.data.cluster)).toEqual(['test']);
    expect(plans[0]?.data).toMatchObject({ sequence: 2, previousDigest: before?.data.bundle.digest });
  });

  it('a broken flotilla.yaml is reported with file and line, and nothing is published', async () => {
    const pipeline = await h.fileAtHead('flotilla.yaml');
    const broken = pipeline.replace(
      'promotion: { rule: auto, soak: 1s }',
      'promotion: { rule: sometimes, soak: 1s }',
    );
    const line = broken.split('\n').findIndex((l) => l.includes('sometimes')) + 1;
    const sha = await pushChange(
      {
        'flotilla.yaml': broken,
        'clusters/dev/kustomization.yaml': `${await h.fileAtHead('clusters/dev/kustomization.yaml')}\n# touched\n`,
      },
      'broken pipeline',
    );
    const failed = await h.events.wait<D>(RenderFailed, (d) => d.revision === sha);
    expect(failed.data).toMatchObject({ file: 'flotilla.yaml', line, code: 'pipeline.schema' });
    expect(failed.data.message).toContain('sometimes');
    expect(h.events.of<PlanData>(PlanCreated, (d) => d.revision === sha)).toHaveLength(0);
  });

  it('a broken kustomization is reported with file and line; no plan for that cluster', async () => {
    const pipeline = (await h.fileAtHead('flotilla.yaml')).replace('rule: sometimes', 'rule: auto');
    const kust = await h.fileAtHead('clusters/dev/kustomization.yaml');
    const broken = kust.replace('patches:\n', 'patches: [\n');
    const sha = await pushChange(
      { 'flotilla.yaml': pipeline, 'clusters/dev/kustomization.yaml': broken },
      'broken overlay',
    );
    const failed = await h.events.wait<D>(RenderFailed, (d) => d.revision === sha && d.cluster === 'dev');
    expect(failed.data).toMatchObject({ stage: 'dev', file: 'clusters/dev/kustomization.yaml' });
    expect(failed.data.line).toBeGreaterThanOrEqual(5);
    expect(h.events.of<PlanData>(PlanCreated, (d) => d.revision === sha)).toHaveLength(0);
    const status = await h.api(planner, 'GET', '/api/v1/stages', TOKENS.bob);
    const dev = (status.body.stages as Array<{ clusters: Array<{ lastRenderError: D | null }> }>)[0];
    expect(dev?.clusters[0]?.lastRenderError).toMatchObject({ file: 'clusters/dev/kustomization.yaml' });
  });

  it('a second instance stands by while the leader holds the lease', async () => {
    const standby = await h.start();
    expect(planner.leader).toBe(true);
    expect(standby.leader).toBe(false);
    expect(await h.api(standby, 'GET', '/api/v1/stages', TOKENS.bob)).toHaveStatus(503);
    await standby.stop();
  });
});
