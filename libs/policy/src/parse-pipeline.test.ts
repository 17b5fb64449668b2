import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { formatPipelineIssue, loadPipeline, type PipelineIssue, parsePipeline } from './parse-pipeline.ts';
import { PolicyError } from './policy-error.ts';

const fixture = (name: string) =>
  readFileSync(new URL(`./fixtures/pipelines/${name}`, import.meta.url), 'utf8');

const issuesOf = (text: string, file = 'flotilla.yaml'): PipelineIssue[] => {
  const r = parsePipeline(text, file);
  if (r.ok) throw new Error('expected the pipeline to be invalid');
  return r.errors;
};

/** `line:column code pointer`, compact enough to compare whole lists. */
const brief = (i: PipelineIssue) => `${i.line}:${i.column} ${i.code} ${i.pointer}`;

describe('parsePipeline: valid', () => {
  it('parses the shop pipeline and fills defaults', () => {
    const r = parsePipeline(fixture('shop.yaml'), 'shop.yaml');
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const p = r.pipeline;
    expect(p.metadata.name).toBe('shop');
    expect(p.spec.stages.map((s) => s.name)).toEqual(['dev', 'test', 'uat', 'prod']);
    expect(p.spec.stages[0]?.promotion).toEqual({ rule: 'auto' });
    expect(p.spec.stages[2]?.clusters.map((c) => c.path)).toEqual(['clusters/uat/eu', 'clusters/uat/us']);
    expect(p.spec.stages[3]?.promotion?.approvers).toEqual(['alice', 'group:release-managers']);
    expect(p.spec.images?.map((i) => [i.name, i.digestPin])).toEqual([
      ['web', true],
      ['worker', false],
    ]);
  });

  it('loadPipeline returns the same pipeline', () => {
    expect(loadPipeline(fixture('shop.yaml')).spec.images?.[1]?.filterTags?.extract).toBe('$build');
  });
});

