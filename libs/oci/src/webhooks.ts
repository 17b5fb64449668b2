import { isValidTag } from './image-ref.ts';
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
export function parseHarborEvent(
  body: unknown,
  headers?: Record<string, string | string[] | undefined>,
): RegistryPushEvent[] {
  const root = obj(parseBody(body));
  if (!root) return [];
  const header = (name: string) => {
    const v = headers?.[name] ?? headers?.[name.toLowerCase()];
    return Array.isArray(v) ? v[0] : v;
  };
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

export type WebhookSource = 'distribution' | 'dockerhub' | 'harbor';

/** Dispatch by source; the receiver knows which endpoint the payload came to. */
export function parseRegistryWebhook(
  source: WebhookSource,
  body: unknown,
  headers?: Record<string, string | string[] | undefined>,
): RegistryPushEvent[] {
  switch (source) {
    case 'distribution':
      return parseDistributionNotification(body);
    case 'dockerhub':
      return parseDockerHubPush(body);
    case 'harbor':
      return parseHarborEvent(body, headers);
  }
}
