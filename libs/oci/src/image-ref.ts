import { OciError } from './errors.ts';

export interface ImageRef {
  /** Registry host[:port]; `docker.io` for Docker Hub. */
  registry: string;
  /** Repository path, with `library/` for Docker Hub official images. */
  repository: string;
  tag?: string;
  digest?: string;
}

export const DOCKER_HUB = 'docker.io';
/** Where Docker Hub's registry API actually lives. */
export const DOCKER_HUB_API = 'registry-1.docker.io';

// Grammar from the distribution reference package, in our own words.
const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;
const SHA256 = /^sha256:[a-f0-9]{64}$/;
const SHA512 = /^sha512:[a-f0-9]{128}$/;
const HOST =
  /^(?:\[[0-9a-fA-F:.]+\]|[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*)(?::\d{1,5})?$/;

function invalid(input: string, why: string): OciError {
  return new OciError('oci.invalid-reference', `invalid image reference "${input}": ${why}`, {
    details: { reference: input },
  });
}

export function isValidTag(tag: string): boolean {
  return TAG.test(tag);
}

export function isValidDigest(digest: string): boolean {
  if (!DIGEST.test(digest)) return false;
  if (digest.startsWith('sha256:')) return SHA256.test(digest);
  if (digest.startsWith('sha512:')) return SHA512.test(digest);
  return true;
}

export function isValidRepository(repo: string): boolean {
  return repo.length > 0 && repo.length <= 255 && repo.split('/').every((c) => COMPONENT.test(c));
}

/** Docker Hub aliases fold into `docker.io`, so references compare equal however they were written. */
export function normalizeRegistry(host: string): string {
  const h = host.toLowerCase();
  if (h === 'index.docker.io' || h === 'registry-1.docker.io' || h === 'registry.hub.docker.com')
    return DOCKER_HUB;
  return host;
}

/**
 * Parse `[registry/]repository[:tag][@digest]` with Docker's rules: the first path component is a
 * registry only if it contains `.` or `:`, is `localhost`, or has uppercase letters; otherwise the
 * registry is Docker Hub and single-component names gain `library/`. No tag is invented: a bare
 * repository (what a watcher is configured with) stays tagless.
 */
export function parseImageRef(input: string): ImageRef {
  const ref = input.trim();
  if (ref === '') throw invalid(input, 'empty');
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!isValidDigest(digest)) throw invalid(input, `bad digest "${digest}"`);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!isValidTag(tag)) throw invalid(input, `bad tag "${tag}"`);
  }
  let registry = DOCKER_HUB;
  let repository = rest;
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (
      first.includes('.') ||
      first.includes(':') ||
      first === 'localhost' ||
      first !== first.toLowerCase()
    ) {
      if (!HOST.test(first)) throw invalid(input, `bad registry host "${first}"`);
      registry = normalizeRegistry(first);
      repository = rest.slice(slash + 1);
    }
  }
  if (registry === DOCKER_HUB && !repository.includes('/')) repository = `library/${repository}`;
  if (!isValidRepository(repository)) throw invalid(input, `bad repository "${repository}"`);
  return {
    registry,
    repository,
    ...(tag !== undefined ? { tag } : {}),
    ...(digest !== undefined ? { digest } : {}),
  };
}

/** The canonical string form: always with registry, `library/` kept. */
export function formatImageRef(ref: ImageRef): string {
  return `${ref.registry}/${ref.repository}${ref.tag ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
}
