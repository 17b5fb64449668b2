import { describe, expect, it } from 'vitest';
import { createEvent, DriftDetected, isSensitiveField, sensitiveFieldRule, validateEvent } from './index.ts';

const drift = (object: string, diffs: unknown[]) =>
  createEvent(DriftDetected, { cluster: 'prod', object, diffs, policy: 'report' } as never, {
    source: 'flotilla://cluster-applier/a',
    actor: 'service:cluster-applier',
  });
const hash = (c: string) => `hmac-sha256:${c.repeat(64)}`;

describe('sensitive fields', () => {
  it.each([
    ['Secret shop/db', '.data.password', true],
    ['Secret shop/db', '.stringData.url', true],
    ['Secret shop/db', '.data', true],
    ['Secret shop/db', '.metadata.annotations.note', true],
    ['Secret shop/db', '.type', false],
    ['Secret shop/db', '.metadata.labels.app', false],
    ['Secret shop/db', '.', false],
    [
      'apps/Deployment shop/web',
      '.spec.template.spec.containers[name=web].env[name=DB_PASSWORD].value',
      true,
    ],
    ['apps/Deployment shop/web', '.spec.template.spec.containers[name=web].env[name=API_TOKEN].value', true],
    ['ConfigMap shop/cfg', '.data.client-secret', true],
    ['ConfigMap shop/cfg', '.data.tls.key', true],
    ['apps/Deployment shop/web', '.spec.template.spec.containers[name=web].image', false],
    ['apps/Deployment shop/web', '.spec.template.spec.volumes[name=db].secret.secretName', false],
    ['apps/Deployment shop/web', '.spec.template.spec.imagePullSecrets', false],
    ['example.com/Secret shop/x', '.spec.value', false],
  ])('%s %s → %s', (object, path, expected) => {
    expect(isSensitiveField(object, path)).toBe(expected);
  });

  it('a DriftDetected carrying a Secret value is invalid, naming the path', () => {
    const leaky = drift('Secret shop/db', [
      { path: '.data.password', expected: 'czNjcjN0', actual: 'aHVudGVy' },
    ]);
    expect(() => validateEvent(leaky)).toThrow(/\.data\.password of Secret shop\/db is sensitive/);
    expect(() => validateEvent(leaky)).toThrow(expect.objectContaining({ code: 'event.forbidden-content' }));
    const envLeak = drift('apps/Deployment shop/web', [
      { path: '.spec.template.spec.containers[name=web].env[name=DB_PASSWORD].value', actual: 'hunter2' },
    ]);
    expect(() => validateEvent(envLeak)).toThrow(/DB_PASSWORD.*is sensitive/);
  });

  it('a diff marked sensitive can carry hashes only, never a value too', () => {
    const both = drift('ConfigMap shop/cfg', [
      { path: '.data.mode', sensitive: true, expectedHash: hash('a'), expected: 'x' },
    ]);
    expect(() => validateEvent(both)).toThrow(/invalid DriftDetected data/);
    const notAHash = drift('Secret shop/db', [
      { path: '.data.password', sensitive: true, actualHash: 'hunter2' },
    ]);
    expect(() => validateEvent(notAHash)).toThrow(/invalid DriftDetected data/);
  });

  it('hashed Secret drift and plain drift of ordinary fields are valid', () => {
    const ok = drift('Secret shop/db', [
      {
        path: '.data.password',
        sensitive: true,
        expectedHash: hash('a'),
        actualHash: hash('b'),
        manager: 'kubectl-edit',
      },
      { path: '.data.removed', sensitive: true, expectedHash: hash('c') },
      { path: '.type', expected: 'Opaque', actual: 'kubernetes.io/basic-auth' },
    ]);
    expect(validateEvent(ok).data).toMatchObject({ object: 'Secret shop/db' });
    const plain = drift('apps/Deployment shop/web', [{ path: '.spec.replicas', expected: 2, actual: 5 }]);
    expect(validateEvent(plain).data).toMatchObject({ diffs: [{ expected: 2, actual: 5 }] });
  });

  it('configured sensitive paths add to the contract, per kind or for every kind, never remove', () => {
    const rule = sensitiveFieldRule('ConfigMap:.data.DATABASE_URL, *:.spec.dsnParts');
    const cm = { kind: 'ConfigMap', label: 'ConfigMap shop/cfg' };
    const web = { kind: 'Deployment', label: 'apps/Deployment shop/web' };
    expect(rule(cm, '.data.DATABASE_URL')).toBe(true);
    expect(rule(cm, '.data.DATABASE_URL_RO')).toBe(false); // a sibling, not below the path
    expect(rule(web, '.data.DATABASE_URL')).toBe(false); // another kind
    expect(rule(web, '.spec.dsnParts[0].host')).toBe(true);
    expect(rule(cm, '.data.api-token')).toBe(true); // the contract still applies
    expect(rule({ kind: 'Secret', label: 'Secret shop/db' }, '.data.password')).toBe(true);
    expect(sensitiveFieldRule(undefined)(web, '.spec.replicas')).toBe(false);
  });

  it('a malformed configured path is refused, naming the setting', () => {
    expect(() => sensitiveFieldRule('ConfigMap.data.x', 'diff.sensitivePaths')).toThrow(
      /diff\.sensitivePaths: "ConfigMap\.data\.x" is not Kind:\.path/,
    );
  });
});
