import Fastify from 'fastify';
import { afterAll, describe, expect, it } from 'vitest';
import { type AuditRecord, auditRoutes, type History, type Verify } from './audit.ts';
import {
  type ClusterPage,
  consoleAuthRoutes,
  consoleRoutes,
  type LeadTimes,
  type Overview,
  type PromotionPage,
  type SessionAnswer,
  type SignedIn,
  type StageView,
} from './console.ts';
import type { RouteDefinition } from './define-route.ts';
import { routeSchema } from './define-route.ts';
import {
  type PipelineList,
  type PipelineStatus,
  type PromotionStatus,
  plannerRoutes,
  type RenderedDiffAnswer,
  type Whoami,
} from './planner.ts';
import {
  type GitWebhookAccepted,
  type GitWebhookIgnored,
  gitWatcherRoutes,
  type ImageWebhookAccepted,
  registryWatcherRoutes,
} from './watchers.ts';

// Fastify serializes every answer by its route's response schema and leaves out what the schema
// does not name. These samples fill every field the services send, so a schema that falls behind
// its service (a field added to the planner's status but not here) fails here, not in a client.

const sha = (c: string) => `sha256:${c.repeat(64)}`;
const rev = 'a'.repeat(40);
const image = { name: 'web', repository: 'registry.example/shop/web', tag: '1.2.3', digest: sha('1') };
const person = { name: 'Alice', email: 'alice@example.com' };

const promotion: PromotionStatus = {
  id: 'prod-0123456789abcdef',
  fromStage: 'uat',
  toStage: 'prod',
  revision: rev,
  images: [image],
  rule: 'manual',
  status: 'rejected',
  actor: 'service:planner',
  approvedBy: ['user:bob'],
  refusals: [{ by: 'user:eve', at: '2026-01-01T00:00:00.000Z', reason: 'role-missing' }],
  rejectedBy: 'user:carol',
  reason: 'not today',
  commit: 'b'.repeat(40),
  correlationId: 'c-1',
  requests: ['req-1'],
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:01:00.000Z',
};

const status: PipelineStatus = {
  pipeline: 'shop',
  file: 'pipelines/shop.yaml',
  owner: 'team-shop',
  tenant: { namespace: 'shop', serviceAccount: 'flotilla-shop' },
  revision: rev,
  stages: [
    {
      name: 'prod',
      rule: 'manual',
      soak: '10m',
      approvers: { groups: ['sre'], count: 2 },
      locked: { by: 'user:bob', reason: 'freeze', at: '2026-01-01T00:00:00.000Z', cause: 'manual' },
      revision: rev,
      images: [image, { repository: 'registry.example/shop/db', digest: sha('2') }],
      lastHealthy: {
        revision: rev,
        at: '2026-01-01T00:00:00.000Z',
        content: { eu: sha('3') },
        images: [image],
      },
      clusters: [
        {
          name: 'eu',
          path: 'clusters/eu',
          desired: {
            planId: 'plan-1',
            revision: rev,
            bundleDigest: sha('4'),
            sequence: 7,
            contentDigest: sha('5'),
            objects: 12,
            createdAt: '2026-01-01T00:00:00.000Z',
          },
          renderedRevision: rev,
          applied: {
            revision: rev,
            bundleDigest: sha('4'),
            planId: 'plan-1',
            at: '2026-01-01T00:00:01.000Z',
          },
          health: {
            status: 'healthy',
            revision: rev,
            bundleDigest: sha('4'),
            since: '2026-01-01T00:00:02.000Z',
            healthySince: '2026-01-01T00:00:02.000Z',
          },
          lastError: { code: 'apply-failed', message: 'm', at: '2026-01-01T00:00:00.000Z', revision: rev },
          lastRenderError: { file: 'k.yaml', line: 3, code: 'yaml', message: 'bad', revision: rev },
          held: {
            changeId: 'chg-1',
            revision: rev,
            fromRevision: 'c'.repeat(40),
            contentDigest: sha('6'),
            bundleDigest: sha('7'),
            bundleSize: 2048,
            objects: 3,
            commits: [{ commit: rev, author: person, committer: person }],
            heldAt: '2026-01-01T00:00:00.000Z',
          },
        },
        {
          name: 'us',
          path: 'clusters/us',
          desired: null,
          renderedRevision: null,
          applied: null,
          health: null,
          lastError: null,
          lastRenderError: null,
          held: null,
        },
      ],
      promotions: [promotion],
    },
  ],
};