describe('parsePipeline: errors carry file, line, column and path', () => {
  it('schema errors', () => {
    const errors = issuesOf(fixture('broken-schema.yaml'), 'broken-schema.yaml');
    expect(errors.every((e) => e.file === 'broken-schema.yaml')).toBe(true);
    expect(errors.map(brief)).toEqual([
      '1:13 schema /apiVersion',
      '6:13 schema /spec/stages/0/name',
      '9:17 schema /spec/stages/1/clusters',
      '10:26 schema /spec/stages/1/promotion/rule',
      '11:7 schema /spec/stages/1/colour',
      '14:19 schema /spec/images/0/repository',
      '16:18 schema /spec/images/0/digestPin',
    ]);
    const text = errors.map(formatPipelineIssue).join('\n');
    expect(text).toContain(
      'broken-schema.yaml:1:13 apiVersion: must be "flotilla.io/v1" (got "flotilla.io/v2")',
    );
    expect(text).toContain('spec.stages[0].name: "Dev" must be a lowercase DNS label');
    expect(text).toContain('spec.stages[1].promotion.rule: must be one of auto, manual (got "sometimes")');
    expect(text).toContain('spec.stages[1].colour: unknown field "colour"');
    expect(text).toContain('spec.images[0].digestPin: expected true or false, got string "yes"');
  });

  it('semantic errors', () => {
    const errors = issuesOf(fixture('broken-semantics.yaml'));
    expect(errors.map(brief)).toEqual([
      '10:31 path-traversal /spec/stages/1/clusters/0/path',
      '11:19 duplicate-name /spec/stages/1/clusters/1/name',
      '11:30 path-absolute /spec/stages/1/clusters/1/path',
      '12:38 duration /spec/stages/1/promotion/soak',
      '13:7 promotion-missing /spec/stages/2',
      '13:13 duplicate-name /spec/stages/2/name',
      '18:9 approvers-missing /spec/stages/3/promotion',
      '19:42 window /spec/stages/3/promotion/windows/0/end',
      '19:61 timezone /spec/stages/3/promotion/windows/0/timezone',
      '23:34 semver-range /spec/images/0/policy/semver/range',
      '24:13 duplicate-name /spec/images/1/name',
      '26:15 tag-policy /spec/images/1/policy',
      '27:30 tag-filter /spec/images/1/filterTags/pattern',
    ]);
    const byCode = new Map(errors.map((e) => [e.code, e.message]));
    expect(byCode.get('path-traversal')).toBe(
      'path "../../etc" must not contain ".." (it would leave the config repo)',
    );
    expect(errors.find((e) => e.pointer === '/spec/stages/2/name')?.message).toBe(
      'duplicate stage name "test" (first defined on line 8)',
    );
  });

  it('YAML syntax errors, including duplicate keys', () => {
    // Inline rather than a fixture file: the repo's formatter refuses to touch broken YAML.
    const errors = issuesOf(
      'apiVersion: flotilla.io/v1\nkind: Pipeline\nmetadata:\n  name: shop\n  name: again\nspec:\n  stages: [ { name: dev\n',
    );
    expect(errors[0]).toMatchObject({ line: 5, column: 3, code: 'yaml-syntax', path: '' });
    expect(errors[0]?.message).toMatch(/unique/);
    expect(errors.every((e) => e.code === 'yaml-syntax')).toBe(true);
  });

  it('schema and semantic problems are reported in one pass', () => {
    const errors = issuesOf(`apiVersion: flotilla.io/v1
kind: Pipeline
metadata: { name: shop }
spec:
  stages:
    - name: dev
      clusters: [{ name: dev, path: a/../../b, extra: true }]
`);
    expect(errors.map(brief)).toEqual([
      '7:37 path-traversal /spec/stages/0/clusters/0/path',
      '7:48 schema /spec/stages/0/clusters/0/extra',
    ]);
  });

  it.each([
    ['', 'yaml-documents', /empty/],
    ['# only a comment\n', 'yaml-documents', /empty/],
    ['- just\n- a list\n', 'schema', /expected a mapping, got a list/],
    ['a: 1\n---\nb: 2\n', 'yaml-documents', /exactly one YAML document/],
  ])('rejects %j', (text, code, message) => {
    const errors = issuesOf(text);
    expect(errors[0]?.code).toBe(code);
    expect(errors[0]?.message).toMatch(message);
  });

  it('a missing field points at the mapping that lacks it', () => {
    const errors = issuesOf(
      'apiVersion: flotilla.io/v1\nkind: Pipeline\nmetadata:\n  labels: {}\nspec:\n  stages: []\n',
    );
    expect(errors.map((e) => `${brief(e)} ${e.message}`)).toEqual([
      '4:3 schema /metadata missing required field "name"',
      '6:11 schema /spec/stages must list at least 1 item',
    ]);
  });

  it('loadPipeline throws a stall PolicyError listing every issue', () => {
    let caught: unknown;
    try {
      loadPipeline(fixture('broken-semantics.yaml'), 'config/flotilla.yaml');
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(PolicyError);
    const err = caught as PolicyError;
    expect(err.code).toBe('policy.pipeline-invalid');
    expect(err.disposition).toBe('stall');
    expect((err.details.issues as PipelineIssue[]).length).toBe(13);
    expect(err.message).toContain('config/flotilla.yaml:10:31 spec.stages[1].clusters[0].path:');
  });
});

describe('parsePipeline properties', () => {
  const check = (text: string) => {
    const lines = text.split('\n').length;
    const r = parsePipeline(text, 'f.yaml');
    if (r.ok) return typeof r.pipeline.metadata.name === 'string' && r.pipeline.spec.stages.length > 0;
    return (
      r.errors.length > 0 &&
      r.errors.every(
        (e) =>
          e.file === 'f.yaml' &&
          Number.isInteger(e.line) &&
          e.line >= 1 &&
          e.line <= lines + 1 &&
          e.column >= 1 &&
          typeof e.message === 'string' &&
          e.message.length > 0,
      )
    );
  };

  it('never throws on arbitrary text', () => {
    fc.assert(fc.property(fc.string({ maxLength: 300 }), check), { numRuns: 300 });
  });

  it('never throws on arbitrary YAML values', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 5 }), (v) => check(stringify(v))),
      { numRuns: 300 },
    );
  });

  it('never throws on mutations of a valid pipeline', () => {
    const base = fixture('shop.yaml');
    const mutation = fc.tuple(fc.nat(base.length), fc.nat(20), fc.string({ maxLength: 6 }));
    fc.assert(
      fc.property(mutation, ([at, del, ins]) => check(base.slice(0, at) + ins + base.slice(at + del))),
      { numRuns: 200 },
    );
  });

  it('never throws on pipelines with random field values', () => {
    const any = fc.oneof(
      fc.string({ maxLength: 12 }),
      fc.integer(),
      fc.boolean(),
      fc.constant(null),
      fc.array(fc.string(), { maxLength: 2 }),
    );
    fc.assert(
      fc.property(any, any, any, any, (name, path, soak, range) =>
        check(
          stringify({
            apiVersion: 'flotilla.io/v1',
            kind: 'Pipeline',
            metadata: { name: 'shop' },
            spec: {
              stages: [
                { name: 'dev', clusters: [{ name, path }] },
                { name: 'prod', clusters: [{ name: 'p', path: 'x' }], promotion: { rule: 'auto', soak } },
              ],
              images: [{ name: 'web', repository: 'r/web', policy: { semver: { range } } }],
            },
          }),
        ),
      ),
      { numRuns: 300 },
    );
  });
});
