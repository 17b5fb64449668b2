import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fixture } from '../test/fixture.ts';
import {
  type Bundle,
  bundleContentDigest,
  bundleDigest,
  createBundle,
  decodeBundle,
  encodeBundle,
  isSafeRepoPath,
  objectHash,
} from './bundle.ts';
import { sha256Digest } from './canonical-json.ts';
import { ManifestError } from './errors.ts';
import type { KubeObject } from './kube-object.ts';
import { parseManifests } from './parse.ts';

const objects = parseManifests(fixture('app-valid.yaml')).objects.map((p) => p.object);
const init = {
  cluster: 'prod-eu',
  revision: 'main@sha1:4f2c9e1',
  source: { repo: 'https://git.example.com/platform/fleet.git', path: 'clusters/prod-eu' },
  objects,
};

describe('bundle', () => {
  it('encodes canonically: object order and key order do not change bytes or digest', () => {
    const a = createBundle(init);
    const b = createBundle({
      ...init,
      objects: [...objects].reverse().map((o) => JSON.parse(JSON.stringify(o))),
    });
    expect(new TextDecoder().decode(encodeBundle(a))).toBe(new TextDecoder().decode(encodeBundle(b)));
    expect(bundleDigest(a)).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(bundleDigest(a)).toBe(bundleDigest(b));
    expect(bundleDigest(a)).toBe(sha256Digest(encodeBundle(a)));
    const changed = createBundle({ ...init, revision: 'main@sha1:0000000' });
    expect(bundleDigest(changed)).not.toBe(bundleDigest(a));
  });

  it('round-trips through decode with the digest checked', () => {
    const bundle = createBundle(init);
    const bytes = encodeBundle(bundle);
    const decoded = decodeBundle(bytes, { expectedDigest: bundleDigest(bundle) });
    if (!decoded.ok) throw new Error(decoded.errors.map((e) => e.format()).join('\n'));
    expect(decoded.bundle).toEqual(bundle);
    expect(decoded.digest).toBe(bundleDigest(bundle));
    expect(bundleDigest(decoded.bundle)).toBe(decoded.digest);
  });

  it('carries a targetNamespace when set, and keeps the bytes of bundles without one', () => {
    const plain = createBundle(init);
    expect(createBundle({ ...init, targetNamespace: undefined })).toEqual(plain);
    expect('targetNamespace' in plain).toBe(false);
    const placed = createBundle({ ...init, targetNamespace: 'web' });
    const decoded = decodeBundle(encodeBundle(placed));
    if (!decoded.ok) throw new Error(decoded.errors.map((e) => e.format()).join('\n'));
    expect(decoded.bundle.targetNamespace).toBe('web');
    expect(bundleDigest(placed)).not.toBe(bundleDigest(plain));
    const bad = decodeBundle(
      JSON.stringify({
        ...JSON.parse(new TextDecoder().decode(encodeBundle(plain))),
        targetNamespace: 'Not_A/Name',
      }),
    );
    expect(bad.ok).toBe(false);
    expect(bad.errors.map((e) => e.path)).toEqual(['.targetNamespace']);
  });

  it('rejects a digest mismatch before parsing', () => {
    const bytes = encodeBundle(createBundle(init));
    const tampered = new TextEncoder().encode(new TextDecoder().decode(bytes).replace('hunter2', 'hunter3'));
    const result = decodeBundle(tampered, { expectedDigest: sha256Digest(bytes) });
    expect(result.ok).toBe(false);
    expect(result.errors.map((e) => e.code)).toEqual(['bundle.digest-mismatch']);
  });

  it('rejects invalid JSON, wrong shapes and unsafe source paths with every problem listed', () => {
    expect(decodeBundle('{').errors.map((e) => e.code)).toEqual(['bundle.invalid-json']);
    expect(decodeBundle(new Uint8Array([0x7b, 0xff, 0x7d])).errors.map((e) => e.code)).toEqual([
      'bundle.invalid-json',
    ]);
    const bad = {
      apiVersion: 'flotilla.io/v2',
      kind: 'Bundle',
      cluster: '',
      revision: 'r',
      source: { repo: 'r', path: 'clusters/../../etc' },
      objects: [],
      extra: true,
    };
    const result = decodeBundle(JSON.stringify(bad));
    expect(result.errors.map((e) => [e.code, e.path])).toEqual([
      ['bundle.invalid-shape', '.apiVersion'],
      ['bundle.invalid-shape', '.extra'],
      ['bundle.invalid-shape', '.cluster'],
      ['bundle.invalid-shape', '.source.path'],
    ]);
    expect(decodeBundle('[]').errors[0]?.code).toBe('bundle.invalid-shape');
  });

  it('validates every object: names, missing fields, duplicates, size', () => {
    const bundle = {
      ...createBundle(init),
      objects: [
        { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'Bad!', namespace: 'a' } },
        { apiVersion: 'v1', kind: 'ConfigMap', metadata: { namespace: 'a' } },
        { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ok', namespace: 'a' } },
        { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ok', namespace: 'a' } },
        {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: 'big', namespace: 'a' },
          data: { x: 'y'.repeat(2000) },
        },
      ],
    };
    const result = decodeBundle(JSON.stringify(bundle), { limits: { maxObjectBytes: 1000 } });
    expect(result.errors.map((e) => [e.code, e.document, e.path])).toEqual([
      ['manifest.invalid-name', 0, '.objects[0].metadata.name'],
      ['manifest.missing-field', 1, '.objects[1].metadata.name'],
      ['manifest.duplicate-object', 3, '.objects[3]'],
      ['manifest.too-large', 4, '.objects[4]'],
    ]);
    expect(() => encodeBundle(bundle as Bundle)).toThrow(ManifestError);
    try {
      encodeBundle(bundle as Bundle);
    } catch (err) {
      expect((err as ManifestError).errors).toHaveLength(3);
      expect((err as ManifestError).toJSON().details.errors).toHaveLength(3);
    }
  });

  it('enforces bundle size and object count limits before doing work', () => {
    const bytes = encodeBundle(createBundle(init));
    expect(decodeBundle(bytes, { limits: { maxBundleBytes: 100 } }).errors.map((e) => e.code)).toEqual([
      'bundle.too-large',
    ]);
    expect(decodeBundle(bytes, { limits: { maxBundleObjects: 3 } }).errors.map((e) => e.code)).toEqual([
      'bundle.too-many-objects',
    ]);
    expect(() => encodeBundle(createBundle(init), { limits: { maxBundleBytes: 100 } })).toThrow(
      /over the limit/,
    );
  });

  it('objectHash is stable across key order and sensitive to content', () => {
    const a = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'a', namespace: 'n' },
      data: { x: '1' },
    };
    const b = {
      data: { x: '1' },
      metadata: { namespace: 'n', name: 'a' },
      kind: 'ConfigMap',
      apiVersion: 'v1',
    };
    expect(objectHash(a)).toBe(objectHash(b));
    expect(objectHash(a)).not.toBe(objectHash({ ...a, data: { x: '2' } }));
  });

  it('content digest: same objects at another revision or cluster agree; objects, path, targetNamespace do not', () => {
    const a = createBundle(init);
    const moved = createBundle({ ...init, revision: 'main@sha1:0000000', cluster: 'prod-us' });
    const reordered = createBundle({ ...init, objects: [...objects].reverse() });
    // What the bundle bytes differ by (revision, cluster) is not content; the order never is.
    expect(bundleDigest(moved)).not.toBe(bundleDigest(a));
    expect(bundleContentDigest(moved)).toBe(bundleContentDigest(a));
    expect(bundleContentDigest(reordered)).toBe(bundleContentDigest(a));
    // The decoded bundle (what an applier reads) hashes as the one the planner built.
    const decoded = decodeBundle(encodeBundle(a));
    expect(decoded.ok && bundleContentDigest(decoded.bundle)).toBe(bundleContentDigest(a));
    const others = [
      createBundle({ ...init, objects: objects.slice(1) }),
      createBundle({ ...init, source: { ...init.source, path: 'clusters/other' } }),
      createBundle({ ...init, targetNamespace: 'team-a' }),
    ].map(bundleContentDigest);
    expect(new Set([bundleContentDigest(a), ...others]).size).toBe(4);
    // The planner's formula before this function existed: plans it signed keep their meaning.
    expect(bundleContentDigest(a)).toBe(objectHash({ path: init.source.path, objects: a.objects }));
  });

  it('rejects unsafe repo paths', () => {
    expect(isSafeRepoPath('clusters/prod')).toBe(true);
    expect(isSafeRepoPath('')).toBe(true);
    for (const p of ['../x', 'a/../../b', '/etc', 'C:\\x', 'a\\..\\b', 'a\0b'])
      expect(isSafeRepoPath(p)).toBe(false);
  });

  it('property: digest is independent of object order and key order', () => {
    const name = fc.stringMatching(/^[a-z][a-z0-9-]{0,10}[a-z0-9]$/);
    const obj = fc.record({
      name,
      ns: name,
      data: fc.dictionary(fc.stringMatching(/^[A-Za-z0-9_.-]{1,12}$/), fc.string({ maxLength: 20 }), {
        maxKeys: 4,
      }),
    });
    fc.assert(
      fc.property(fc.uniqueArray(obj, { selector: (o) => `${o.ns}/${o.name}`, maxLength: 8 }), (specs) => {
        const objs: KubeObject[] = specs.map((s) => ({
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: s.name, namespace: s.ns },
          data: s.data,
        }));
        const shuffled = [...objs].reverse().map((o) => ({
          data: o.data,
          metadata: { namespace: o.metadata.namespace, name: o.metadata.name },
          kind: o.kind,
          apiVersion: o.apiVersion,
        })) as KubeObject[];
        const d1 = bundleDigest(createBundle({ ...init, objects: objs }));
        const d2 = bundleDigest(createBundle({ ...init, objects: shuffled }));
        expect(d1).toBe(d2);
        const decoded = decodeBundle(encodeBundle(createBundle({ ...init, objects: objs })), {
          expectedDigest: d1,
        });
        expect(decoded.ok).toBe(true);
      }),
      { numRuns: 100 },
    );
  });
});