const diff: RenderedDiffAnswer = {
  kind: 'change',
  id: 'chg-1',
  pipeline: 'shop',
  stage: 'prod',
  clusters: [
    {
      cluster: 'eu',
      fromRevision: null,
      toRevision: rev,
      basis: 'preview',
      diff: {
        added: 1,
        removed: 0,
        changed: 1,
        unchanged: 4,
        objects: [
          {
            object: 'apps/Deployment shop/web',
            kind: 'Deployment',
            change: 'changed',
            fields: [
              { path: '.spec.replicas', before: 1, after: { n: [2] }, truncated: true },
              {
                path: '.spec.template.spec.containers[name=web].env[name=DB]',
                sensitive: true,
                afterHash: 'h2',
              },
              { path: '.data.password', sensitive: true, beforeHash: 'h1' },
            ],
            moreFields: 2,
          },
          { object: 'Secret shop/db', kind: 'Secret', change: 'added' },
        ],
        moreObjects: 0,
      },
    },
    {
      cluster: 'us',
      fromRevision: rev,
      toRevision: rev,
      basis: 'commit',
      error: { code: 'render', message: 'm' },
    },
  ],
};

const record: AuditRecord = {
  seq: 1,
  id: 'e-1',
  type: 'io.flotilla.plan.created.v1',
  event: 'PlanCreated',
  time: '2026-01-01T00:00:00.000Z',
  recordedAt: '2026-01-01T00:00:01.000Z',
  source: 'flotilla/planner',
  actor: 'service:planner',
  subject: 'shop/prod',
  correlationid: 'c-1',
  causationid: 'e-0',
  streamSeq: 9,
  prevHash: sha('0'),
  hash: sha('8'),
  cluster: 'eu',
  stage: 'prod',
  fromStage: 'uat',
  repo: 'config',
  revision: rev,
  commit: rev,
  planId: 'plan-1',
  promotionId: 'prod-1',
  digest: sha('4'),
  images: ['registry.example/shop/web@sha256:…'],
  apps: ['web'],
  author: 'Alice <alice@example.com>',
  approvers: ['user:bob'],
  by: 'user:bob',
  result: 'ok',
  code: 'c',
  reason: 'r',
  data: { anything: [1, { deep: null }] },
};

const at = '2026-01-01T00:00:00.000Z';
const imageView = { name: 'web', repository: 'registry.example/shop/web', tag: null, digest: sha('1') };

/** A stage of the overview with every field set (and the nullable ones set, not null). */
const stageView: StageView = {
  name: 'prod',
  rule: 'manual',
  soak: '10m',
  approvers: ['group:sre'],
  locked: { by: 'user:bob', reason: 'freeze', at, cause: 'manual' },
  revision: rev,
  images: [imageView, { ...imageView, tag: '1.2.3' }],
  clusters: [
    {
      name: 'eu',
      path: 'clusters/eu',
      revision: rev,
      planId: 'plan-1',
      sequence: 7,
      bundleDigest: sha('4'),
      sync: 'failed (apply-failed)',
      health: 'healthy',
      healthStale: true,
      drift: 2,
      appliedAt: at,
      lastError: { code: 'apply-failed', message: 'm', at },
      renderError: { file: 'k.yaml', line: 3, code: 'yaml', message: 'bad' },
    },
  ],
  promotions: [
    {
      id: 'prod-1',
      fromStage: 'uat',
      toStage: 'prod',
      status: 'awaiting',
      rule: 'manual',
      actor: 'service:planner',
      images: [imageView],
      approvedBy: ['user:bob'],
      createdAt: at,
      youMayApprove: true,
    },
  ],
  rollout: { done: false, failed: 'eu: failed (apply-failed)', summary: 'eu failed' },
  soakUntil: at,
};

const overview: Overview = {
  identity: { name: 'alice', groups: ['sre'] },
  pipelines: [{ name: 'shop', revision: rev, stages: [stageView] }],
  audit: 'ok',
  live: true,
  at,
};

