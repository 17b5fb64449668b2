import { TypeCompiler } from '@sinclair/typebox/compiler';
import { describe, expect, it } from 'vitest';
import { allAuditRoutes } from './audit.ts';
import { allConsoleAuthRoutes, allConsoleRoutes } from './console.ts';
import { openApiDocument } from './openapi.ts';
import { allPlannerRoutes, plannerRoutes } from './planner.ts';
import { allGitWatcherRoutes, allRegistryWatcherRoutes } from './watchers.ts';

type Operation = { parameters?: Array<{ name: string; in: string }>; responses?: Record<string, unknown> };
type Doc = { paths: Record<string, Record<string, Operation>> };

describe('the OpenAPI document', () => {
  const doc = openApiDocument() as Doc;

  it('has one operation per route, pipeline routes both with and without /pipelines/{pipeline}', () => {
    const ops = Object.values(doc.paths).flatMap((p) => Object.keys(p));
    expect(ops).toHaveLength(
      allPlannerRoutes().length +
        allAuditRoutes().length +
        allGitWatcherRoutes().length +
        allRegistryWatcherRoutes().length +
        allConsoleAuthRoutes().length +
        allConsoleRoutes().length,
    );
    expect(doc.paths['/console/api/promotions/{id}/approve']?.post).toBeDefined();
    expect(doc.paths['/registry-watcher/hooks/dockerhub/{token}']?.post).toBeDefined();
    expect(doc.paths['/registry-watcher/hooks/quay/{token}']?.post).toBeDefined();
    expect(doc.paths['/registry-watcher/hooks/ghcr']?.post?.responses?.['200']).toBeDefined();
    expect(doc.paths['/registry-watcher/hooks/artifactory']?.post).toBeDefined();
    expect(doc.paths['/api/v1/stages/{stage}/lock']?.post).toBeDefined();
    expect(doc.paths['/api/v1/pipelines/{pipeline}/stages/{stage}/lock']?.post).toBeDefined();
    expect(doc.paths['/history']?.get).toBeDefined();
  });

  it('declares every path placeholder as a path parameter', () => {
    for (const [path, methods] of Object.entries(doc.paths)) {
      const placeholders = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
      for (const op of Object.values(methods)) {
        const declared = (op.parameters ?? []).filter((p) => p.in === 'path').map((p) => p.name);
        expect({ path, declared: declared.sort() }).toEqual({ path, declared: [...placeholders].sort() });
      }
    }
  });
});

describe('the Idempotency-Key header', () => {
  type Param = { name: string; in: string; required?: boolean; schema?: { maxLength?: number } };
  const headerOf = (path: string, method = 'post') =>
    ((openApiDocument() as Doc).paths[path]?.[method]?.parameters as Param[] | undefined)?.find(
      (p) => p.in === 'header',
    );

  it('is documented, optional, on every decision route of the planner and the console', () => {
    const decisions = [
      '/api/v1/promotions/{id}/approve',
      '/api/v1/promotions/{id}/reject',
      '/api/v1/changes/{id}/approve',
      '/api/v1/stages/{stage}/promote',
      '/api/v1/stages/{stage}/lock',
      '/api/v1/stages/{stage}/unlock',
      '/api/v1/stages/{stage}/rollback',
      '/api/v1/pipelines/{pipeline}/stages/{stage}/rollback',
      '/console/api/promotions/{id}/approve',
      '/console/api/promotions/{id}/reject',
    ];
    for (const path of decisions)
      expect({ path, header: headerOf(path) }).toMatchObject({
        path,
        header: { name: 'Idempotency-Key', in: 'header', required: false, schema: { maxLength: 200 } },
      });
    // Reads take none.
    expect(headerOf('/api/v1/stages', 'get')).toBeUndefined();
    expect(headerOf('/console/api/promotions/{id}', 'get')).toBeUndefined();
  });
});

describe('request schemas', () => {
  it('accept what the CLI sends and refuse what no handler could use', () => {
    const rollback = TypeCompiler.Compile(plannerRoutes.rollback[0].body);
    expect(rollback.Check({ toRevision: 'abc123', reason: 'bad deploy' })).toBe(true);
    expect(rollback.Check({})).toBe(true);
    expect(rollback.Check({ reason: 'x'.repeat(5000) })).toBe(false);
    expect(rollback.Check({ toRevision: 42 })).toBe(false);
  });
});
