import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { computeDrift } from './compute-drift.ts';
import type { ManagedFieldsEntry } from './types.ts';

// Arbitrary (mostly malformed) field sets: the walker must tolerate whatever a live object holds.
const managedFieldsArb = fc.array(fc.record({ manager: fc.string(), fieldsV1: fc.object() })) as fc.Arbitrary<
  ManagedFieldsEntry[]
>;

const object = fc.record({
  apiVersion: fc.constant('example.com/v1'),
  kind: fc.constant('Widget'),
  metadata: fc.record({
    name: fc.constant('w'),
    labels: fc.dictionary(fc.string({ minLength: 1 }), fc.string()),
  }),
  spec: fc.jsonValue(),
});

describe('computeDrift properties', () => {
  it('an object never drifts from itself, whatever the managedFields say', () => {
    fc.assert(
      fc.property(object, managedFieldsArb, (obj, managedFields) => {
        const live = JSON.parse(JSON.stringify(obj));
        expect(computeDrift(obj, live, { fieldManager: 'flotilla', managedFields })).toEqual([]);
      }),
      { numRuns: 200 },
    );
  });

  it('never throws on arbitrary live objects and managedFields; every entry has a path', () => {
    fc.assert(
      fc.property(object, fc.object(), managedFieldsArb, (obj, live, managedFields) => {
        for (const entry of computeDrift(obj, live, { fieldManager: 'flotilla', managedFields })) {
          expect(entry.path.length).toBeGreaterThan(0);
        }
      }),
      { numRuns: 200 },
    );
  });
});