const clusterPage: ClusterPage = {
  stage: 'prod',
  cluster: 'eu',
  plan: {
    planId: 'plan-1',
    revision: rev,
    bundleDigest: sha('4'),
    sequence: 7,
    keyId: 'k1',
    objects: 12,
    at,
  },
  apply: {
    result: 'failed',
    planId: 'plan-1',
    at,
    counts: { total: 12, applied: 10, unchanged: 1, pruned: 1 },
    durationMs: 1234.5,
    code: 'apply-failed',
    message: 'm',
    problems: [{ object: 'apps/Deployment shop/web', code: 'forbidden', reason: 'r' }],
  },
  health: {
    status: 'degraded',
    at,
    revision: rev,
    objects: [{ object: 'apps/Deployment shop/web', status: 'InProgress', message: '0/1 ready' }],
  },
  drift: [
    {
      object: 'ConfigMap shop/settings',
      at,
      policy: 'report',
      diffs: [
        { path: '.data.mode', expected: 'a', actual: { nested: [1] }, manager: 'kubectl-edit' },
        {
          path: '.data.password',
          sensitive: true,
          expectedHash: 'hmac-sha256:1',
          actualHash: 'hmac-sha256:2',
        },
      ],
    },
  ],
  held: [
    {
      changeId: 'chg-1',
      stage: 'prod',
      revision: rev,
      fromRevision: 'c'.repeat(40),
      bundleDigest: sha('7'),
      at,
      objects: [{ object: 'v1/ConfigMap shop/settings', change: 'changed' }],
      authors: ['alice@example.com'],
      approvers: ['group:sre'],
      refusals: [{ by: 'user:alice', code: 'author', reason: 'the author may not approve', at }],
    },
  ],
  errors: [
    { event: 'RenderFailed', code: 'yaml', message: 'bad', at, file: 'k.yaml', line: 3 },
    { event: 'ApplyFailed', code: 'apply-failed', message: 'm', at },
  ],
};

const promotionPage: PromotionPage = {
  promotion,
  toStage: stageView,
  fromStage: { ...stageView, name: 'uat', locked: null, soak: null, soakUntil: null },
  current: [imageView],
  approvers: ['group:sre'],
  youMayApprove: false,
  commitUrl: 'https://git.example.com/org/config/commit/{sha}',
};

const leadTimes: LeadTimes = {
  stages: ['dev', 'prod'],
  releases: [
    {
      digest: sha('1'),
      image: 'registry.example/shop/web',
      tag: '1.2.3',
      pushedAt: at,
      stages: { dev: { at, leadMs: 1500 }, prod: { at, leadMs: 86_400_000 } },
    },
  ],
  markers: [{ kind: 'rollback', stage: 'prod', at, detail: 'rolled back to aaaaaaaaaaaa by user:bob' }],
};

