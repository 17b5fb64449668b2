import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson, canonicalJsonBytes, sha256Digest } from './canonical-json.ts';
import { ManifestError } from './errors.ts';

/** Same data with object keys inserted in reverse order, recursively. */
function reverseKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reverseKeys);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).reverse()) {
      Object.defineProperty(out, k, {
        value: reverseKeys((value as Record<string, unknown>)[k]),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  }
  return value;
}

describe('canonicalJson', () => {
  it('sorts keys recursively, keeps array order, no whitespace', () => {
    expect(canonicalJson({ b: 1, a: [3, { d: true, c: null }], é: 'x', Z: '' })).toBe(
      '{"Z":"","a":[3,{"c":null,"d":true}],"b":1,"é":"x"}',
    );
  });

  it('matches RFC 8785 number and string forms', () => {
    expect(canonicalJson([-0, 1e21, 0.1, 1.5e-7, 100])).toBe('[0,1e+21,0.1,1.5e-7,100]');
    expect(canonicalJson('\u2028"\n')).toBe('"\u2028\\"\\n"');
    // code-unit order: upper case before lower case, surrogate pairs by code unit
    expect(canonicalJson({ a: 1, B: 2, '\u{1F600}': 3, '\uFFFF': 4 })).toBe(
      '{"B":2,"a":1,"😀":3,"\uFFFF":4}',
    );
  });

  it('omits undefined properties but rejects values JSON cannot hold', () => {
    expect(canonicalJson({ a: undefined, b: 1 })).toBe('{"b":1}');
    for (const bad of [
      Number.NaN,
      Number.POSITIVE_INFINITY,
      1n,
      () => 1,
      Symbol('s'),
      [undefined],
      new Date(0),
      new Map(),
    ]) {
      expect(() => canonicalJson({ x: bad })).toThrow(ManifestError);
    }
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => canonicalJson(cyclic)).toThrow(/cycle/);
    // shared (non-cyclic) references are fine
    const shared = { k: 1 };
    expect(canonicalJson([shared, shared])).toBe('[{"k":1},{"k":1}]');
  });

  it('produces UTF-8 bytes and sha256 digests', () => {
    expect(new TextDecoder().decode(canonicalJsonBytes({ é: 1 }))).toBe('{"é":1}');
    expect(sha256Digest('')).toBe('sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });

  it('property: key order never changes the output, and the output parses back to equal data', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const canon = canonicalJson(value);
        expect(canonicalJson(reverseKeys(value))).toBe(canon);
        expect(canonicalJson(JSON.parse(canon))).toBe(canon);
        expect(JSON.parse(canon)).toEqual(JSON.parse(JSON.stringify(value)));
      }),
      { numRuns: 300 },
    );
  });
});
