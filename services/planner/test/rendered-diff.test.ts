import {
  ChangeAwaitingApproval,
  PlanCreated,
  PromotionAwaitingApproval,
  PromotionCommitted,
} from '@flotilla/events';
import { GitWorkdir } from '@flotilla/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PlannerHandle } from '../src/service.ts';
import { createHarness, digestOf, fixtureFiles, type Harness, TOKENS, WEB } from './harness.ts';
import './status-matcher.ts';

// The rendered diff a reviewer approves (GET /promotions/:id/diff, GET /changes/:id/diff): real
// NATS, real git, real `kubectl kustomize`. Field by field, with secret values as hashes only.

type D = Record<string, unknown>;
type Field = {
  path: string;
  before?: unknown;
  after?: unknown;
  sensitive?: true;
  beforeHash?: string;
  afterHash?: string;
};
type Answer = {
  kind: string;
  stage: string;
  clusters: Array<{
    cluster: string;
    basis: string;
    fromRevision: string | null;
    toRevision: string;
    diff?: { changed: number; objects: Array<{ object: string; change: string; fields?: Field[] }> };
    error?: unknown;
  }>;
};

const b64 = (s: string) => Buffer.from(s).toString('base64');
const SECRET_OLD = 'pw-old-5f1e9a';
const SECRET_NEW = 'pw-new-7c2d4b';
const ENV_OLD = 'env-old-91ab';
const ENV_NEW = 'env-new-28cd';

const secret = (password: string) => `apiVersion: v1
kind: Secret
metadata: { name: db, namespace: shop }
type: Opaque
data:
  password: ${b64(password)}
`;

let h: Harness;
let planner: PlannerHandle;
let work: GitWorkdir;

beforeAll(async () => {
  const files = await fixtureFiles();
  files['clusters/prod/db-secret.yaml'] = secret(SECRET_OLD);
  files['clusters/prod/kustomization.yaml'] = (files['clusters/prod/kustomization.yaml'] as string).replace(
    '  - ../../apps/web\n',
    '  - ../../apps/web\n  - db-secret.yaml\n',
  );
  files['clusters/prod/web-image.yaml'] =
    `${files['clusters/prod/web-image.yaml']}          env:\n            - { name: DB_PASSWORD, value: ${ENV_OLD} }\n`;
  h = await createHarness({ files });
  h.simulateAppliers();
  planner = await h.start();
  work = await GitWorkdir.clone(h.git.fileUrl(h.repoName));
});
afterAll(async () => {
  await work?.remove();
  await h?.stop();
});

const field = (a: Answer, object: string, path: string) =>
  a.clusters[0]?.diff?.objects.find((o) => o.object === object)?.fields?.find((f) => f.path === path);
const LONG = 240_000;
const IMAGE = '.spec.template.spec.containers[name=web].image';

