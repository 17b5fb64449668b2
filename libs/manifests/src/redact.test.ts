import { describe, expect, it } from 'vitest';
import { redactManifestForLog } from './redact.ts';

describe('redactManifestForLog', () => {
  it('drops Secret values and the last-applied copy, keeps key names, does not mutate', () => {
    const secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: 's',
        annotations: {
          'kubectl.kubernetes.io/last-applied-configuration': '{"data":{"password":"aHVudGVyMg=="}}',
          a: 'b',
        },
        managedFields: [{ manager: 'x' }],
      },
      data: { password: 'aHVudGVyMg==' },
      stringData: { token: 'hunter2' },
    };
    const redacted = redactManifestForLog(secret);
    expect(JSON.stringify(redacted)).not.toMatch(/hunter2|aHVudGVyMg/);
    expect(redacted).toEqual({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 's', annotations: { a: 'b' } },
      dataKeys: ['password', 'token'],
    });
    expect(secret.data.password).toBe('aHVudGVyMg==');
    expect(secret.metadata.managedFields).toHaveLength(1);
  });

  it('leaves other kinds alone apart from noise, and redacts Secrets inside Lists', () => {
    const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: { a: 'visible' } };
    expect(redactManifestForLog(cm)).toEqual(cm);
    const list = {
      apiVersion: 'v1',
      kind: 'List',
      items: [{ kind: 'Secret', metadata: { name: 'x' }, data: { k: 'djE=' } }],
    };
    expect(JSON.stringify(redactManifestForLog(list))).not.toContain('djE=');
    expect(redactManifestForLog('plain')).toBe('plain');
  });
});
