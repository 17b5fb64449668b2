import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ManifestError } from './errors.ts';
import { parseManifests } from './parse.ts';

const dnsLabel = fc.stringMatching(/^[a-z]([a-z0-9-]{0,20}[a-z0-9])?$/);

describe('parseManifests properties', () => {
  it('never throws on arbitrary text; every error is a typed ManifestError with a location', () => {
    const yamlish = fc.array(
      fc.constantFrom(
        '---\n',
        'a: ',
        '&x ',
        '*x',
        '[',
        ']',
        '{',
        '}',
        '- ',
        '\n',
        '  ',
        '"',
        "'",
        ':',
        '!!str ',
        '? ',
        '#',
        'apiVersion: v1\n',
        'kind: X\n',
        'metadata:\n  name: n\n',
        '<<: *x\n',
        '\t',
        '%YAML 1.2\n',
      ),
      { maxLength: 40 },
    );
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 300 }),
          yamlish.map((parts) => parts.join('')),
        ),
        (text) => {
          const result = parseManifests(text, { file: 'f.yaml' });
          expect(result.ok).toBe(result.errors.length === 0);
          for (const err of result.errors) {
            expect(err).toBeInstanceOf(ManifestError);
            expect(err.code).toMatch(/^manifest\./);
            expect(err.file).toBe('f.yaml');
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it('round-trips generated objects through YAML', () => {
    const scalar = fc.oneof(
      fc.string({ maxLength: 30 }),
      fc.integer(),
      fc.boolean(),
      fc.constant(null),
      fc.double({ noNaN: true, noDefaultInfinity: true }),
    );
    const data = fc.dictionary(
      // `<<` is YAML's merge key, not data: parseManifests merges it like kubectl's YAML does, so
      // `{"<<": false}` can't round-trip (fast-check found it once in CI).
      fc.string({ minLength: 1, maxLength: 10 }).filter((k) => k !== '<<'),
      fc.oneof(scalar, fc.array(scalar, { maxLength: 3 })),
      { maxKeys: 5 },
    );
    const object = fc.record({
      apiVersion: fc.constantFrom('v1', 'apps/v1', 'example.com/v1alpha1'),
      kind: fc.constantFrom('ConfigMap', 'Deployment', 'Widget'),
      metadata: fc.record({
        name: dnsLabel,
        namespace: dnsLabel,
        labels: fc.dictionary(dnsLabel, dnsLabel, { maxKeys: 3 }),
      }),
      spec: data,
    });
    fc.assert(
      // each apiVersion here is a different group, so the selector is exactly object identity
      fc.property(
        fc.uniqueArray(object, {
          selector: (o) => `${o.apiVersion}/${o.kind}/${o.metadata.namespace}/${o.metadata.name}`,
          maxLength: 5,
        }),
        (objects) => {
          const text = objects.map((o) => stringify(o)).join('---\n');
          const result = parseManifests(text);
          expect(result.errors.map((e) => e.format())).toEqual([]);
          // -0 is written as 0 by YAML; compare as JSON like everything downstream does
          expect(JSON.parse(JSON.stringify(result.objects.map((p) => p.object)))).toEqual(
            JSON.parse(JSON.stringify(objects)),
          );
        },
      ),
      { numRuns: 200 },
    );
  });
});
