import { redactUrl } from './redact.ts';

/**
 * How to authenticate to a remote. Secrets only ever travel to git through the child's environment
 * (never argv, which `ps` shows, and never the remote URL, which git stores and prints).
 */
export interface GitCredentials {
  /** Token for https remotes (GitHub/GitLab/Gitea PAT, app installation token...). */
  token?: string;
  /** Username sent with the token in Basic auth; default `x-access-token` (GitHub's convention). */
  username?: string;
  /** `basic` (default, works with GitHub, GitLab, Gitea) or `bearer` (Azure DevOps, some proxies). */
  tokenScheme?: 'basic' | 'bearer';
  /** Private key file for ssh remotes. */
  sshKeyFile?: string;
  /** ssh StrictHostKeyChecking: true → `yes`, false → `no`, or `accept-new` (default). */
  strictHostKeyChecking?: boolean | 'accept-new';
  /** known_hosts file to check host keys against (e.g. mounted from a secret). */
  knownHostsFile?: string;
}

/** Single-quotes a value for the POSIX shell that git runs GIT_SSH_COMMAND through. */
function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** The `GIT_SSH_COMMAND` for these credentials: batch mode, so a missing key fails instead of prompting. */
export function sshCommand(creds: GitCredentials = {}, connectTimeoutSeconds = 15): string {
  const strict =
    creds.strictHostKeyChecking === true
      ? 'yes'
      : creds.strictHostKeyChecking === false
        ? 'no'
        : 'accept-new';
  const parts = ['ssh', '-o', 'BatchMode=yes', '-o', `ConnectTimeout=${connectTimeoutSeconds}`];
  parts.push('-o', `StrictHostKeyChecking=${strict}`);
  if (creds.knownHostsFile) parts.push('-o', shellQuote(`UserKnownHostsFile=${creds.knownHostsFile}`));
  else if (creds.strictHostKeyChecking === false) parts.push('-o', 'UserKnownHostsFile=/dev/null');
  if (creds.sshKeyFile) parts.push('-i', shellQuote(creds.sshKeyFile), '-o', 'IdentitiesOnly=yes');
  return parts.join(' ');
}

/** Splits credentials embedded in an https URL out of it, so they are never stored as the remote URL. */
export function splitUrlCredentials(
  url: string,
  creds: GitCredentials = {},
): { url: string; credentials: GitCredentials } {
  const m = /^(https?:\/\/)([^/@]*)@(.*)$/i.exec(url);
  if (!m) return { url, credentials: creds };
  const [, scheme, userinfo = '', rest] = m;
  const [user, pass] = userinfo.split(':', 2).map((s) => decodeURIComponent(s));
  const merged: GitCredentials = { ...creds };
  if (pass) {
    merged.token ??= pass;
    merged.username ??= user;
  } else if (user) {
    merged.token ??= user;
  }
  return { url: `${scheme}${rest}`, credentials: merged };
}

/** The origin (`https://host[:port]/`) a token is scoped to, so it is never sent to another host. */
function httpOrigin(url: string): string | undefined {
  try {
    const u = new URL(url);
    if (u.protocol !== 'https:' && u.protocol !== 'http:') return undefined;
    return `${u.protocol}//${u.host}/`;
  } catch {
    return undefined;
  }
}

/**
 * Environment for one git invocation against `url`: ssh command, no prompts, and the token as a
 * URL-scoped `http.<origin>.extraHeader` set through GIT_CONFIG_COUNT/KEY/VALUE.
 */
export function credentialEnv(url: string | undefined, creds: GitCredentials = {}): Record<string, string> {
  const env: Record<string, string> = {
    GIT_TERMINAL_PROMPT: '0',
    GIT_SSH_COMMAND: sshCommand(creds),
  };
  const origin = url ? httpOrigin(url) : undefined;
  if (creds.token && origin) {
    const value =
      creds.tokenScheme === 'bearer'
        ? `Authorization: Bearer ${creds.token}`
        : `Authorization: Basic ${Buffer.from(`${creds.username ?? 'x-access-token'}:${creds.token}`).toString('base64')}`;
    env.GIT_CONFIG_COUNT = '1';
    env.GIT_CONFIG_KEY_0 = `http.${origin}.extraHeader`;
    env.GIT_CONFIG_VALUE_0 = value;
  }
  return env;
}

/** Strings that must never appear in logs or errors for these credentials. */
export function secretsOf(creds: GitCredentials = {}): string[] {
  if (!creds.token) return [];
  return [
    creds.token,
    Buffer.from(`${creds.username ?? 'x-access-token'}:${creds.token}`).toString('base64'),
  ];
}

export { redactUrl };
