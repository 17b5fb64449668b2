import { describe, expect, it } from 'vitest';
import { loadObject } from '../../test/load-object.ts';
import { computeDrift } from './compute-drift.ts';
import { protectDrift, valueHash } from './protect-values.ts';

const key = new TextEncoder().encode('k'.repeat(32));
const secretPaths = (path: string) => path.startsWith('.data') || path.startsWith('.stringData');

describe('protectDrift', () => {
  it('secret-data-edit: a Secret edited with kubectl reports paths and keyed hashes, never the values', () => {
    const desired = loadObject(import.meta.url, './fixtures/secret-data-edit/desired.yaml');
    const live = loadObject(import.meta.url, './fixtures/secret-data-edit/live.yaml');
    const drift = computeDrift(desired, live, { fieldManager: 'flotilla' });
    expect(drift.map((d) => d.path)).toEqual(['.data.password', '.stringData.url', '.type']);
    const reported = protectDrift(drift, { key, sensitive: secretPaths });
    expect(reported).toEqual([
      {
        path: '.data.password',
        sensitive: true,
        expectedHash: valueHash(key, 'czNjcjN0LW9sZA=='),
        actualHash: valueHash(key, 'aHVudGVyMi1uZXc='),
        manager: 'kubectl-edit',
      },
      {
        path: '.stringData.url',
        sensitive: true,
        expectedHash: valueHash(key, 'postgres://app:pw-old@db/app'),
      },
      { path: '.type', expected: 'Opaque', actual: 'kubernetes.io/basic-auth', manager: 'kubectl-edit' },
    ]);
    const text = JSON.stringify(reported);
    for (const value of ['czNjcjN0LW9sZA==', 'aHVudGVyMi1uZXc=', 'pw-old', 's3cr3t', 'hunter2'])
      expect(text).not.toContain(value);
  });

  it('hashes are keyed: equal values hash alike under one key, differently under another', () => {
    const other = new TextEncoder().encode('o'.repeat(32));
    expect(valueHash(key, 'hunter2')).toBe(valueHash(key, 'hunter2'));
    expect(valueHash(key, 'hunter2')).not.toBe(valueHash(other, 'hunter2'));
    expect(valueHash(key, { a: 1, b: 2 })).toBe(valueHash(key, { b: 2, a: 1 }));
    expect(valueHash(key, 'hunter2')).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
  });
});
