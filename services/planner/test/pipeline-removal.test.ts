import { PlanCreated } from '@flotilla/events';
import { decodeBundle } from '@flotilla/manifests';
import { GitWorkdir } from '@flotilla/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PlannerHandle } from '../src/service.ts';
import { createHarness, type Harness, TOKENS } from './harness.ts';

// Issue 16: a pipeline removed from the repo has its objects pruned only when its deletion
// policy says so. `legacy` (deletionPolicy: prune) gets an empty signed plan per cluster, which
// makes its applier prune that pipeline's inventory; `scratch` (the default, orphan) gets nothing,
// its objects keep running; `keep`, still in the repo, is not touched at all.

const configMap = (ns: string) =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: settings, namespace: ${ns} }\ndata: { a: "1" }\n`;

const pipeline = (name: string, policy?: string) => `apiVersion: flotilla.io/v1
kind: Pipeline
metadata:
  name: ${name}
spec:
  owner: team-${name}
${policy ? `  deletionPolicy: ${policy}\n` : ''}  stages:
    - name: dev
      clusters: [{ name: dev, path: ${name}/dev }]
    - name: prod
      clusters: [{ name: prod, path: ${name}/prod }]
      promotion: { rule: manual, approvers: [alice], bootstrap: allow }
`;

const FILES: Record<string, string> = {};
for (const [name, policy] of [
  ['keep', 'prune'],
  ['legacy', 'prune'],
  ['scratch', undefined],
] as const) {
  FILES[`pipelines/${name}.yaml`] = pipeline(name, policy);
  for (const c of ['dev', 'prod']) FILES[`${name}/${c}/settings.yaml`] = configMap(name);
}

type D = Record<string, unknown>;
let h: Harness;
let planner: PlannerHandle;

beforeAll(async () => {
  h = await createHarness({ files: FILES });
  planner = await h.start();
  for (const p of ['keep', 'legacy', 'scratch'])
    for (const c of ['dev', 'prod'])
      await h.events.wait(PlanCreated, (d: D) => d.pipeline === p && d.cluster === c);
});
afterAll(async () => {
  await h?.stop();
});

describe('a pipeline removed from the repo', () => {
  it('is pruned under deletionPolicy: prune (an empty plan per cluster), orphaned by default', async () => {
    const work = await GitWorkdir.clone(h.git.fileUrl(h.repoName));
    try {
      for (const f of ['pipelines/legacy.yaml', 'pipelines/scratch.yaml']) await work.removeFile(f);
      const sha = await work.commit('retire legacy and scratch');
      await work.push();
      await h.commitDetected(sha);

      for (const c of ['dev', 'prod']) {
        const plan = await h.events.wait<D>(
          PlanCreated,
          (d) => d.pipeline === 'legacy' && d.cluster === c && d.revision === sha,
        );
        const data = plan.data as { sequence: number; bundle: { digest: string; objects: number } };
        expect(data.sequence).toBe(2);
        expect(data.bundle.objects).toBe(0);
        const blobs = await h.watcher.blobs(`flotilla-bundles-${c}`);
        const decoded = decodeBundle(await blobs.get(data.bundle.digest), {
          expectedDigest: data.bundle.digest,
        });
        expect(decoded.ok && decoded.bundle.objects).toEqual([]);
      }
      await h.drained();
      // Nothing for the orphaned pipeline nor for the one still declared.
      const atRemoval = h.events.of<D>(PlanCreated, (d) => d.revision === sha);
      expect(atRemoval.map((e) => `${e.data.pipeline}.${e.data.cluster}`).sort()).toEqual([
        'legacy.dev',
        'legacy.prod',
      ]);
      const list = await h.api(planner, 'GET', '/api/v1/pipelines', TOKENS.bob);
      expect((list.body.pipelines as D[]).map((p) => p.name)).toEqual(['keep']);
      expect(list.body.revision).toBe(sha);

      // A later commit does not prune again (the removal was recorded as rendered).
      await work.writeFile('keep/dev/settings.yaml', configMap('keep').replace('"1"', '"2"'));
      const next = await work.commit('keep: a = 2');
      await work.push();
      await h.commitDetected(next);
      await h.events.wait(PlanCreated, (d: D) => d.pipeline === 'keep' && d.revision === next);
      await h.drained();
      expect(h.events.of<D>(PlanCreated, (d) => d.revision === next).map((e) => e.data.pipeline)).toEqual([
        'keep',
      ]);
    } finally {
      await work.remove();
    }
  }, 120_000);
});
