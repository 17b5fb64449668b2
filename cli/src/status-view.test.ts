import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  driftByCluster,
  renderPipelines,
  renderStatus,
  rolloutState,
  type StatusWire,
  statusRows,
  syncText,
} from './status-view.ts';

const status = JSON.parse(
  readFileSync(join(import.meta.dirname, 'fixtures/stages.json'), 'utf8'),
) as StatusWire;
const now = Date.parse('2026-11-26T10:05:00.000Z');

describe('status view', () => {
  it('one row per stage and cluster with revision, images, sync, health, drift and pending approvals', () => {
    const rows = statusRows(status, new Map([['prod-eu', 2]]));
    expect(rows).toEqual([
      {
        stage: 'dev',
        cluster: 'dev',
        revision: '3f1c2a9b8d7e',
        images: 'web:1.4.7@sha256:aaaaaaaaaaaa',
        sync: 'synced',
        health: 'healthy',
        drift: 'none',
        pending: '-',
      },
      {
        stage: 'prod',
        cluster: 'prod-eu',
        revision: '0a1b2c3d4e5f',
        images: 'web:1.4.6@sha256:bbbbbbbbbbbb',
        sync: 'failed (apply.forbidden)',
        health: 'unknown',
        drift: '2 drifted',
        pending: 'prod-0123456789abcdef awaiting approval',
      },
    ]);
  });

  it('renders an aligned table, the approvals to act on, problems, and unknown drift', () => {
    const text = renderStatus(status, undefined, now);
    const lines = text.split('\n');
    expect(lines[0]).toBe('pipeline shop at 3f1c2a9b8d7e');
    const header = lines[2] as string;
    const dev = lines[3] as string;
    expect(header).toMatch(/^STAGE\s+CLUSTER\s+REVISION\s+IMAGES\s+SYNC\s+HEALTH\s+DRIFT\s+PENDING$/);
    expect(dev.indexOf('synced')).toBe(header.indexOf('SYNC'));
    expect(text).toContain(
      '  prod-0123456789abcdef  uat → prod  web:1.4.7@sha256:aaaaaaaaaaaa  (5m ago; flotilla approve prod-0123456789abcdef)',
    );
    expect(text).toContain('  prod-eu: apply.forbidden deployments.apps is forbidden');
    expect(text).toContain('drift unknown: the audit API could not be reached');
  });

  it('sync compares the applied bundle with the desired one', () => {
    const c = structuredClone(status.stages[0]?.clusters[0]) as NonNullable<
      StatusWire['stages'][0]['clusters'][0]
    >;
    expect(syncText(c)).toBe('synced');
    if (c.applied) c.applied.bundleDigest = 'sha256:other';
    expect(syncText(c)).toBe('out-of-sync');
    c.applied = null;
    expect(syncText(c)).toBe('pending');
  });

  it('a rollout is done when every cluster applied and is healthy on its latest plan', () => {
    expect(rolloutState(status.stages[0] as never)).toMatchObject({
      done: true,
      summary: '1/1 clusters applied and healthy',
    });
    expect(rolloutState(status.stages[1] as never)).toMatchObject({
      done: false,
      failed: 'prod-eu: failed (apply.forbidden)',
    });
  });

  it('drift: the newest record per object decides', () => {
    const d = (seq: number, event: string, cluster: string, object: string) => ({
      seq,
      event,
      data: { cluster, object },
    });
    const drift = driftByCluster([
      d(3, 'DriftCorrected', 'dev', 'apps/Deployment/shop/web'),
      d(1, 'DriftDetected', 'dev', 'apps/Deployment/shop/web'),
      d(2, 'DriftDetected', 'dev', 'v1/ConfigMap/shop/web'),
      d(4, 'DriftDetected', 'prod', 'v1/Service/shop/web'),
    ]);
    expect(Object.fromEntries(drift)).toEqual({ dev: 1, prod: 1 });
  });
});

describe('pipelines view', () => {
  it('lists each pipeline with owner, tenant, stages and file, and says how to see one', () => {
    const text = renderPipelines({
      revision: 'a'.repeat(40),
      pipelines: [
        {
          name: 'payments',
          file: 'pipelines/payments.yaml',
          owner: 'team-payments',
          tenant: { namespace: 'payments', serviceAccount: 'deployer' },
          stages: ['dev', 'prod'],
          clusters: ['dev', 'prod'],
        },
        { name: 'shop', file: 'pipelines/shop.yaml', stages: ['dev'], clusters: ['dev'] },
      ],
    });
    const lines = text.split('\n');
    expect(lines[0]).toBe(`2 pipelines at ${'a'.repeat(12)}`);
    expect(lines[2]).toMatch(/^PIPELINE\s+OWNER\s+TENANT\s+STAGES\s+CLUSTERS\s+FILE$/);
    expect(lines[3]).toMatch(
      /^payments\s+team-payments\s+payments\/deployer\s+dev → prod\s+dev, prod\s+pipelines\/payments.yaml$/,
    );
    expect(lines[4]).toMatch(/^shop\s+-\s+-\s+dev\s+dev\s+pipelines\/shop.yaml$/);
    expect(text).toContain('flotilla status <pipeline>');
  });
});
