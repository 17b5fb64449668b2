import { sensitiveFieldRule } from '@flotilla/events';
import { describe, expect, it } from 'vitest';
import { loadObjects } from '../../test/load-objects.ts';
import { valueHash } from './protect-values.ts';
import { fieldChanges, renderedDiff } from './rendered-diff.ts';

const key = new TextEncoder().encode('k'.repeat(32));
const before = loadObjects(import.meta.url, './fixtures/rendered-diff/before.yaml');
const after = loadObjects(import.meta.url, './fixtures/rendered-diff/after.yaml');
const SECRET_VALUES = [
  'czNjcjN0LW9sZA==',
  'czNjcjN0LW5ldw==',
  'hunter2-old',
  'hunter2-new',
  'pw-old',
  'pw-new',
  'tok-new-123',
];

describe('renderedDiff', () => {
  const diff = renderedDiff(before, after, {
    key,
    sensitive: sensitiveFieldRule('ConfigMap:.data.DATABASE_URL'),
  });

  it('counts and names added, removed and changed objects; unchanged ones are only counted', () => {
    expect({ ...diff, objects: undefined }).toEqual({
      added: 1,
      removed: 1,
      changed: 3,
      unchanged: 1,
      objects: undefined,
      moreObjects: 0,
    });
    expect(diff.objects.map((o) => [o.change, o.object])).toEqual([
      ['changed', 'ConfigMap shop/cfg'],
      ['changed', 'Secret shop/db'],
      ['added', 'Service shop/api'],
      ['removed', 'Service shop/legacy'],
      ['changed', 'apps/Deployment shop/web'],
    ]);
  });

  it('lists the changed fields of a Deployment by container and env var name, values shown', () => {
    const web = diff.objects.find((o) => o.object === 'apps/Deployment shop/web');
    expect(web?.fields).toEqual([
      { path: '.metadata.annotations["app.kubernetes.io/version"]', after: '1.5.0' },
      { path: '.spec.replicas', before: 2, after: 3 },
      {
        path: '.spec.template.spec.containers[name=web].env[name=LOG_LEVEL].value',
        before: 'info',
        after: 'debug',
      },
      {
        path: '.spec.template.spec.containers[name=web].env[name=DB_PASSWORD].value',
        sensitive: true,
        beforeHash: valueHash(key, 'hunter2-old'),
        afterHash: valueHash(key, 'hunter2-new'),
      },
      {
        path: '.spec.template.spec.containers[name=web].image',
        before:
          'registry.local/shop/web:1.4.0@sha256:1111111111111111111111111111111111111111111111111111111111111111',
        after:
          'registry.local/shop/web:1.5.0@sha256:2222222222222222222222222222222222222222222222222222222222222222',
      },
      // An added container is entered, not shipped whole: its credential env var is hashed too.
      {
        path: '.spec.template.spec.containers[name=sidecar].env[name=API_TOKEN].name',
        sensitive: true,
        afterHash: valueHash(key, 'API_TOKEN'),
      },
      {
        path: '.spec.template.spec.containers[name=sidecar].env[name=API_TOKEN].value',
        sensitive: true,
        afterHash: valueHash(key, 'tok-new-123'),
      },
      { path: '.spec.template.spec.containers[name=sidecar].image', after: 'registry.local/shop/proxy:2.0' },
      { path: '.spec.template.spec.containers[name=sidecar].name', after: 'sidecar' },
    ]);
  });

  it("a Secret's data and a configured sensitive path are path and keyed hashes only", () => {
    expect(diff.objects.find((o) => o.object === 'Secret shop/db')?.fields).toEqual([
      {
        path: '.data.password',
        sensitive: true,
        beforeHash: valueHash(key, 'czNjcjN0LW9sZA=='),
        afterHash: valueHash(key, 'czNjcjN0LW5ldw=='),
      },
      {
        path: '.stringData.url',
        sensitive: true,
        afterHash: valueHash(key, 'postgres://app:pw-new@db/app'),
      },
    ]);
    expect(diff.objects.find((o) => o.object === 'ConfigMap shop/cfg')?.fields).toEqual([
      {
        path: '.data.DATABASE_URL',
        sensitive: true,
        beforeHash: valueHash(key, 'postgres://app:pw-old@db/app'),
        afterHash: valueHash(key, 'postgres://app:pw-new@db/app'),
      },
      { path: '.data.mode', before: 'blue', after: 'green' },
    ]);
    const text = JSON.stringify(diff);
    for (const v of SECRET_VALUES) expect(text).not.toContain(v);
  });

  it('is bounded: objects, fields per object and long values are cut, and says how much', () => {
    const long = after.map((o) =>
      o.kind === 'ConfigMap' && o.metadata.name === 'cfg'
        ? { ...o, data: { ...(o.data as object), mode: 'x'.repeat(5000) } }
        : o,
    );
    const small = renderedDiff(before, long, {
      key,
      sensitive: sensitiveFieldRule(undefined),
      maxObjects: 2,
      maxFields: 2,
      maxValueChars: 100,
    });
    expect(small.objects.map((o) => o.object)).toEqual(['ConfigMap shop/cfg', 'Secret shop/db']);
    expect(small.moreObjects).toBe(3);
    expect(small.changed).toBe(3);
    const mode = small.objects[0]?.fields?.find((f) => f.path === '.data.mode');
    expect(mode).toMatchObject({ before: 'blue', truncated: true });
    expect(String((mode as { after: string }).after)).toHaveLength(101);
    const full = renderedDiff(before, after, { key, sensitive: sensitiveFieldRule(undefined), maxFields: 2 });
    const web = full.objects.find((o) => o.object === 'apps/Deployment shop/web');
    expect(web?.fields).toHaveLength(2);
    expect(web?.moreFields).toBe(7);
  });

  it('a map turning into a scalar is reported leaf by leaf, so nothing sensitive rides inside it', () => {
    const prev = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'c' },
      data: { password: 'hunter2-old' },
    };
    const next = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: 'flat' };
    expect(fieldChanges(prev as never, next as never)).toEqual([
      { path: '.data.password', before: 'hunter2-old', after: undefined },
      { path: '.data', before: undefined, after: 'flat' },
    ]);
    const shown = renderedDiff([prev as never], [next as never], {
      key,
      sensitive: sensitiveFieldRule(undefined),
    });
    expect(JSON.stringify(shown)).not.toContain('hunter2-old');
  });

  it('the same sets give no changes; server metadata and the last-applied copy are not changes', () => {
    const live = before.map((o) => ({
      ...o,
      metadata: {
        ...o.metadata,
        resourceVersion: '42',
        uid: 'u',
        annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{"data":{"password":"x"}}' },
      },
    }));
    expect(fieldChanges(before[1] as never, live[1] as never)).toEqual([]);
    const same = renderedDiff(before, before, { key, sensitive: sensitiveFieldRule(undefined) });
    expect(same).toEqual({ added: 0, removed: 0, changed: 0, unchanged: 5, objects: [], moreObjects: 0 });
  });
});
