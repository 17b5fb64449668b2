import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ImageUpdateCommitted,
  PlanCreated,
  PromotionAwaitingApproval,
  PromotionCommitted,
  PromotionRejected,
  RenderFailed,
} from '@flotilla/events';
import { execGit } from '@flotilla/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PlannerHandle } from '../src/service.ts';
import { createHarness, digestOf, type Harness, TOKENS } from './harness.ts';
import './status-matcher.ts';

// Two teams, two pipelines, the same two clusters: shop/web promotes to prod by itself,
// payments/api waits for its own approver (bob). Plain YAML paths keep kubectl out of it.
const SHOP = 'localhost:5000/shop/web';
const PAY = 'localhost:5000/payments/api';
const OLD = `sha256:${'0'.repeat(64)}`;

const deployment = (ns: string, name: string, image: string, policy: string) =>
  `apiVersion: apps/v1
kind: Deployment
metadata: { name: ${name}, namespace: ${ns} }
spec:
  template:
    spec:
      containers:
        - name: ${name}
          image: ${image}:1.0.0@${OLD} # {"$imagepolicy": "${policy}"}
`;

const pipeline = (name: string, team: string, image: string, prod: string) => `apiVersion: flotilla.io/v1
kind: Pipeline
metadata:
  name: ${name}
spec:
  owner: ${team}
  tenant: { namespace: ${name}, serviceAccount: ${name}-deployer }
  stages:
    - name: dev
      clusters: [{ name: dev, path: ${name}/dev }]
    - name: prod
      clusters: [{ name: prod, path: ${name}/prod }]
      promotion: ${prod}
  images:
    - name: app
      repository: ${image}
      policy: { semver: { range: ">=1.0.0" } }
`;

const FILES: Record<string, string> = {
  'pipelines/shop.yaml': pipeline('shop', 'team-shop', SHOP, '{ rule: auto, soak: 1s }'),
  'pipelines/payments.yaml': pipeline(
    'payments',
    'team-payments',
    PAY,
    '{ rule: manual, approvers: [bob], bootstrap: allow }',
  ),
  'shop/dev/web.yaml': deployment('shop', 'web', SHOP, 'app'),
  'shop/prod/web.yaml': deployment('shop', 'web', SHOP, 'app'),
  'payments/dev/api.yaml': deployment('payments', 'api', PAY, 'app'),
  'payments/prod/api.yaml': deployment('payments', 'api', PAY, 'app'),
};

type D = Record<string, unknown>;
let h: Harness;
let planner: PlannerHandle;

beforeAll(async () => {
  h = await createHarness({ files: FILES });
  h.simulateAppliers();
  planner = await h.start();
});
afterAll(async () => {
  await h?.stop();
});

