import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PlanCreated } from '@flotilla/events';
import { resolveKustomizeRenderer } from '@flotilla/render';
import type { PlanData } from '@flotilla/trust';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, digestOf, type Harness } from './harness.ts';

// The renderer (flotilla-kustomize, as `auto` picks it) behind a wrapper that notes the directory
// of every render (its second argument; the extracted tree's name starts with the revision, and
// says `ahead` when it came from the work tree's repository).
let h: Harness;
let scratch: string;
let calls: string;

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'render-ahead-'));
  calls = join(scratch, 'renderer.calls');
  await writeFile(calls, '');
  const renderer = await resolveKustomizeRenderer('auto');
  expect(renderer.kind).toBe('flotilla-kustomize');
  const wrapper = join(scratch, 'flotilla-kustomize');
  // Runs inside the render sandbox (empty PATH): builtins and absolute paths only.
  await writeFile(wrapper, `#!/bin/sh\necho "$2" >> '${calls}'\nexec '${renderer.path}' "$@"\n`);
  await chmod(wrapper, 0o755);
  h = await createHarness();
  h.simulateAppliers();
  await h.start({ kustomize: wrapper });
});

afterAll(async () => {
  await h?.stop();
  await rm(scratch, { recursive: true, force: true });
});

const renders = async () => (await readFile(calls, 'utf8')).split('\n').filter(Boolean);

describe('render ahead of the push', () => {
  it("renders an image update's cluster once, from the commit before its push; the pushed head's plan takes it from the cache", async () => {
    for (const c of ['dev', 'test', 'uat', 'prod']) await h.events.wait(PlanCreated, (d) => d.cluster === c);
    await h.tag('1.4.7', digestOf('web-1.4.7'));
    const plan = await h.events.wait<PlanData>(
      PlanCreated,
      (d) => d.cluster === 'dev' && (d as PlanData).sequence === 2,
    );
    const revision = plan.data.revision;
    const ofCommit = (await renders()).filter((dir) => dir.includes(`/${revision.slice(0, 12)}-`));
    // One renderer run for the commit, of dev only, from the work tree's repository before the
    // push; the render of the pushed head (from the mirror) found dev in the cache.
    expect(ofCommit).toHaveLength(1);
    expect(ofCommit[0]).toMatch(new RegExp(`/${revision.slice(0, 12)}-ahead-[^/]+/clusters/dev$`));
    expect(plan.data.bundle.objects).toBeGreaterThan(0);
  });
});
