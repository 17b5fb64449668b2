import { PlanCreated, RenderFailed } from '@flotilla/events';
import { GitWorkdir } from '@flotilla/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from './harness.ts';

// A config repo is untrusted: a pushed file of gigabytes (a few megabytes packed) must not be
// read into the planner's memory. Here the limit is 64 KiB and the file 256 KiB: the revision is
// refused from the size git names, RenderFailed says which file, no plan is published, and the
// commit that removes the file renders as usual.

const configMap = (value: string) => `apiVersion: v1
kind: ConfigMap
metadata: { name: settings, namespace: shop }
data: { value: "${value}" }
`;

const FILES: Record<string, string> = {
  'pipelines/shop.yaml': `apiVersion: flotilla.io/v1
kind: Pipeline
metadata:
  name: shop
spec:
  stages:
    - name: dev
      clusters: [{ name: shop-dev, path: shop/dev }]
`,
  'shop/dev/settings.yaml': configMap('v1'),
};

type D = { pipeline?: string; revision?: string; file?: string; code?: string; message?: string };
let h: Harness;
let work: GitWorkdir;

beforeAll(async () => {
  h = await createHarness({ files: FILES });
  await h.start({ git: { ...h.config().git, maxObjectBytes: 64 * 1024 } });
  await h.events.wait(PlanCreated, (d: D) => d.pipeline === 'shop');
  work = await GitWorkdir.clone(h.git.fileUrl(h.repoName));
});
afterAll(async () => {
  await work?.remove();
  await h?.stop();
});

describe('a config repo file over git.maxObjectBytes', () => {
  it('is refused by its size with RenderFailed naming it; removing it renders again', async () => {
    await work.writeFile('shop/dev/settings.yaml', configMap('v2'));
    await work.writeFile('shop/dev/blob.bin', 'x'.repeat(256 * 1024));
    const big = await work.commit('a huge file');
    await work.push();
    await h.commitDetected(big, ['shop/dev/settings.yaml', 'shop/dev/blob.bin']);

    const failed = (await h.events.wait(RenderFailed, (d: D) => d.revision === big)).data as D;
    expect(failed).toMatchObject({ file: 'shop/dev/blob.bin', code: 'git.object-too-large' });
    expect(failed.message).toContain(`is ${256 * 1024} bytes`);

    await work.removeFile('shop/dev/blob.bin');
    const fixed = await work.commit('the huge file removed');
    await work.push();
    await h.commitDetected(fixed, ['shop/dev/blob.bin']);
    await h.events.wait(PlanCreated, (d: D) => d.pipeline === 'shop' && d.revision === fixed);
    expect(h.events.of(PlanCreated).filter((e) => (e.data as D).revision === big)).toHaveLength(0);
  });
});
