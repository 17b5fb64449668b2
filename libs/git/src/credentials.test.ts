import { describe, expect, it } from 'vitest';
import { credentialEnv, secretsOf, splitUrlCredentials, sshCommand } from './credentials.ts';
import { redactText, redactUrl } from './redact.ts';

describe('redaction', () => {
  it('removes the whole user-info of URLs', () => {
    expect(redactUrl('https://x-access-token:ghs_abc@github.com/org/repo.git')).toBe(
      'https://***@github.com/org/repo.git',
    );
    expect(redactUrl('https://ghp_token@github.com/org/repo')).toBe('https://***@github.com/org/repo');
    expect(redactUrl('ssh://git@host:22/repo.git')).toBe('ssh://***@host:22/repo.git');
    expect(redactUrl('git@github.com:org/repo.git')).toBe('git@github.com:org/repo.git');
    expect(redactUrl('https://github.com/org/repo.git')).toBe('https://github.com/org/repo.git');
  });

  it('redacts URLs and secrets inside text', () => {
    expect(
      redactText("fatal: unable to access 'https://u:secret123@h/r.git/': denied secret123", ['secret123']),
    ).toBe("fatal: unable to access 'https://***@h/r.git/': denied ***");
  });
});

describe('credentials', () => {
  it('moves credentials out of https URLs', () => {
    expect(splitUrlCredentials('https://bot:t0k3n@git.example/r.git')).toEqual({
      url: 'https://git.example/r.git',
      credentials: { token: 't0k3n', username: 'bot' },
    });
    expect(splitUrlCredentials('https://t0k3n@git.example/r.git').credentials).toEqual({ token: 't0k3n' });
    expect(splitUrlCredentials('git://h/r.git', { token: 'x' })).toEqual({
      url: 'git://h/r.git',
      credentials: { token: 'x' },
    });
  });

  it('scopes the token header to the origin and keeps it out of argv', () => {
    const env = credentialEnv('https://git.example:8443/org/r.git', { token: 'abc' });
    expect(env.GIT_CONFIG_KEY_0).toBe('http.https://git.example:8443/.extraHeader');
    expect(env.GIT_CONFIG_VALUE_0).toBe(
      `Authorization: Basic ${Buffer.from('x-access-token:abc').toString('base64')}`,
    );
    expect(env.GIT_TERMINAL_PROMPT).toBe('0');
    expect(credentialEnv('https://h/r', { token: 'abc', tokenScheme: 'bearer' }).GIT_CONFIG_VALUE_0).toBe(
      'Authorization: Bearer abc',
    );
    // No token header for non-http remotes.
    expect(credentialEnv('git@h:r.git', { token: 'abc' }).GIT_CONFIG_COUNT).toBeUndefined();
    expect(secretsOf({ token: 'abc' })).toContain('abc');
  });

  it('builds an ssh command with the key, identities only and host key policy', () => {
    expect(sshCommand({ sshKeyFile: "/keys/it's key" })).toBe(
      "ssh -o BatchMode=yes -o ConnectTimeout=15 -o StrictHostKeyChecking=accept-new -i '/keys/it'\\''s key' -o IdentitiesOnly=yes",
    );
    expect(sshCommand({ strictHostKeyChecking: true, knownHostsFile: '/k/known_hosts' })).toContain(
      "StrictHostKeyChecking=yes -o 'UserKnownHostsFile=/k/known_hosts'",
    );
    expect(sshCommand({ strictHostKeyChecking: false })).toContain(
      'StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null',
    );
  });
});
