import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { stalled } from '@flotilla/errors';
import { parseImageRef, type RegistryCredentials } from '@flotilla/oci';
import { registerSecret } from '@flotilla/runtime';
import type { Config, WatchedImageConfig } from './config.ts';

/** A watched image with its config resolved: parsed reference, compiled regexes, credentials read. */
export interface WatchedImage {
  /** Canonical `registry/repository`: the lease key, the KV key and the events' `image`. */
  image: string;
  registry: string;
  repository: string;
  tagFilter: RegExp | undefined;
  mutableTags: RegExp | undefined;
  intervalMs: number;
  maxTags: number;
  insecure: boolean;
  credentials: RegistryCredentials | undefined;
  /** Identifies the credentials without revealing them, so images sharing them share a client. */
  credentialsId: string;
  /** The repository manager's repository it is in, when declared (Nexus and Artifactory hooks name no host). */
  managerRepository?: string | undefined;
}

function compile(pattern: string | undefined, what: string): RegExp | undefined {
  if (pattern === undefined || pattern === '') return undefined;
  try {
    return new RegExp(pattern);
  } catch (err) {
    throw stalled(
      'config.invalid',
      `${what}: invalid regex ${JSON.stringify(pattern)}: ${(err as Error).message}`,
    );
  }
}

function readFile(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (err) {
    // The message names the file, never its content.
    throw stalled('config.invalid', `${what}: cannot read ${path}: ${(err as Error).message}`);
  }
}

/** Files win over inline values; every secret found is registered for log scrubbing. */
export function resolveCredentials(
  c: WatchedImageConfig['credentials'],
  image: string,
  env: NodeJS.ProcessEnv = process.env,
): RegistryCredentials | undefined {
  if (!c) return undefined;
  const token = c.tokenFile ? readFile(c.tokenFile, `${image} tokenFile`) : c.token;
  if (token) {
    registerSecret(token);
    return { token };
  }
  const username = c.usernameFile ? readFile(c.usernameFile, `${image} usernameFile`) : c.username;
  const password = c.passwordFile
    ? readFile(c.passwordFile, `${image} passwordFile`)
    : c.passwordEnv
      ? env[c.passwordEnv]
      : c.password;
  if (!username && !password) return undefined;
  if (!username || !password) {
    throw stalled('config.invalid', `${image}: credentials need both a username and a password`);
  }
  registerSecret(password);
  return { username, password };
}

export function resolveImage(c: WatchedImageConfig, config: Config, env?: NodeJS.ProcessEnv): WatchedImage {
  if (c.nexusRepository !== undefined) {
    throw stalled(
      'config.invalid',
      `images: ${c.image}: nexusRepository was renamed managerRepository (it names Artifactory repositories too): rename it`,
    );
  }
  const ref = parseImageRef(c.image);
  if (ref.tag || ref.digest) {
    throw stalled('config.invalid', `images: "${c.image}" must name a repository, without tag or digest`);
  }
  const credentials = resolveCredentials(c.credentials, c.image, env);
  // A one-way hash: never printed, only compared, so images with equal credentials share a client.
  const credentialsId = credentials
    ? createHash('sha256').update(JSON.stringify(credentials)).digest('hex').slice(0, 16)
    : 'anonymous';
  return {
    image: `${ref.registry}/${ref.repository}`,
    registry: ref.registry,
    repository: ref.repository,
    tagFilter: compile(c.tagFilter, `${c.image} tagFilter`),
    mutableTags: compile(c.mutableTags ?? config.poll.mutableTags, `${c.image} mutableTags`),
    intervalMs: c.intervalMs ?? config.poll.intervalMs,
    maxTags: c.maxTags ?? config.poll.maxTags,
    insecure: c.insecure ?? false,
    credentials,
    credentialsId,
    ...(c.managerRepository ? { managerRepository: c.managerRepository } : {}),
  };
}

/** Resolves all images; duplicates (same canonical name) are a config error, not a silent merge. */
export function resolveImages(config: Config, env?: NodeJS.ProcessEnv): WatchedImage[] {
  const out = new Map<string, WatchedImage>();
  for (const c of config.images) {
    const w = resolveImage(c, config, env);
    if (out.has(w.image)) throw stalled('config.invalid', `images: ${w.image} is listed twice`);
    out.set(w.image, w);
  }
  return [...out.values()];
}
