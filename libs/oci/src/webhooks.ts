import { isValidRepository, isValidTag } from './image-ref.ts';
import { MANIFEST_MEDIA_TYPES } from './media-types.ts';

/**
 * Registry webhook payloads → one normalized shape. Pure functions: authenticity (static header,
 * unguessable URL, HMAC) is checked by the receiver before these run. Unknown or irrelevant
 * payloads yield an empty list rather than an error, since registries send pings and other events
 * to the same endpoint.
 */
export interface RegistryPushEvent {
  /**
   * `push` (default when absent) or `delete`. A delete names no tag the watcher could trust: it is
   * only a reason to look at the registry again, so forgotten tags are noticed before the next poll.
   */
  action?: 'push' | 'delete';
  repository: string;
  /** Only a valid tag: pushes by digest carry none (Harbor fills its tag field with the digest). */
  tag?: string;
  digest?: string;
  /** Registry host as the sender names it, when it does. */
  registry?: string;
  mediaType?: string;
  /** Sender's event id, for deduplication (Distribution and Harbor CloudEvents retry/duplicate). */
  id?: string;
  /** RFC 3339 time the sender gives for the push. */
  timestamp?: string;
  /**
   * Repository managers only (Nexus, Artifactory): the repository inside the manager (Nexus'
   * repository name, Artifactory's repository key) holding the image, one of the registries the
   * manager serves. They name no registry host, so the receiver finds the watched image by this and
   * the image path.
   */
  managerRepository?: string;
}

export const DISTRIBUTION_EVENTS_V1 = 'application/vnd.docker.distribution.events.v1+json';
export const DISTRIBUTION_EVENTS_V2 = 'application/vnd.docker.distribution.events.v2+json';

type Json = Record<string, unknown>;

