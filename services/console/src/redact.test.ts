import { describe, expect, it } from 'vitest';
import { isSecretPath, redactDiffs, redactEventData } from './redact.ts';

describe('drift redaction', () => {
  it('hides every value of a Secret and credential-named fields or env vars, keeps the rest', () => {
    expect(isSecretPath('Secret shop/db', '.data.anything')).toBe(true);
    expect(
      isSecretPath(
        'apps/Deployment shop/web',
        '.spec.template.spec.containers[name=web].env[name=DB_PASSWORD].value',
      ),
    ).toBe(true);
    expect(isSecretPath('ConfigMap shop/cfg', '.data.api_key')).toBe(true);
    expect(isSecretPath('ConfigMap shop/cfg', '.data.authToken')).toBe(true);
    expect(isSecretPath('apps/Deployment shop/web', '.spec.replicas')).toBe(false);
    expect(isSecretPath('apps/Deployment shop/web', '.spec.template.spec.containers[name=web].image')).toBe(
      false,
    );
  });

  it('replaces values by a short hash: equal values hash alike, the value never appears', () => {
    const out = redactDiffs('Secret shop/db', [
      { path: '.data.password', expected: 'czNjcjN0', actual: 'czNjcjN0x', manager: 'kubectl-edit' },
      { path: '.data.user', expected: 'YWRtaW4=', actual: 'YWRtaW4=' },
    ]);
    expect(JSON.stringify(out)).not.toMatch(/czNjcjN0|YWRtaW4/);
    expect(out[0]?.manager).toBe('kubectl-edit');
    expect(out[0]?.expected).not.toBe(out[0]?.actual);
    expect(out[1]?.expected).toBe(out[1]?.actual);
    expect(out[0]?.expected).toMatch(/^«redacted sha256:[0-9a-f]{12}»$/);
  });

  it('shows drift the applier already hashed as short keyed hashes, absent sides as absent', () => {
    const out = redactDiffs('Secret shop/db', [
      {
        path: '.data.password',
        sensitive: true,
        expectedHash: `hmac-sha256:${'a'.repeat(64)}`,
        actualHash: `hmac-sha256:${'b'.repeat(64)}`,
        manager: 'kubectl-edit',
      },
      { path: '.data.gone', sensitive: true, expectedHash: `hmac-sha256:${'c'.repeat(64)}` },
    ]);
    expect(out).toEqual([
      {
        path: '.data.password',
        expected: '«secret hmac:aaaaaaaaaaaa»',
        actual: '«secret hmac:bbbbbbbbbbbb»',
        manager: 'kubectl-edit',
      },
      { path: '.data.gone', expected: '«secret hmac:cccccccccccc»', actual: '(absent)' },
    ]);
  });

  it('redacts DriftDetected payloads and leaves other events alone', () => {
    const drift = redactEventData('DriftDetected', {
      object: 'Secret a/b',
      diffs: [{ path: '.stringData.token', expected: 'hunter2', actual: 'hunter3' }],
    });
    expect(JSON.stringify(drift)).not.toContain('hunter');
    const other = { cluster: 'dev', planId: 'p' };
    expect(redactEventData('ApplySucceeded', other)).toBe(other);
  });
});
