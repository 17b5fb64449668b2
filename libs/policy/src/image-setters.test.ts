import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { applyImageUpdate, findMarkers, type ImageUpdate, parseMarkerValue } from './image-setters.ts';
import { PolicyError } from './policy-error.ts';

const fixture = (name: string) =>
  readFileSync(new URL(`./fixtures/manifests/${name}`, import.meta.url), 'utf8');
const D7 = `sha256:${'7'.repeat(64)}`;
const D1 = `sha256:${'1'.repeat(64)}`;
const web: ImageUpdate = {
  policy: 'web',
  image: 'registry.example.com/shop/web',
  tag: '1.4.7',
  digest: D7,
  pin: true,
};

const codeOf = (f: () => unknown): string | undefined => {
  try {
    f();
  } catch (err) {
    return err instanceof PolicyError ? err.code : `not a PolicyError: ${String(err)}`;
  }
  return undefined;
};

describe('findMarkers', () => {
  it('lists markers in a multi-document manifest, ignoring marker-like text inside block scalars', () => {
    expect(findMarkers(fixture('deployment.yaml'))).toEqual([
      { line: 18, column: 18, policy: 'web', field: 'full', value: 'registry.example.com/shop/web:1.4.2' },
      {
        line: 22,
        column: 18,
        policy: 'web',
        namespace: 'flux-system',
        field: 'full',
        value: `registry.example.com/shop/web:1.4.2@${D1}`,
      },
      {
        line: 29,
        column: 18,
        policy: 'worker',
        field: 'full',
        value: 'registry.example.com/shop/worker:main-99-abc',
      },
    ]);
  });

  it('lists kustomization image markers with their fields', () => {
    expect(
      findMarkers(fixture('kustomization.yaml')).map((m) => [m.line, m.policy, m.field, m.value]),
    ).toEqual([
      [7, 'web', 'name', 'registry.example.com/shop/web'],
      [8, 'web', 'tag', '1.4.2'],
      [9, 'web', 'digest', D1],
      [11, 'worker', 'tag', 'main-99-abc'],
    ]);
  });

  it.each([
    ['web', { policy: 'web', field: 'full' }],
    ['web:tag', { policy: 'web', field: 'tag' }],
    ['web:name', { policy: 'web', field: 'name' }],
    ['flux-system:web', { policy: 'web', namespace: 'flux-system', field: 'full' }],
    ['flux-system:web:digest', { policy: 'web', namespace: 'flux-system', field: 'digest' }],
  ])('parses marker value %s', (value, want) => {
    expect(parseMarkerValue(value)).toEqual(want);
  });

  it.each(['', 'a:b:c', 'a:b:c:tag', ':web', 'web:'])('rejects marker value %j', (value) => {
    expect(codeOf(() => parseMarkerValue(value))).toBe('policy.marker-invalid');
  });

  it('rejects a marker that is not JSON, naming the line', () => {
    const text = 'a: 1\nimage: x:1 # {"$imagepolicy": web}\n';
    expect(codeOf(() => findMarkers(text))).toBe('policy.marker-invalid');
  });

  it('rejects a marker on a multi-line value', () => {
    expect(() => findMarkers('image: >- # {"$imagepolicy": "web"}\n  x:1\n')).toThrow(
      /line 1: an image policy marker must be/,
    );
  });

  it('reports broken YAML with its line', () => {
    expect(() => findMarkers('a: 1\nb: [\n')).toThrow(/line 3/);
    expect(codeOf(() => findMarkers('a: 1\nb: [\n'))).toBe('policy.manifest-invalid');
  });

  it('ignores ordinary comments', () => {
    expect(findMarkers('# header\nname: y # a plain comment\n')).toEqual([]);
  });

  it.each([
    ['a marker on its own line', 'image: x:1\n# {"$imagepolicy": "web"}\n', 2],
    ['a marker on a mapping', 'containers: # {"$imagepolicy": "web"}\n  - x\n', 1],
    ['a marker in a flow sequence', 'args: [a, # {"$imagepolicy": "web"}\n  b]\n', 1],
  ])('rejects %s instead of ignoring it', (_what, text, line) => {
    expect(() => findMarkers(text)).toThrow(new RegExp(`line ${line}: an image policy marker must be`));
  });
});