function obj(v: unknown): Json | undefined {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : undefined;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

type HeaderMap = Record<string, string | string[] | undefined>;

function headerOf(headers: HeaderMap | undefined, name: string): string | undefined {
  const v = headers?.[name] ?? headers?.[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

function parseBody(body: unknown): unknown {
  if (typeof body === 'string') return JSON.parse(body);
  if (body instanceof Uint8Array) return JSON.parse(Buffer.from(body).toString('utf8'));
  return body;
}

/** A sender's tag only when it is one: Harbor puts the digest there for an untagged push. */
function tagOf(v: unknown): string | undefined {
  const t = str(v);
  return t && isValidTag(t) ? t : undefined;
}

function compact(e: RegistryPushEvent): RegistryPushEvent {
  return Object.fromEntries(
    Object.entries(e).filter(([, v]) => v !== undefined),
  ) as unknown as RegistryPushEvent;
}

/** True for both Distribution notification content types (v1 in 2.8, v2 in 3.x). */
export function isDistributionEventsContentType(contentType: string | null | undefined): boolean {
  const t = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  return t === DISTRIBUTION_EVENTS_V1 || t === DISTRIBUTION_EVENTS_V2;
}

function hostOf(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    return new URL(url).host || undefined;
  } catch {
    return undefined;
  }
}

/**
 * CNCF Distribution notifications `{events:[…]}`: keeps `push` events whose target is a manifest
 * (layer and config blob pushes arrive as separate events and are dropped), one entry per event,
 * and `delete` events (which carry only repository and digest). A push by digest (each platform
 * manifest of a multi-arch push) has no tag.
 */
export function parseDistributionNotification(body: unknown): RegistryPushEvent[] {
  const root = obj(parseBody(body));
  const events = Array.isArray(root?.events) ? root.events : [];
  const out: RegistryPushEvent[] = [];
  for (const raw of events) {
    const e = obj(raw);
    const target = obj(e?.target);
    const repository = str(target?.repository);
    if (!e || !target || !repository) continue;
    const request = obj(e.request);
    if (e.action === 'delete') {
      out.push(
        compact({
          action: 'delete',
          repository,
          digest: str(target.digest),
          registry: str(request?.host),
          id: str(e.id),
          timestamp: str(e.timestamp),
        }),
      );
      continue;
    }
    if (e.action !== 'push') continue;
    const mediaType = str(target.mediaType);
    if (!mediaType || !MANIFEST_MEDIA_TYPES.has(mediaType)) continue;
    out.push(
      compact({
        repository,
        tag: tagOf(target.tag),
        digest: str(target.digest),
        registry: str(request?.host) ?? hostOf(str(target.url)),
        mediaType,
        id: str(e.id),
        timestamp: str(e.timestamp),
      }),
    );
  }
  return out;
}

/** Docker Hub's push webhook (`push_data.tag`, `repository.repo_name`); Hub sends no digest. */
export function parseDockerHubPush(body: unknown): RegistryPushEvent[] {
  const root = obj(parseBody(body));
  const push = obj(root?.push_data);
  const repo = obj(root?.repository);
  let repository = str(repo?.repo_name);
  if (!repository) {
    const ns = str(repo?.namespace);
    const name = str(repo?.name);
    if (ns && name) repository = `${ns}/${name}`;
  }
  if (!push || !repository) return [];
  if (!repository.includes('/')) repository = `library/${repository}`;
  const pushedAt = push.pushed_at;
  return [
    compact({
      repository,
      tag: tagOf(push.tag),
      registry: 'docker.io',
      timestamp: typeof pushedAt === 'number' ? new Date(pushedAt * 1000).toISOString() : undefined,
    }),
  ];
}

// A Map, not an object literal: a payload `type` of `constructor` must not find a prototype member.
const HARBOR_TYPES = new Map<string, 'push' | 'delete'>([
  ['PUSH_ARTIFACT', 'push'],
  ['harbor.artifact.pushed', 'push'],
  ['DELETE_ARTIFACT', 'delete'],
  ['harbor.artifact.deleted', 'delete'],
]);

/**
 * Harbor, Default form (`type: PUSH_ARTIFACT`, `event_data`) or CloudEvents form (structured JSON
 * with `specversion`, `type: harbor.artifact.pushed`, `data`). For CloudEvents in binary mode pass
 * the `ce-*` headers and the body is taken as the data. Harbor sends one PUSH_ARTIFACT per
 * manifest PUT, including each platform manifest of a multi-arch push pushed by digest; then the
 * resource's `tag` is the digest itself (goharbor/harbor artifact webhook handler), which is no
 * tag and is dropped here.
 */
export function parseHarborEvent(body: unknown, headers?: HeaderMap): RegistryPushEvent[] {
  const root = obj(parseBody(body));
  if (!root) return [];
  const header = (name: string) => headerOf(headers, name);
  let type: string | undefined;
  let data: Json | undefined;
  let id: string | undefined;
  let time: string | undefined;
  if (str(root.specversion)) {
    type = str(root.type);
    data = obj(root.data);
    id = str(root.id);
    time = str(root.time);
  } else if (header('ce-type')) {
    type = header('ce-type');
    data = root;
    id = header('ce-id');
    time = header('ce-time');
  } else {
    type = str(root.type);
    data = obj(root.event_data);
    const occur = root.occur_at;
    // A timestamp outside Date's range is ignored rather than thrown (found by fast-check).
    const when = typeof occur === 'number' ? new Date(occur * 1000) : undefined;
    time = when && !Number.isNaN(when.getTime()) ? when.toISOString() : undefined;
  }
  const action = type ? HARBOR_TYPES.get(type) : undefined;
  if (!action || !data) return [];
  const repo = obj(data.repository);
  const fullName =
    str(repo?.repo_full_name) ??
    (str(repo?.namespace) && str(repo?.name) ? `${str(repo?.namespace)}/${str(repo?.name)}` : undefined);
  const resources = Array.isArray(data.resources) ? data.resources : [];
  const out: RegistryPushEvent[] = [];
  for (const raw of resources) {
    const r = obj(raw);
    if (!r) continue;
    const resourceUrl = str(r.resource_url);
    // resource_url is `host/namespace/name:tag` (or @digest): the only place Harbor names itself.
    const registry = resourceUrl?.includes('/') ? resourceUrl.slice(0, resourceUrl.indexOf('/')) : undefined;
    let repository = fullName;
    if (!repository && resourceUrl && registry) {
      repository = resourceUrl.slice(registry.length + 1).replace(/[@:][^/]*$/, '');
    }
    if (!repository) continue;
    out.push(
      compact({
        ...(action === 'delete' ? { action } : {}),
        repository,
        // A deleted artifact's tag is gone: the check that follows must not look for it.
        tag: action === 'push' ? tagOf(r.tag) : undefined,
        digest: str(r.digest),
        registry,
        id,
        timestamp: time,
      }),
    );
  }
  return out;
}

/** `docker_url` is `<SERVER_HOSTNAME>/<repository>`; the host is what precedes the repository. */
function quayHost(dockerUrl: string | undefined, repository: string): string | undefined {
  if (!dockerUrl) return undefined;
  const bare = dockerUrl.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  const suffix = `/${repository}`;
  const host = bare.endsWith(suffix) ? bare.slice(0, -suffix.length) : bare.split('/')[0];
  return host && !host.includes('/') ? host : undefined;
}

/**
 * Quay (quay.io, Red Hat Quay) "Push to Repository" notification: `repository` (`namespace/name`),
 * `docker_url` (`<SERVER_HOSTNAME>/<namespace>/<name>`) and `updated_tags`, one entry per tag.
 * Quay notifies only pushes by tag (a manifest pushed by digest for an index gets a temporary tag
 * and no notification) and sends no id or time. Quay's other repository notifications (builds,
 * vulnerabilities, mirroring) go to the same kind of URL without `updated_tags`: they yield
 * nothing. quay.io once sent `updated_tags` as an object keyed by tag; its keys are read too.
 */
export function parseQuayPush(body: unknown): RegistryPushEvent[] {
  const root = obj(parseBody(body));
  const repository = str(root?.repository);
  if (!root || !repository) return [];
  const listed = root.updated_tags;
  const keyed = obj(listed);
  const names = Array.isArray(listed) ? listed : keyed ? Object.keys(keyed) : undefined;
  if (!names) return [];
  const registry = quayHost(str(root.docker_url), repository);
  const tags = [...new Set(names.map(tagOf).filter((t): t is string => t !== undefined))];
  // A push whose tags are all unusable still says the repository changed: checked without a hint.
  if (tags.length === 0) return [compact({ repository, registry })];
  return tags.map((tag) => compact({ repository, tag, registry }));
}

/**
 * Azure Container Registry webhook: `action` is `push` (a manifest; `target.tag` when pushed by
 * tag), `delete` (a manifest or a whole repository, never a tag alone: no tag, maybe no digest),
 * `quarantine`, `chart_push`, `chart_delete`, or `ping` (the portal's and `az acr webhook ping`'s
 * test). Only pushes and deletes concern images; the rest yield nothing. `request.host` is the
 * login server the client used.
 */
export function parseAcrEvent(body: unknown): RegistryPushEvent[] {
  const root = obj(parseBody(body));
  const target = obj(root?.target);
  const repository = str(target?.repository);
  if (!root || !target || !repository) return [];
  const action = root.action;
  if (action !== 'push' && action !== 'delete') return [];
  const registry = str(obj(root.request)?.host);
  const common = { repository, digest: str(target.digest), registry, id: str(root.id) };
  if (action === 'delete') return [compact({ action, ...common, timestamp: str(root.timestamp) })];
  return [
    compact({
      ...common,
      tag: tagOf(target.tag),
      mediaType: str(target.mediaType),
      timestamp: str(root.timestamp),
    }),
  ];
}

/** The `X-Nexus-Webhook-ID` of component events (`rm:<type>:<name>`). */
export const NEXUS_COMPONENT_WEBHOOK = 'rm:repository:component';

// PURGED (a cleanup) names component ids only, nothing an image could be found by.
const NEXUS_ACTIONS = new Map<string, 'push' | 'delete'>([
  ['CREATED', 'push'],
  ['UPDATED', 'push'],
  ['DELETED', 'delete'],
]);

/** Nexus serializes dates as `2016-11-10T23:57:49.664+0000` (Jackson): given on as RFC 3339. */
function isoTime(v: unknown): string | undefined {
  const t = str(v);
  const when = t ? new Date(t) : undefined;
  return when && !Number.isNaN(when.getTime()) ? when.toISOString() : undefined;
}

/**
 * Sonatype Nexus Repository, "Webhook: Repository" capability, component events
 * (`X-Nexus-Webhook-ID: rm:repository:component`): `action` CREATED, UPDATED (a tag pushed again)
 * or DELETED; `repositoryName` is the Nexus repository, not a host; for `component.format`
 * `docker`, `component.name` is the image path and `component.version` the tag. Asset events,
 * other formats and purges yield nothing. The delivery id is `X-Nexus-Webhook-Delivery`.
 */
export function parseNexusEvent(body: unknown, headers?: HeaderMap): RegistryPushEvent[] {
  const root = obj(parseBody(body));
  if (!root || headerOf(headers, 'x-nexus-webhook-id') !== NEXUS_COMPONENT_WEBHOOK) return [];
  const action = typeof root.action === 'string' ? NEXUS_ACTIONS.get(root.action) : undefined;
  const component = obj(root.component);
  const repository = str(component?.name);
  const managerRepository = str(root.repositoryName);
  if (!action || !component || component.format !== 'docker' || !repository || !managerRepository) return [];
  return [
    compact({
      ...(action === 'delete' ? { action } : {}),
      repository,
      // A deleted component's tag is gone: the check that follows must not look for it.
      tag: action === 'push' ? tagOf(component.version) : undefined,
      managerRepository,
      id: headerOf(headers, 'x-nexus-webhook-delivery'),
      timestamp: isoTime(root.timestamp),
    }),
  ];
}

/** The `X-GitHub-Event`s that carry a package; the payload holds it under the event's name. */
const GITHUB_PACKAGE_EVENTS = new Set(['package', 'registry_package']);
// Only these make a version pullable; GitHub sends no other action for these events today.
const GITHUB_PACKAGE_ACTIONS = new Set(['published', 'updated']);
/** Where GitHub.com serves container packages (GitHub Enterprise Server names its own in package_url). */
const GHCR = 'ghcr.io';

function githubPackage(root: Json, headers: HeaderMap | undefined): Json | undefined {
  const event = headerOf(headers, 'x-github-event');
  return event && GITHUB_PACKAGE_EVENTS.has(event) ? obj(root[event]) : undefined;
}

/**
 * `container` in GitHub's docs, `CONTAINER` in what it sends; `docker` for images from the old
 * Docker registry (docker.pkg.github.com), since migrated to ghcr.io.
 */
function isContainerPackage(pkg: Json): boolean {
  const type = str(pkg.package_type)?.toLowerCase();
  return type === 'container' || type === 'docker';
}

/**
 * The image a package version is: `package_version.package_url` (`ghcr.io/<owner>/<name>:<tag>`;
 * GitHub leaves a bare `:` there for an untagged version) gives host and path; without one it is
 * `ghcr.io/<namespace>/<name>`, the namespace being the owner's login. GHCR paths are lower case
 * whatever case the owner's login has.
 */
function githubPackageImage(pkg: Json): { registry: string; repository: string } | undefined {
  const url = str(obj(pkg.package_version)?.package_url);
  if (url) {
    let rest = url.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
    const at = rest.indexOf('@');
    if (at >= 0) rest = rest.slice(0, at);
    const colon = rest.lastIndexOf(':');
    if (colon > rest.lastIndexOf('/')) rest = rest.slice(0, colon);
    const slash = rest.indexOf('/');
    const registry = rest.slice(0, slash).toLowerCase();
    const repository = rest.slice(slash + 1).toLowerCase();
    if (slash > 0 && /^[a-z0-9.-]+(?::\d{1,5})?$/.test(registry) && isValidRepository(repository))
      return { registry, repository };
  }
  const namespace = str(pkg.namespace) ?? str(obj(pkg.owner)?.login);
  const name = str(pkg.name);
  const repository = namespace && name ? `${namespace}/${name}`.toLowerCase() : undefined;
  return repository && isValidRepository(repository) ? { registry: GHCR, repository } : undefined;
}

/**
 * GitHub's `package` webhook event (`X-GitHub-Event: package`; `registry_package` from GitHub Apps
 * and older hooks, the same fields under `registry_package`): `action` `published` or `updated`
 * of a container package. The tag is `container_metadata.tag.name`, empty for a version pushed
 * without one (each platform manifest of a multi-arch push, an attestation), then there is no
 * tag; the digest is `container_metadata.tag.digest`. Other package types (npm, maven, …) and
 * other actions yield nothing. The delivery id is `X-GitHub-Delivery`.
 */
export function parseGhcrEvent(body: unknown, headers?: HeaderMap): RegistryPushEvent[] {
  const root = obj(parseBody(body));
  const pkg = root && githubPackage(root, headers);
  if (!root || !pkg || !GITHUB_PACKAGE_ACTIONS.has(root.action as string) || !isContainerPackage(pkg))
    return [];
  const image = githubPackageImage(pkg);
  if (!image) return [];
  const version = obj(pkg.package_version);
  const tag = obj(obj(version?.container_metadata)?.tag);
  const versionName = str(version?.name);
  return [
    compact({
      ...image,
      tag: tagOf(tag?.name),
      // A container version's name is its manifest digest too.
      digest: str(tag?.digest) ?? (versionName?.startsWith('sha256:') ? versionName : undefined),
      id: headerOf(headers, 'x-github-delivery'),
    }),
  ];
}

// A Map, not an object literal: an event_type of `constructor` must not find a prototype member.
const ARTIFACTORY_DOCKER_EVENTS = new Map<string, 'push' | 'delete' | 'promote'>([
  ['pushed', 'push'],
  ['deleted', 'delete'],
  ['promoted', 'promote'],
]);

function artifactoryEventType(root: Json): string | undefined {
  return str(root.event_type) ?? str(obj(root.data)?.event_type);
}

/**
 * The image path inside the Artifactory repository: `image_name`, else what `path`
 * (`<image>/<tag>/manifest.json` or `list.manifest.json`) holds above the tag folder.
 */
function artifactoryImagePath(data: Json): string | undefined {
  const name = str(data.image_name);
  if (name) return name;
  const parts = str(data.path)?.split('/') ?? [];
  return parts.length >= 3 && /manifest\.json$/.test(parts.at(-1) ?? '')
    ? parts.slice(0, -2).join('/')
    : undefined;
}

/**
 * JFrog Artifactory webhooks, domain `docker` ("Docker and OCI" events): `event_type` `pushed` (a
 * tag pushed: `data.tag`, `data.sha256` the manifest's digest), `deleted` (a tag deleted: checked
 * without it) or `promoted` (a tag promoted to another repository, which the payload does not
 * name: the repository it left is checked, without a tag). `data.repo_key` is the Artifactory
 * repository, not a host; `data.image_name` the image path in it. Other domains (artifact, build,
 * …) and event types yield nothing.
 */
export function parseArtifactoryEvent(body: unknown): RegistryPushEvent[] {
  const root = obj(parseBody(body));
  const data = obj(root?.data);
  if (!root || !data || root.domain !== 'docker') return [];
  const type = artifactoryEventType(root);
  const kind = type ? ARTIFACTORY_DOCKER_EVENTS.get(type) : undefined;
  const managerRepository = str(data.repo_key);
  const repository = artifactoryImagePath(data);
  if (!kind || !managerRepository || !repository || !isValidRepository(repository)) return [];
  const sha256 = str(data.sha256);
  return [
    compact({
      ...(kind === 'delete' ? { action: kind } : {}),
      repository,
      // Only a push leaves its tag in this repository.
      tag: kind === 'push' ? tagOf(data.tag) : undefined,
      digest: kind === 'push' && sha256 && /^[a-f0-9]{64}$/.test(sha256) ? `sha256:${sha256}` : undefined,
      managerRepository,
    }),
  ];
}

export type WebhookSource =
  | 'distribution'
  | 'dockerhub'
  | 'harbor'
  | 'quay'
  | 'acr'
  | 'nexus'
  | 'ghcr'
  | 'artifactory';

/**
 * Why an authenticated body is not the sender's payload at all (answered 400), or undefined.
 * Well-formed payloads of other events (a ping, a pull, a build notification, another package
 * format) are not malformed: they are acknowledged and yield no push.
 */
export function registryWebhookShapeError(
  source: WebhookSource,
  root: Record<string, unknown>,
  headers?: HeaderMap,
): string | undefined {
  switch (source) {
    case 'distribution':
      return Array.isArray(root.events) ? undefined : 'no "events" array';
    case 'dockerhub':
      return obj(root.push_data) && obj(root.repository) ? undefined : 'no push_data/repository';
    case 'harbor':
      return undefined;
    case 'quay': {
      if (!str(root.repository)) return 'no "repository"';
      const tags = root.updated_tags;
      return tags === undefined || Array.isArray(tags) || obj(tags)
        ? undefined
        : '"updated_tags" is not a list';
    }
    case 'acr': {
      if (!str(root.action)) return 'no "action"';
      const acts = root.action === 'push' || root.action === 'delete';
      return acts && !str(obj(root.target)?.repository)
        ? `${root.action} without target.repository`
        : undefined;
    }
    case 'nexus': {
      const hook = headerOf(headers, 'x-nexus-webhook-id');
      if (!hook) return 'no X-Nexus-Webhook-ID header';
      if (hook !== NEXUS_COMPONENT_WEBHOOK) return undefined;
      if (!str(root.action) || !str(root.repositoryName)) return 'no "action"/"repositoryName"';
      // A purge names ids, not a component; an action added in a later Nexus is not malformed.
      if (!NEXUS_ACTIONS.has(root.action as string)) return undefined;
      const component = obj(root.component);
      if (!component) return `${root.action} without "component"`;
      return component.format === 'docker' && !str(component.name)
        ? 'docker component without "name"'
        : undefined;
    }
    case 'ghcr': {
      const event = headerOf(headers, 'x-github-event');
      if (!event) return 'no X-GitHub-Event header';
      // A ping, or an event the hook was also subscribed to: acknowledged.
      if (!GITHUB_PACKAGE_EVENTS.has(event)) return undefined;
      const pkg = obj(root[event]);
      if (!str(root.action) || !pkg) return `no "action"/"${event}"`;
      if (!GITHUB_PACKAGE_ACTIONS.has(root.action as string) || !isContainerPackage(pkg)) return undefined;
      if (!obj(pkg.package_version)) return `${root.action} ${event} without "package_version"`;
      return githubPackageImage(pkg)
        ? undefined
        : `${root.action} ${event} names no image (package_url, namespace/name)`;
    }
    case 'artifactory': {
      const type = artifactoryEventType(root);
      if (!str(root.domain) || !type) return 'no "domain"/"event_type"';
      if (root.domain !== 'docker' || !ARTIFACTORY_DOCKER_EVENTS.has(type)) return undefined;
      const data = obj(root.data);
      if (!data || !str(data.repo_key)) return `docker ${type} without data.repo_key`;
      return artifactoryImagePath(data) ? undefined : `docker ${type} without data.image_name/path`;
    }
  }
}

/** Dispatch by source; the receiver knows which endpoint the payload came to. */
export function parseRegistryWebhook(
  source: WebhookSource,
  body: unknown,
  headers?: HeaderMap,
): RegistryPushEvent[] {
  switch (source) {
    case 'distribution':
      return parseDistributionNotification(body);
    case 'dockerhub':
      return parseDockerHubPush(body);
    case 'harbor':
      return parseHarborEvent(body, headers);
    case 'quay':
      return parseQuayPush(body);
    case 'acr':
      return parseAcrEvent(body);
    case 'nexus':
      return parseNexusEvent(body, headers);
    case 'ghcr':
      return parseGhcrEvent(body, headers);
    case 'artifactory':
      return parseArtifactoryEvent(body);
  }
}
