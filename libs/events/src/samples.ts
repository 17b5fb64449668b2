// One valid payload per event type. Tests across the repo use these (round trips, audit
// coverage) so that adding an event to the catalog without a sample fails loudly.

import type * as C from './catalog/index.ts';
import type { DataOf } from './define-event.ts';

const sha = (c: string) => c.repeat(40);
const digest = (c: string) => `sha256:${c.repeat(64)}`;
const time = '2026-11-26T10:00:00.000Z';
const image = { name: 'web', repository: '127.0.0.1:5000/shop/web', tag: '1.4.7', digest: digest('a') };

export const samples: {
  [K in C.CatalogEvent as K['name']]: DataOf<K>;
} = {
  GitCommitDetected: {
    repo: 'shop-config',
    url: 'git://127.0.0.1/shop-config.git',
    branch: 'main',
    sha: sha('a'),
    parents: [sha('b')],
    author: { name: 'Alice', email: 'alice@example.com' },
    committer: { name: 'Alice', email: 'alice@example.com' },
    authoredAt: time,
    committedAt: time,
    message: 'Bump web',
    paths: ['clusters/dev/web.yaml'],
    signature: { status: 'good', signer: 'alice@example.com' },
    trigger: 'webhook',
  },
  GitHistoryRewritten: {
    repo: 'shop-config',
    branch: 'main',
    previousSha: sha('a'),
    newSha: sha('c'),
    action: 'halt',
  },
  GitCommitRejected: {
    repo: 'shop-config',
    branch: 'main',
    sha: sha('d'),
    code: 'git.unsigned-commit',
    message: 'commit is not signed',
    lastGoodSha: sha('a'),
  },
  GitSourceFailed: {
    repo: 'shop-config',
    url: 'git://127.0.0.1/shop-config.git',
    code: 'git.unreachable',
    message: 'connection refused',
    consecutiveFailures: 3,
  },
  GitPushRejected: {
    repo: 'shop-config',
    branch: 'main',
    code: 'git.push-rejected',
    message: 'git push failed: ! [remote rejected] HEAD -> main (pre-receive hook declined)',
    change: 'Flotilla-Event: 6f1c2d1e-0000-4000-8000-000000000001',
    attempts: 2,
  },
  ImageTagDetected: { image: '127.0.0.1:5000/shop/web', tag: '1.4.7', digest: digest('a'), trigger: 'poll' },
  ImageTagMoved: {
    image: '127.0.0.1:5000/shop/web',
    tag: 'latest',
    previousDigest: digest('a'),
    digest: digest('b'),
    trigger: 'webhook',
  },
  ImageScanFailed: {
    image: '127.0.0.1:5000/shop/web',
    code: 'oci.unauthorized',
    message: 'authentication required',
  },
  ImageUpdateCommitted: {
    stage: 'dev',
    policy: 'web',
    image: '127.0.0.1:5000/shop/web',
    tag: '1.4.7',
    digest: digest('a'),
    commit: sha('e'),
    files: ['clusters/dev/web.yaml'],
  },
  PlanCreated: {
    planId: 'dev-1',
    cluster: 'dev',
    stage: 'dev',
    repo: 'shop-config',
    revision: sha('a'),
    path: 'clusters/dev',
    sequence: 1,
    bundle: { digest: digest('c'), size: 1024, objects: 3, bucket: 'flotilla-bundles' },
    createdAt: time,
    signature: { alg: 'ed25519', keyId: 'planner-2026', value: 'c2ln' },
  },
  RenderFailed: {
    repo: 'shop-config',
    revision: sha('a'),
    cluster: 'dev',
    file: 'clusters/dev/web.yaml',
    line: 3,
    code: 'manifest.yaml-syntax',
    message: 'bad indentation',
  },
  ApplyStarted: {
    cluster: 'dev',
    planId: 'dev-1',
    revision: sha('a'),
    bundleDigest: digest('c'),
    objects: 3,
  },
  ApplySucceeded: {
    cluster: 'dev',
    planId: 'dev-1',
    revision: sha('a'),
    bundleDigest: digest('c'),
    counts: { total: 3, applied: 3, unchanged: 0, pruned: 0 },
    noop: false,
    startedAt: time,
    durationMs: 120,
  },
  ApplyFailed: {
    cluster: 'dev',
    planId: 'dev-1',
    code: 'apply.forbidden',
    message: 'dry-run refused 1 object',
    disposition: 'stall',
    nothingApplied: true,
    objects: [{ object: 'v1/ConfigMap kube-system/x', code: 'Forbidden', reason: 'cannot patch configmaps' }],
  },
  HealthChanged: {
    cluster: 'dev',
    revision: sha('a'),
    status: 'Current',
    previous: 'InProgress',
    objects: [],
  },
  DriftDetected: {
    cluster: 'dev',
    object: 'apps/Deployment shop/web',
    diffs: [
      {
        path: '.spec.template.spec.containers[name=web].image',
        expected: 'a',
        actual: 'b',
        manager: 'kubectl-edit',
      },
    ],
    policy: 'correct',
  },
  DriftCorrected: { cluster: 'dev', object: 'apps/Deployment shop/web', paths: ['.spec.replicas'] },
  PromotionProposed: {
    promotionId: 'p-1',
    fromStage: 'dev',
    toStage: 'test',
    revision: sha('a'),
    images: [image],
    rule: 'auto',
  },
  PromotionAwaitingApproval: {
    promotionId: 'p-1',
    fromStage: 'uat',
    toStage: 'prod',
    approvers: ['alice', 'group:release'],
    images: [image],
  },
  PromotionApproved: { promotionId: 'p-1', toStage: 'prod', approver: 'user:alice' },
  PromotionRejected: {
    promotionId: 'p-1',
    toStage: 'prod',
    by: 'user:mallory',
    reason: 'not an approver',
    kind: 'unauthorised',
  },
  PromotionCommitted: {
    promotionId: 'p-1',
    fromStage: 'uat',
    toStage: 'prod',
    commit: sha('f'),
    sourceRevision: sha('a'),
    images: [image],
    approvedBy: ['user:alice'],
  },
  RollbackCommitted: {
    stage: 'prod',
    commit: sha('1'),
    toRevision: sha('2'),
    by: 'user:alice',
    reason: 'errors up',
  },
  StageLockChanged: { stage: 'prod', locked: true, by: 'user:alice' },
  OperationRefused: {
    stage: 'prod',
    operation: 'rollback',
    by: 'user:bob',
    code: 'role-missing',
    reason: 'user:bob has no operate role for shop/prod',
  },
  WebhookRejected: {
    receiver: 'github',
    reason: 'bad-signature',
    path: '/hooks/github',
    message: 'signature mismatch',
  },
  DeadLettered: {
    consumer: 'planner',
    subject: 'flotilla.v1.plan.created.dev',
    streamSequence: 7,
    deliveries: 5,
    code: 'handler.failed',
    reason: 'boom',
    payload: '{}',
  },
  AuditGapDetected: {
    stream: 'FLOTILLA_EVENTS',
    fromSeq: 12,
    toSeq: 40,
    count: 29,
    reason: 'discarded',
    consumer: 'audit-writer',
    message: 'stream sequences 12..40 were discarded by the stream before the audit writer recorded them',
  },
};

export function sampleSource(def: { producers: readonly string[] }): string {
  return `flotilla://${def.producers[0]}/test`;
}
