import { readFileSync } from 'node:fs';
import type { GitCredentials } from '@flotilla/git';
import { redactUrl, splitUrlCredentials } from '@flotilla/git';
import { ConfigError, registerSecret } from '@flotilla/runtime';
import type { Config, RepositoryConfig } from './config.ts';
import { remoteHost } from './host-limiter.ts';

/** A configured repository with its credentials read and everything derived once. */
export interface WatchedRepo {
  name: string;
  /** Remote URL without embedded credentials. */
  url: string;
  /** Safe to log and to put in events. */
  displayUrl: string;
  host: string;
  branch: string;
  paths: string[];
  intervalMs: number;
  credentials: GitCredentials;
  signature: RepositoryConfig['signature'];
  historyRewrite: 'continue' | 'halt';
  aliases: string[];
}

function readToken(c: NonNullable<RepositoryConfig['credentials']>, repo: string, env: NodeJS.ProcessEnv) {
  if (c.tokenFile) {
    try {
      return readFileSync(c.tokenFile, 'utf8').trim();
    } catch (err) {
      throw new ConfigError([`repositories.${repo}.credentials.tokenFile: ${(err as Error).message}`]);
    }
  }
  if (c.tokenEnv) {
    const v = env[c.tokenEnv];
    if (!v) throw new ConfigError([`repositories.${repo}.credentials.tokenEnv: ${c.tokenEnv} is not set`]);
    return v;
  }
  return c.token;
}

/** Validates the repository list (unique names, readable secrets) and registers every secret for log scrubbing. */
export function resolveRepos(config: Config, env: NodeJS.ProcessEnv = process.env): WatchedRepo[] {
  const seen = new Set<string>();
  const problems: string[] = [];
  const out: WatchedRepo[] = [];
  for (const r of config.repositories) {
    if (seen.has(r.name)) problems.push(`repositories: name "${r.name}" is used twice`);
    seen.add(r.name);
    if (r.signature.policy !== 'off' && !r.signature.allowedSignersFile && !r.signature.gpgHome)
      problems.push(
        `repositories.${r.name}.signature: policy ${r.signature.policy} needs allowedSignersFile or gpgHome`,
      );
    const creds: GitCredentials = {};
    const c = r.credentials;
    if (c) {
      const token = readToken(c, r.name, env);
      if (token) creds.token = token;
      if (c.username) creds.username = c.username;
      if (c.tokenScheme) creds.tokenScheme = c.tokenScheme;
      if (c.sshKeyFile) creds.sshKeyFile = c.sshKeyFile;
      if (c.knownHostsFile) creds.knownHostsFile = c.knownHostsFile;
      if (c.strictHostKeyChecking !== undefined) creds.strictHostKeyChecking = c.strictHostKeyChecking;
    }
    // A token embedded in the URL is moved out of it, so it is never stored, logged or put in an event.
    const split = splitUrlCredentials(r.url, creds);
    if (split.credentials.token) {
      registerSecret(split.credentials.token);
      registerSecret(
        Buffer.from(`${split.credentials.username ?? 'x-access-token'}:${split.credentials.token}`).toString(
          'base64',
        ),
      );
    }
    out.push({
      name: r.name,
      url: split.url,
      displayUrl: redactUrl(split.url),
      host: remoteHost(split.url),
      branch: r.branch,
      paths: r.paths,
      intervalMs: r.intervalMs ?? config.poll.intervalMs,
      credentials: split.credentials,
      signature: r.signature,
      historyRewrite: r.historyRewrite,
      aliases: r.aliases,
    });
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return out;
}