const cases: Array<[string, RouteDefinition, number, unknown]> = [
  [
    'planner whoami',
    plannerRoutes.whoami,
    200,
    { name: 'a', groups: ['g'], roles: ['read:*'] } satisfies Whoami,
  ],
  [
    'planner pipelines',
    plannerRoutes.pipelines,
    200,
    {
      revision: rev,
      pipelines: [
        {
          name: 'shop',
          file: 'p.yaml',
          owner: 'o',
          tenant: { namespace: 'shop', serviceAccount: 'sa' },
          stages: ['dev'],
          clusters: ['eu'],
        },
        { name: 'root', file: 'flotilla.yaml', stages: [], clusters: [] },
      ],
    } satisfies PipelineList,
  ],
  ['planner stages', plannerRoutes.stages[1], 200, status],
  ['planner promotion', plannerRoutes.promotion, 200, { promotion }],
  ['planner rendered diff', plannerRoutes.changeDiff, 200, diff],
  ['planner operation', plannerRoutes.lock[0], 200, { stage: { stage: 'prod', locked: { by: 'x' } } }],
  ['planner refusal', plannerRoutes.lock[0], 409, { error: 'locked', message: 'prod is locked' }],
  ['planner history', plannerRoutes.history, 200, { events: [{ id: 'e', data: { a: 1 } }] }],
  [
    'audit history',
    auditRoutes.history,
    200,
    { count: 1, filter: { stage: 'prod' }, records: [record] } satisfies History,
  ],
  [
    'audit verify, broken',
    auditRoutes.verify,
    409,
    {
      ok: false,
      files: 2,
      records: 10,
      head: { seq: 4, hash: sha('9') },
      problem: { kind: 'gap', file: 'f', line: 5, seq: 6, expectedSeq: 5, message: 'm' },
    } satisfies Verify,
  ],
  ['audit where', auditRoutes.where, 200, { clusters: [{ cluster: 'eu', plan: { id: 'p' } }] }],
  [
    'git webhook, started',
    gitWatcherRoutes.github,
    202,
    {
      accepted: [
        { repo: 'config', handledBy: 'w-1' },
        { repo: 'other', handledBy: null },
      ],
    },
  ],
  [
    'git webhook, another ref',
    gitWatcherRoutes.gitlab,
    202,
    { accepted: [], ignored: 'ref', ref: 'refs/tags/v1' } satisfies GitWebhookAccepted,
  ],
  ['git webhook, ping', gitWatcherRoutes.gitea, 200, { ignored: 'ping' } satisfies GitWebhookIgnored],
  [
    'registry webhook',
    registryWatcherRoutes.harbor,
    202,
    { accepted: ['registry.example/shop/web'], ignored: 1 } satisfies ImageWebhookAccepted,
  ],
  [
    'console sign-in',
    consoleAuthRoutes.login,
    200,
    { identity: { name: 'alice', groups: ['sre'], provider: 'token' }, csrfToken: 't' } satisfies SignedIn,
  ],
  ['console no session', consoleAuthRoutes.session, 200, { identity: null } satisfies SessionAnswer],
  [
    'console timeline',
    consoleRoutes.timeline,
    200,
    {
      records: [
        {
          seq: 1,
          id: 'e-1',
          time: '2026-01-01T00:00:00.000Z',
          event: 'PlanCreated',
          actor: 'service:planner',
          cluster: 'eu',
          stage: null,
          commit: rev,
          promotionId: null,
          summary: 'plan 7 for eu',
          data: { cluster: 'eu', sequence: 7 },
          hash: sha('8'),
        },
      ],
      total: 1,
      verify: { ok: false, files: 1, records: 1, problem: { kind: 'gap' }, stale: true },
      commitUrl: null,
    },
  ],
  ['console rendered diff', consoleRoutes.changeDiff, 200, diff],
  ['console overview', consoleRoutes.pipelines, 200, overview],
  [
    'console overview, audit down',
    consoleRoutes.pipelines,
    200,
    {
      ...overview,
      audit: 'unavailable',
      pipelines: [
        {
          name: 'shop',
          revision: null,
          stages: [{ ...stageView, clusters: [{ ...stageView.clusters[0], drift: null }] }],
        },
      ],
    },
  ],
  ['console cluster', consoleRoutes.cluster, 200, clusterPage],
  [
    'console cluster, nothing yet',
    consoleRoutes.cluster,
    200,
    { stage: 'dev', cluster: 'eu', plan: null, apply: null, health: null, drift: [], held: [], errors: [] },
  ],
  ['console promotion', consoleRoutes.promotion, 200, promotionPage],
  [
    'console promotion, stages gone',
    consoleRoutes.promotion,
    200,
    { ...promotionPage, toStage: null, fromStage: null, current: [], commitUrl: null },
  ],
  ['console lead times', consoleRoutes.leadTimes, 200, leadTimes],
  ['console refusal', consoleRoutes.approve, 403, { error: 'csrf', message: 'missing x-csrf-token' }],
  [
    'console upstream down',
    consoleRoutes.pipelines,
    503,
    { error: 'console.planner-unavailable', message: 'm', upstream: 'planner' },
  ],
];

describe('every answer is sent whole through its route’s response schema', () => {
  const app = Fastify();
  for (const [i, [, route, code, body]] of cases.entries())
    app.route({
      method: route.method,
      url: `/${i}${route.url}`,
      schema: routeSchema(route),
      handler: async (_req, reply) => reply.code(code).send(body),
    });
  afterAll(() => app.close());

  it.each(cases.map((c, i) => [c[0], i, c] as const))('%s', async (_name, i, [, route, code, body]) => {
    const url = `/${i}${route.url.replace(/:([a-z]+)/g, 'x')}`;
    const res = await app.inject({
      method: route.method,
      url,
      ...(route.method === 'POST' ? { payload: {} } : {}),
    });
    expect(res.statusCode).toBe(code);
    expect(res.json()).toEqual(JSON.parse(JSON.stringify(body)));
  });

  it('a field the contract does not name is not sent', async () => {
    const leaky = Fastify();
    leaky.get('/whoami', { schema: routeSchema(plannerRoutes.whoami) }, async () => ({
      name: 'a',
      groups: [],
      roles: [],
      token: 'secret',
    }));
    const res = await leaky.inject({ method: 'GET', url: '/whoami' });
    await leaky.close();
    expect(res.json()).toEqual({ name: 'a', groups: [], roles: [] });
  });
});