describe('pipelines: many per repo, sharing clusters, each on its own', () => {
  it('plans per (pipeline, cluster), each with its own sequence, id and pipeline field', async () => {
    for (const p of ['shop', 'payments'])
      for (const c of ['dev', 'prod'])
        await h.events.wait(PlanCreated, (d: D) => d.pipeline === p && d.cluster === c);
    const plans = h.events.of(PlanCreated).map((e) => e.data as D);
    expect(plans).toHaveLength(4);
    for (const p of plans) {
      expect(p.sequence).toBe(1);
      expect(String(p.planId).startsWith(`${p.pipeline}.${p.cluster}-1-`)).toBe(true);
      expect(p.path).toBe(`${p.pipeline}/${p.cluster}`);
    }
    const list = await h.api(planner, 'GET', '/api/v1/pipelines', TOKENS.bob);
    expect(list).toHaveStatus(200);
    expect(list.body.pipelines).toEqual([
      {
        name: 'payments',
        file: 'pipelines/payments.yaml',
        owner: 'team-payments',
        tenant: { namespace: 'payments', serviceAccount: 'payments-deployer' },
        stages: ['dev', 'prod'],
        clusters: ['dev', 'prod'],
      },
      expect.objectContaining({ name: 'shop', owner: 'team-shop' }),
    ]);
    // Without a root flotilla.yaml the unnamed routes cannot guess which pipeline is meant.
    const unnamed = await h.api(planner, 'GET', '/api/v1/stages', TOKENS.bob);
    expect(unnamed).toMatchObject({ status: 400, body: { error: 'pipeline-required' } });
    const missing = await h.api(planner, 'GET', '/api/v1/pipelines/nope/stages', TOKENS.bob);
    expect(missing).toMatchObject({ status: 404, body: { error: 'not-found' } });
  });

  it('a new shop image reaches shop prod by itself; payments files and plans do not move', async () => {
    const digest = digestOf('shop-1.1.0');
    await h.tag('1.1.0', digest, SHOP);
    const update = await h.events.wait<D>(ImageUpdateCommitted, (d) => d.pipeline === 'shop');
    expect(update.data).toMatchObject({ stage: 'dev', tag: '1.1.0' });
    const committed = await h.events.wait<D>(PromotionCommitted, (d) => d.pipeline === 'shop');
    expect(String(committed.data.promotionId).startsWith('shop.prod-')).toBe(true);
    await h.events.wait(
      PlanCreated,
      (d: D) => d.pipeline === 'shop' && d.cluster === 'prod' && d.sequence === 2,
    );
    expect(await h.fileAtHead('shop/prod/web.yaml')).toContain(`${SHOP}:1.1.0@${digest}`);
    for (const f of ['payments/dev/api.yaml', 'payments/prod/api.yaml'])
      expect(await h.fileAtHead(f)).toBe(FILES[f]?.trim());
    expect(h.events.of(PlanCreated).filter((e) => (e.data as D).pipeline === 'payments')).toHaveLength(2);
    const trailer = await h.gitRepo(
      'log',
      '-1',
      '--format=%(trailers:key=Flotilla-Pipeline,valueonly)',
      'main',
    );
    expect(trailer.trim()).toBe('shop');
  });

  it('payments waits for its own approver; shop is not held, and an outsider is refused', async () => {
    await h.tag('2.0.0', digestOf('payments-2.0.0'), PAY);
    const awaiting = await h.events.wait<D>(PromotionAwaitingApproval, (d) => d.pipeline === 'payments');
    expect(awaiting.data).toMatchObject({ toStage: 'prod', approvers: ['bob'] });
    const id = awaiting.data.promotionId as string;
    const status = await h.api(planner, 'GET', '/api/v1/pipelines/payments/stages', TOKENS.bob);
    const prod = (status.body.stages as D[])[1] as { promotions: D[] };
    expect(prod.promotions.map((p) => p.id)).toEqual([id]);
    // carol approves for shop's release managers elsewhere, not for payments.
    const denied = await h.api(planner, 'POST', `/api/v1/promotions/${id}/approve`, TOKENS.carol);
    expect(denied).toMatchObject({ status: 403, body: { error: 'not-approver' } });
    await h.events.wait(PromotionRejected, (d: D) => d.pipeline === 'payments' && d.kind === 'unauthorised');
    const shopStatus = await h.api(planner, 'GET', '/api/v1/pipelines/shop/stages', TOKENS.bob);
    expect((shopStatus.body.stages as Array<{ promotions: D[] }>)[1]?.promotions).toEqual([]);
    const approved = await h.api(
      planner,
      'POST',
      `/api/v1/pipelines/payments/promotions/${id}/approve`,
      TOKENS.bob,
    );
    expect(approved).toHaveStatus(200);
    await h.events.wait(PromotionCommitted, (d: D) => d.pipeline === 'payments');
    expect(await h.fileAtHead('payments/prod/api.yaml')).toContain(
      `${PAY}:2.0.0@${digestOf('payments-2.0.0')}`,
    );
  });

  it("a pipeline claiming another one's path is refused with file and line; the rest plans on", async () => {
    const work = await mkdtemp(join(tmpdir(), 'pipelines-clone-'));
    await execGit(['clone', '-q', h.git.path(h.repoName), work]);
    const copy =
      FILES['pipelines/shop.yaml']
        ?.replace('name: shop', 'name: copy')
        .replace('shop/dev', 'payments/dev')
        .replace('shop/prod', 'copy/prod') ?? '';
    const git = (...a: string[]) => execGit(['-C', work, ...a]);
    await writeFile(`${work}/pipelines/copy.yaml`, copy);
    await writeFile(
      `${work}/shop/dev/extra.yaml`,
      'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: extra, namespace: shop }\n',
    );
    await git('add', '-A');
    await git('-c', 'user.name=T', '-c', 'user.email=t@t', 'commit', '-qm', 'copy claims payments/dev');
    await git('push', '-q', 'origin', 'HEAD:main');
    const sha = (await git('rev-parse', 'HEAD')).trim();
    await h.commitDetected(sha);
    const failed = await h.events.wait<D>(
      RenderFailed,
      (d) => d.revision === sha && d.file === 'pipelines/copy.yaml',
    );
    expect(failed.data).toMatchObject({ pipeline: 'copy', code: 'pipeline.path-conflict', line: 10 });
    const other = await h.events.wait<D>(
      RenderFailed,
      (d) => d.revision === sha && d.file === 'pipelines/payments.yaml',
    );
    expect(other.data).toMatchObject({ code: 'pipeline.path-conflict', line: 10 });
    // shop is not involved: its new object is planned at this revision.
    await h.events.wait(
      PlanCreated,
      (d: D) => d.pipeline === 'shop' && d.cluster === 'dev' && d.revision === sha,
    );
    expect(h.events.of(PlanCreated).some((e) => (e.data as D).pipeline === 'copy')).toBe(false);

    // A symlinked pipeline file is never followed out of the repo; an oversized one is not read.
    await rm(`${work}/pipelines/copy.yaml`);
    await symlink('/etc/hostname', `${work}/pipelines/link.yaml`);
    await writeFile(`${work}/pipelines/huge.yaml`, `# ${'x'.repeat(300 * 1024)}\n`);
    await git('add', '-A');
    await git('-c', 'user.name=T', '-c', 'user.email=t@t', 'commit', '-qm', 'link and huge');
    await git('push', '-q', 'origin', 'HEAD:main');
    const sha2 = (await git('rev-parse', 'HEAD')).trim();
    await h.commitDetected(sha2);
    const link = await h.events.wait<D>(
      RenderFailed,
      (d) => d.revision === sha2 && d.file === 'pipelines/link.yaml',
    );
    expect(link.data).toMatchObject({ code: 'pipeline.not-a-file', line: 1 });
    const huge = await h.events.wait<D>(
      RenderFailed,
      (d) => d.revision === sha2 && d.file === 'pipelines/huge.yaml',
    );
    expect(huge.data).toMatchObject({ code: 'pipeline.pipeline-limit' });
    // Neither bad file takes a valid pipeline out of force.
    const list = await h.api(planner, 'GET', '/api/v1/pipelines', TOKENS.bob);
    expect((list.body.pipelines as D[]).map((p) => p.name)).toEqual(['payments', 'shop']);
    await rm(work, { recursive: true, force: true });
  });

  it('a commit renders only the pipeline whose files it touched; reported again after a later one, nothing', async () => {
    const work = await mkdtemp(join(tmpdir(), 'pipelines-clone-'));
    await execGit(['clone', '-q', h.git.path(h.repoName), work]);
    const git = (...a: string[]) => execGit(['-C', work, ...a]);
    const commit = async (team: string) => {
      await writeFile(
        `${work}/${team}/dev/touched.yaml`,
        `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: touched, namespace: ${team} }\n`,
      );
      await git('add', '-A');
      await git('-c', 'user.name=T', '-c', 'user.email=t@t', 'commit', '-qm', `${team}: touched`);
      await git('push', '-q', 'origin', 'HEAD:main');
      const sha = (await git('rev-parse', 'HEAD')).trim();
      await h.commitDetected(sha);
      await h.events.wait(
        PlanCreated,
        (d: D) => d.pipeline === team && d.cluster === 'dev' && d.revision === sha,
      );
      await h.drained();
      return sha;
    };
    await h.drained();
    // Each a child of the revision rendered last: what changed comes from the kept trees.
    const first = await commit('payments');
    expect(planner.planner.lastRender).toMatchObject({ revision: first, pipelines: 1, plans: 1 });
    const second = await commit('shop');
    expect(planner.planner.lastRender).toMatchObject({ revision: second, pipelines: 1, plans: 1 });
    // Delivered again (at least once) after the later one: older than what was rendered.
    const plans = h.events.of(PlanCreated).length;
    await h.commitDetected(first);
    await h.drained();
    expect(h.events.of(PlanCreated).length).toBe(plans);
    expect(planner.planner.lastRender?.revision).toBe(second);
    await rm(work, { recursive: true, force: true });
  });
});
