import { describe, expect, it } from 'vitest';
import { fixture } from '../test/fixture.ts';
import { ManifestError } from './errors.ts';
import { parseManifests } from './parse.ts';

const codes = (text: string, file = 'x.yaml') => parseManifests(text, { file }).errors.map((e) => e.code);

describe('parseManifests', () => {
  it('parses every object of a valid multi-document file with identity and position', () => {
    const result = parseManifests(fixture('app-valid.yaml'), { file: 'apps/web.yaml' });
    expect(result.errors.map((e) => e.format())).toEqual([]);
    expect(result.ok).toBe(true);
    expect(result.objects).toHaveLength(11);
    const deploy = result.objects[0]!;
    expect(deploy.ref).toEqual({
      group: 'apps',
      version: 'v1',
      kind: 'Deployment',
      namespace: 'team-a',
      name: 'web',
    });
    expect(deploy.source).toEqual({ file: 'apps/web.yaml', document: 0, line: 2, column: 1 });
    // YAML 1.2 core schema: "yes" stays a string, like kubectl would need it.
    const cm = result.objects.find((o) => o.ref.kind === 'ConfigMap')!;
    expect((cm.object.data as Record<string, unknown>).FEATURE).toBe('yes');
    // namespace on a cluster-scoped kind is not part of identity
    const ns = result.objects.find((o) => o.ref.kind === 'Namespace')!;
    expect(ns.ref.namespace).toBeUndefined();
    // RBAC names may hold ':'
    expect(result.objects.some((o) => o.ref.name === 'system:web-reader')).toBe(true);
  });

  it('stops an alias bomb with a typed error and keeps parsing later documents', () => {
    const result = parseManifests(fixture('alias-bomb.yaml'), { file: 'bomb.yaml' });
    expect(result.errors).toHaveLength(1);
    const err = result.errors[0]!;
    expect(err).toBeInstanceOf(ManifestError);
    expect(err.code).toBe('manifest.alias-bomb');
    expect(err.disposition).toBe('stall');
    expect(err.file).toBe('bomb.yaml');
    expect(err.line).toBeGreaterThan(1);
    expect(result.objects.map((o) => o.ref.name)).toEqual(['after-the-bomb']);
  });

  it('honours a lower alias limit and allows modest alias use', () => {
    const text =
      'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata:\n  x: &v hello\n  y: *v\n  z: *v\n';
    expect(parseManifests(text).ok).toBe(true);
    expect(codes(text)).toEqual([]);
    expect(parseManifests(text, { limits: { maxAliasCount: 1 } }).errors[0]?.code).toBe(
      'manifest.alias-bomb',
    );
  });

  it('reports duplicates at the second occurrence, pointing to the first', () => {
    const result = parseManifests(fixture('duplicates.yaml'), { file: 'd.yaml' });
    expect(result.errors).toHaveLength(1);
    const err = result.errors[0]!;
    expect(err.code).toBe('manifest.duplicate-object');
    expect(err.line).toBe(14);
    expect(err.message).toContain('apps/Deployment team-a/web');
    expect(err.message).toContain('d.yaml:1:1');
    expect(result.objects.map((o) => `${o.ref.kind}/${o.ref.namespace}`)).toEqual([
      'Deployment/team-a',
      'ConfigMap/team-a',
      'Deployment/team-b',
    ]);
  });

  it('returns every problem in an invalid file with code, line and column', () => {
    const result = parseManifests(fixture('invalid.yaml'), { file: 'bad.yaml' });
    const summary = result.errors.map((e) => [e.code, e.line, e.column, e.path]);
    expect(summary).toEqual([
      ['manifest.invalid-name', 4, 9, '.metadata.name'],
      ['manifest.invalid-name', 10, 9, '.metadata.name'],
      ['manifest.invalid-name', 15, 9, '.metadata.name'],
      ['manifest.missing-field', 18, 1, '.apiVersion'],
      // a missing field points at its parent mapping
      ['manifest.missing-field', 20, 3, '.metadata.name'],
      ['manifest.missing-field', 25, 3, '.metadata.name'],
      ['manifest.invalid-name', 31, 14, '.metadata.namespace'],
      ['manifest.invalid-field', 33, 14, '.metadata.labels.version'],
      ['manifest.invalid-field', 34, 17, '.metadata.labels.bad key!'],
      ['manifest.not-an-object', 36, 1, undefined],
      ['manifest.not-an-object', 38, 1, undefined],
    ]);
    expect(result.errors[5]!.message).toContain('generateName is not supported');
    expect(result.objects.map((o) => o.ref.name)).toEqual(['valid-one']);
    expect(result.ok).toBe(false);
  });

  it('reports YAML syntax errors and duplicate keys per document, parsing the rest', () => {
    const result = parseManifests(fixture('malformed.yaml.txt'), { file: 'm.yaml' });
    expect(result.errors.map((e) => e.code)).toEqual(
      expect.arrayContaining(['manifest.duplicate-key', 'manifest.yaml-syntax']),
    );
    const dup = result.errors.find((e) => e.code === 'manifest.duplicate-key')!;
    expect([dup.file, dup.line]).toEqual(['m.yaml', 10]);
    expect(result.objects.map((o) => o.ref.name)).toEqual(['first', 'last']);
  });

  it('rejects oversized objects and inputs, and too many documents', () => {
    const big = `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata:\n  blob: "${'x'.repeat(2048)}"\n`;
    expect(codes(big)).toEqual([]);
    expect(parseManifests(big, { limits: { maxObjectBytes: 1024 } }).errors[0]?.code).toBe(
      'manifest.too-large',
    );
    expect(parseManifests(big, { limits: { maxInputBytes: 100 } }).errors[0]?.code).toBe(
      'manifest.too-large',
    );
    const many = Array.from(
      { length: 5 },
      (_, i) => `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c${i}}\n`,
    ).join('---\n');
    const limited = parseManifests(many, { limits: { maxDocuments: 3 } });
    expect(limited.errors.map((e) => e.code)).toEqual(['manifest.too-many-documents']);
    expect(limited.objects).toHaveLength(3);
  });

  it('the default object limit is 1 MiB', () => {
    const text = `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata:\n  blob: "${'x'.repeat(1024 * 1024)}"\n`;
    expect(codes(text)).toEqual(['manifest.too-large']);
  });

  it('rejects non-finite numbers and over-deep nesting without throwing', () => {
    expect(codes('apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {x: .nan}\n')).toEqual([
      'manifest.invalid-field',
    ]);
    const deep = `${'['.repeat(5000)}${']'.repeat(5000)}`;
    expect(parseManifests(deep).errors.length).toBeGreaterThan(0);
  });

  it('expands v1 List and skips empty documents', () => {
    const text = `---\n# nothing\n---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: a}\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: b}\n---\n~\n`;
    const result = parseManifests(text);
    expect(result.errors).toEqual([]);
    expect(result.objects.map((o) => [o.ref.name, o.source.line])).toEqual([
      ['a', 7],
      ['b', 10],
    ]);
    // unexpanded, a List is just an object without a name
    expect(parseManifests(text, { expandLists: false }).errors.map((e) => e.code)).toEqual([
      'manifest.missing-field',
    ]);
  });

  it('expands typed lists like kubectl (kube-prometheus RoleBindingList), lists in lists too', () => {
    const result = parseManifests(fixture('kube-prometheus-rolebinding-list.yaml'), { file: 'rb.yaml' });
    expect(result.errors.map((e) => e.format())).toEqual([]);
    expect(result.objects.map((o) => `${o.ref.kind} ${o.ref.namespace}/${o.ref.name}`)).toEqual([
      'RoleBinding default/prometheus-k8s',
      'RoleBinding kube-system/prometheus-k8s',
      'RoleBinding monitoring/prometheus-k8s',
    ]);
    expect(result.objects.map((o) => o.source.line)).toEqual([5, 24, 43]);
    const nested =
      'apiVersion: v1\nkind: ConfigMapList\nitems:\n- apiVersion: v1\n  kind: List\n  items:\n  - {apiVersion: v1, kind: ConfigMap, metadata: {name: inner}}\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: outer}}\n';
    expect(parseManifests(nested).objects.map((o) => o.ref.name)).toEqual(['inner', 'outer']);
    // An item without a kind is named by its path inside the list, not as a nameless list.
    const broken = parseManifests('apiVersion: v1\nkind: RoleList\nitems:\n- metadata: {name: x}\n');
    expect(broken.errors.map((e) => [e.code, e.path])).toContainEqual([
      'manifest.missing-field',
      '.items[0].kind',
    ]);
    // A CRD kind that merely ends in List, without items, stays an object.
    const crd = parseManifests(
      'apiVersion: net.example.com/v1\nkind: IPAllowList\nmetadata: {name: a, namespace: n}\nspec: {}\n',
    );
    expect(crd.objects.map((o) => o.ref.kind)).toEqual(['IPAllowList']);
  });

  it('checks that a CRD is named <plural>.<group>', () => {
    const crd = (name: string) =>
      `apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: ${name}}\nspec: {group: example.com, names: {plural: widgets, kind: Widget}}\n`;
    expect(codes(crd('widgets.example.com'))).toEqual([]);
    expect(codes(crd('widget.example.com'))).toEqual(['manifest.invalid-name']);
  });

  it('keeps a __proto__ key as plain data', () => {
    const text =
      'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata:\n  __proto__: {polluted: "yes"}\n';
    const result = parseManifests(text);
    expect(result.ok).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.keys(result.objects[0]!.object.data as object)).toEqual(['__proto__']);
  });
});
