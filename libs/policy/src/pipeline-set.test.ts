import { describe, expect, it } from 'vitest';
import { isPipelineFile, MAX_PIPELINES, parsePipelineSet } from './pipeline-set.ts';

const pipeline = (name: string, paths: { dev: string; prod: string }, extra = '') => ({
  text: `apiVersion: flotilla.io/v1
kind: Pipeline
metadata:
  name: ${name}
spec:
  owner: team-${name}
  tenant: { namespace: ${name}, serviceAccount: ${name}-deployer }
  stages:
    - name: dev
      clusters: [{ name: dev, path: ${paths.dev} }]
    - name: prod
      clusters: [{ name: prod, path: ${paths.prod} }]
      promotion: { rule: manual, approvers: [alice] }
${extra}`,
});

const web = {
  file: 'pipelines/web.yaml',
  ...pipeline('web', { dev: 'shop/web/dev', prod: 'shop/web/prod' }),
};
const api = {
  file: 'pipelines/api.yaml',
  ...pipeline('api', { dev: 'payments/api/dev', prod: 'payments/api/prod' }),
};

describe('parsePipelineSet', () => {
  it('keeps every valid pipeline, sorted by name, with owner and tenant; many may share clusters', () => {
    const set = parsePipelineSet([web, api]);
    expect(set.refused).toEqual([]);
    expect(set.pipelines.map((p) => [p.file, p.pipeline.metadata.name])).toEqual([
      ['pipelines/api.yaml', 'api'],
      ['pipelines/web.yaml', 'web'],
    ]);
    expect(set.pipelines[1]?.pipeline.spec).toMatchObject({
      owner: 'team-web',
      tenant: { namespace: 'web', serviceAccount: 'web-deployer' },
    });
  });

  it('refuses an invalid file with its own line and keeps the others', () => {
    const broken = {
      file: 'pipelines/broken.yaml',
      text: 'apiVersion: flotilla.io/v1\nkind: Pipeline\nmetadata: { name: Bad_Name }\nspec: { stages: [] }\n',
    };
    const set = parsePipelineSet([web, broken, api]);
    expect(set.pipelines.map((p) => p.pipeline.metadata.name)).toEqual(['api', 'web']);
    expect(set.refused).toHaveLength(1);
    expect(set.refused[0]?.file).toBe('pipelines/broken.yaml');
    expect(set.refused[0]?.issues[0]).toMatchObject({
      file: 'pipelines/broken.yaml',
      line: 3,
      code: 'schema',
    });
  });

  it('refuses both pipelines declaring the same name, each at its metadata.name line, naming the other', () => {
    const copy = {
      file: 'pipelines/web-copy.yaml',
      ...pipeline('web', { dev: 'copy/dev', prod: 'copy/prod' }),
    };
    const set = parsePipelineSet([web, copy, api]);
    expect(set.pipelines.map((p) => p.pipeline.metadata.name)).toEqual(['api']);
    expect(set.refused.map((r) => r.file).sort()).toEqual(['pipelines/web-copy.yaml', 'pipelines/web.yaml']);
    for (const r of set.refused) {
      expect(r.issues).toHaveLength(1);
      expect(r.issues[0]).toMatchObject({
        code: 'duplicate-pipeline',
        line: 4,
        column: 9,
        path: 'metadata.name',
      });
      expect(r.issues[0]?.message).toContain(
        r.file === web.file ? 'pipelines/web-copy.yaml' : 'pipelines/web.yaml',
      );
    }
  });

  it('refuses pipelines claiming the same directory or one inside the other, at the path line', () => {
    const same = {
      file: 'pipelines/same.yaml',
      ...pipeline('same', { dev: './shop/web/dev/', prod: 'same/prod' }),
    };
    const nested = {
      file: 'pipelines/nested.yaml',
      ...pipeline('nested', { dev: 'n/dev', prod: 'payments/api/prod/eu' }),
    };
    const set = parsePipelineSet([web, api, same, nested]);
    expect(set.pipelines).toEqual([]);
    const byFile = Object.fromEntries(set.refused.map((r) => [r.file, r.issues]));
    expect(byFile['pipelines/same.yaml']?.[0]).toMatchObject({
      code: 'path-conflict',
      line: 10,
      path: 'spec.stages[0].clusters[0].path',
    });
    expect(byFile['pipelines/same.yaml']?.[0]?.message).toContain('pipelines/web.yaml');
    expect(byFile['pipelines/web.yaml']?.[0]).toMatchObject({ code: 'path-conflict', line: 10 });
    expect(byFile['pipelines/api.yaml']?.[0]).toMatchObject({ code: 'path-conflict', line: 12 });
    expect(byFile['pipelines/nested.yaml']?.[0]).toMatchObject({ code: 'path-conflict', line: 12 });
  });

  it('a root flotilla.yaml is one more member of the set', () => {
    const root = {
      file: 'flotilla.yaml',
      ...pipeline('root', { dev: 'clusters/dev', prod: 'clusters/prod' }),
    };
    expect(parsePipelineSet([root, web]).pipelines.map((p) => p.file)).toEqual([
      'flotilla.yaml',
      'pipelines/web.yaml',
    ]);
  });

  it('refuses a bad tenant with its line', () => {
    const bad = {
      file: 'pipelines/t.yaml',
      text: web.text.replace('serviceAccount: web-deployer', 'serviceAccount: "Not OK"'),
    };
    const set = parsePipelineSet([bad]);
    expect(set.refused[0]?.issues[0]).toMatchObject({
      line: 7,
      code: 'schema',
      path: 'spec.tenant.serviceAccount',
    });
  });

  it('stays bounded: beyond the limit the rest are refused, not parsed', () => {
    expect(MAX_PIPELINES).toBe(1000);
    const many = Array.from({ length: 5 }, (_, i) => ({
      file: `pipelines/p${String(i).padStart(5, '0')}.yaml`,
      ...pipeline(`p${i}`, { dev: `p${i}/dev`, prod: `p${i}/prod` }),
    }));
    const set = parsePipelineSet(many, { maxPipelines: 3 });
    expect(set.pipelines).toHaveLength(3);
    expect(set.refused.map((r) => r.issues[0]?.code)).toEqual(['pipeline-limit', 'pipeline-limit']);
  });

  it('knows which files are pipeline files', () => {
    expect(isPipelineFile('flotilla.yaml')).toBe(true);
    expect(isPipelineFile('pipelines/web.yml')).toBe(true);
    expect(isPipelineFile('pipelines/nested/web.yaml')).toBe(false);
    expect(isPipelineFile('clusters/dev/flotilla.yaml')).toBe(false);
  });
});