describe('planner: rendered diffs of promotions and held changes', () => {
  it('a promotion awaiting approval shows its image change field by field, before and after its commit', async () => {
    await h.events.wait<D>(PlanCreated, (d) => d.cluster === 'prod', LONG);
    const digest = digestOf('web-1.4.7');
    await h.tag('1.4.7', digest);
    // dev → test → uat with soaks, on a loaded machine: generous.
    const awaiting = await h.events.wait<D>(PromotionAwaitingApproval, (d) => d.toStage === 'prod', LONG);
    const id = awaiting.data.promotionId as string;
    const path = `/api/v1/promotions/${id}/diff`;

    // dave may only read: that is enough to see what he would be asked about.
    const res = await h.api(planner, 'GET', path, TOKENS.dave);
    expect(res).toHaveStatus(200);
    const preview = res.body as unknown as Answer;
    expect(preview).toMatchObject({ kind: 'promotion', stage: 'prod' });
    expect(preview.clusters).toHaveLength(1);
    expect(preview.clusters[0]).toMatchObject({ cluster: 'prod', basis: 'preview' });
    expect(preview.clusters[0]?.diff?.changed).toBe(1);
    expect(field(preview, 'apps/Deployment shop/web', IMAGE)).toEqual({
      path: IMAGE,
      before: expect.stringMatching(/^localhost:5000\/shop\/web:1\.4\.0@sha256:3f1c/),
      after: `${WEB}:1.4.7@${digest}`,
    });
    // The env var that reads like a credential did not change and is not listed at all.
    expect(JSON.stringify(preview)).not.toContain(ENV_OLD);

    expect(await h.api(planner, 'GET', path, TOKENS.eve)).toHaveStatus(403);
    expect(await h.api(planner, 'GET', path)).toHaveStatus(401);
    expect(await h.api(planner, 'GET', '/api/v1/promotions/no-such/diff', TOKENS.dave)).toHaveStatus(404);

    expect(await h.api(planner, 'POST', `/api/v1/promotions/${id}/approve`, TOKENS.carol)).toHaveStatus(200);
    const committed = await h.events.wait<D>(PromotionCommitted, (d) => d.promotionId === id, LONG);
    const after = (await h.api(planner, 'GET', path, TOKENS.dave)).body as unknown as Answer;
    expect(after.clusters[0]).toMatchObject({ basis: 'commit', toRevision: committed.data.commit });
    expect(field(after, 'apps/Deployment shop/web', IMAGE)).toMatchObject({
      after: `${WEB}:1.4.7@${digest}`,
    });
    // Rendered and planned: the next test's held change is not re-rendered under a new id.
    await h.events.wait<D>(
      PlanCreated,
      (d) => d.cluster === 'prod' && d.revision === committed.data.commit,
      LONG,
    );
    await h.drained(LONG);
  }, 600_000);

  it("a held change's diff hashes Secret data and credential env vars; their values never leave", async () => {
    await work.pull();
    await work.writeFile('clusters/prod/db-secret.yaml', secret(SECRET_NEW));
    await work.writeFile(
      'clusters/prod/web-image.yaml',
      (await h.fileAtHead('clusters/prod/web-image.yaml')).replace(ENV_OLD, ENV_NEW),
    );
    const sha = await work.commit('prod: rotate the db password by hand', {
      author: { name: 'Alice', email: 'alice@example.com' },
    });
    await work.push();
    await h.commitDetected(sha, ['clusters/prod/db-secret.yaml', 'clusters/prod/web-image.yaml']);
    const held = await h.events.wait<D>(ChangeAwaitingApproval, (d) => d.revision === sha, LONG);
    const path = `/api/v1/changes/${held.data.changeId}/diff`;
    expect(await h.api(planner, 'GET', path, TOKENS.eve)).toHaveStatus(403);

    const res = await h.api(planner, 'GET', path, TOKENS.dave);
    expect(res).toHaveStatus(200);
    const diff = res.body as unknown as Answer;
    expect(diff).toMatchObject({ kind: 'change', stage: 'prod' });
    expect(diff.clusters[0]).toMatchObject({ cluster: 'prod', basis: 'commit', toRevision: sha });
    const password = field(diff, 'Secret shop/db', '.data.password');
    expect(password).toMatchObject({ sensitive: true });
    expect(password?.beforeHash).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
    expect(password?.afterHash).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
    expect(password?.afterHash).not.toBe(password?.beforeHash);
    const env = field(
      diff,
      'apps/Deployment shop/web',
      '.spec.template.spec.containers[name=web].env[name=DB_PASSWORD].value',
    );
    expect(env).toMatchObject({ sensitive: true });
    expect(env).not.toHaveProperty('after');
    const text = JSON.stringify(res.body);
    for (const v of [SECRET_OLD, SECRET_NEW, b64(SECRET_OLD), b64(SECRET_NEW), ENV_OLD, ENV_NEW])
      expect(text).not.toContain(v);
  }, 300_000);
});