describe('applyImageUpdate', () => {
  it('rewrites only the marked values of a deployment, pinned, byte-for-byte elsewhere', () => {
    const { text, changes } = applyImageUpdate(fixture('deployment.yaml'), web);
    expect(text).toBe(fixture('deployment-updated.yaml'));
    expect(changes).toEqual([
      {
        line: 18,
        field: 'full',
        old: 'registry.example.com/shop/web:1.4.2',
        new: `registry.example.com/shop/web:1.4.7@${D7}`,
      },
      {
        line: 22,
        field: 'full',
        old: `registry.example.com/shop/web:1.4.2@${D1}`,
        new: `registry.example.com/shop/web:1.4.7@${D7}`,
      },
    ]);
  });

  it('writes repo:tag without a digest when not pinned', () => {
    const { text } = applyImageUpdate(fixture('deployment.yaml'), { ...web, digest: undefined, pin: false });
    expect(text).toContain(
      'image: registry.example.com/shop/web:1.4.7 # {"$imagepolicy": "flux-system:web"}',
    );
  });

  it('updates kustomization newTag and digest, keeping the quoting style', () => {
    const { text, changes } = applyImageUpdate(fixture('kustomization.yaml'), web);
    expect(changes).toEqual([
      { line: 8, field: 'tag', old: '1.4.2', new: '1.4.7' },
      { line: 9, field: 'digest', old: D1, new: D7 },
    ]);
    expect(text.split('\n')[7]).toBe(`    newTag: "1.4.7" # {"$imagepolicy": "web:tag"}`);
    expect(text.split('\n')[8]).toBe(`    digest: ${D7} # {"$imagepolicy": "web:digest"}`);
    expect(text.split('\n')[10]).toBe('    newTag: main-99-abc # {"$imagepolicy": "worker:tag"}');
  });

  it('keeps single quotes single', () => {
    const src = "newTag: '1.4.2' # {\"$imagepolicy\": \"web:tag\"}\nother: 'x' # it's fine\n";
    expect(applyImageUpdate(src, { ...web, tag: '1.4.7' }).text).toBe(
      "newTag: '1.4.7' # {\"$imagepolicy\": \"web:tag\"}\nother: 'x' # it's fine\n",
    );
  });

  it('quotes a plain value that would otherwise read back as a number or boolean', () => {
    const src = 'images:\n  - name: w\n    newTag: main # {"$imagepolicy": "worker:tag"}\n';
    const upd = { policy: 'worker', image: 'r/worker', pin: false };
    expect(applyImageUpdate(src, { ...upd, tag: '120' }).text).toContain('newTag: "120" #');
    expect(applyImageUpdate(src, { ...upd, tag: '1.10' }).text).toContain('newTag: "1.10" #');
    expect(applyImageUpdate(src, { ...upd, tag: 'on' }).text).toContain('newTag: "on" #');
    expect(applyImageUpdate(src, { ...upd, tag: 'main-120-def' }).text).toContain('newTag: main-120-def #');
  });

  it('is idempotent: a second run changes nothing', () => {
    const once = applyImageUpdate(fixture('deployment.yaml'), web);
    const twice = applyImageUpdate(once.text, web);
    expect(twice).toEqual({ text: once.text, changes: [] });
  });

  it('leaves files without markers for the policy untouched', () => {
    const src = fixture('kustomization.yaml');
    expect(applyImageUpdate(src, { ...web, policy: 'other' })).toEqual({ text: src, changes: [] });
  });

  it('needs a digest when pinning or when a :digest marker exists', () => {
    expect(codeOf(() => applyImageUpdate(fixture('deployment.yaml'), { ...web, digest: undefined }))).toBe(
      'policy.digest-required',
    );
    expect(
      codeOf(() =>
        applyImageUpdate(fixture('kustomization.yaml'), { ...web, digest: undefined, pin: false }),
      ),
    ).toBe('policy.digest-required');
  });

  it.each([
    { tag: 'bad tag' },
    { tag: '-leading' },
    { digest: 'md5:abc' },
    { image: 'registry.example.com/shop/web:1.0' },
    { image: 'Upper/Case' },
  ])('rejects a malformed update %j', (patch) => {
    expect(codeOf(() => applyImageUpdate(fixture('deployment.yaml'), { ...web, ...patch }))).toBe(
      'policy.image-ref-invalid',
    );
  });

  it('keeps every marked value valid YAML for any valid tag (property)', () => {
    const tag = fc.stringMatching(/^[\w][\w.-]{0,20}$/);
    const digest = fc.stringMatching(/^[0-9a-f]{64}$/).map((h) => `sha256:${h}`);
    fc.assert(
      fc.property(tag, digest, fc.boolean(), (t, d, pin) => {
        const src = fixture('kustomization.yaml');
        const upd: ImageUpdate = { ...web, tag: t, digest: d, pin };
        const { text } = applyImageUpdate(src, upd);
        const docs = parseAllDocuments(text);
        const doc = Array.isArray(docs) ? docs[0] : undefined;
        if (!doc || doc.errors.length > 0) return false;
        const images = (doc.toJS() as { images: Array<Record<string, unknown>> }).images;
        return images[0]?.newTag === t && images[0]?.digest === d && images[1]?.newTag === 'main-99-abc';
      }),
      { numRuns: 200 },
    );
  });
});
