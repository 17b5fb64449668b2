import { type ImageWebhookAccepted, type RouteDefinition, registryWatcherRoutes } from '@flotilla/api';
import {
  isValidDigest,
  isValidTag,
  normalizeRegistry,
  parseImageRef,
  parseRegistryWebhook,
  type RegistryPushEvent,
} from '@flotilla/oci';
import {
  header,
  type Logger,
  registerWebhookReceiver,
  type SignatureCheck,
  safeEqual,
  verifyBearer,
  verifyHexHmac,
  WebhookRefusal,
  type WebhookRejection,
} from '@flotilla/runtime';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { WatcherMetrics } from './metrics.ts';
import type { TagHint } from './tag-diff.ts';
import type { WatchedImage } from './watched-image.ts';

export type Receiver = 'distribution' | 'dockerhub' | 'harbor' | 'generic';

export interface WebhookSecrets {
  distributionToken?: string | undefined;
  dockerhubPathToken?: string | undefined;
  harborAuth?: string | undefined;
  genericSecret?: string | undefined;
}

export interface WebhookDeps {
  secrets: WebhookSecrets;
  bodyLimit: number;
  rejectionEventsPerMinute: number;
  images: () => WatchedImage[];
  /** Check these images now (here if owned, else forwarded to the owner). */
  dispatch(image: string, hints: TagHint[]): Promise<string | null>;
  /** Publishes WebhookRejected (the receiver rate-limits the calls). */
  publishRejection(rejection: WebhookRejection<Receiver>): Promise<void>;
  metrics: WatcherMetrics;
  logger: Logger;
}

/** The path as it may be logged and published: the Docker Hub secret segment never leaves. */
function publicPath(receiver: Receiver, url: string): string {
  const path = url.split('?')[0] ?? url;
  return receiver === 'dockerhub' ? '/hooks/dockerhub/<redacted>' : path.slice(0, 2048);
}

/**
 * Authenticity by receiver. Everything but the generic HMAC can be decided from headers and the
 * path alone, so oversized or unparsable bodies are still told apart from unauthenticated ones.
 */
function authenticate(
  receiver: Receiver,
  req: FastifyRequest,
  body: Buffer | undefined,
  secrets: WebhookSecrets,
): SignatureCheck | undefined {
  switch (receiver) {
    case 'distribution':
      return verifyBearer(secrets.distributionToken ?? '', header(req, 'authorization'));
    case 'harbor': {
      const got = header(req, 'authorization');
      const want = secrets.harborAuth ?? '';
      if (!got) return { ok: false, reason: 'missing-signature' };
      // Harbor sends the configured value verbatim; accept it with or without a `Bearer ` prefix.
      return safeEqual(got, want) || verifyBearer(want, got).ok
        ? { ok: true }
        : { ok: false, reason: 'bad-signature' };
    }
    case 'dockerhub': {
      const token = (req.params as { token?: string }).token ?? '';
      return safeEqual(token, secrets.dockerhubPathToken ?? '')
        ? { ok: true }
        : { ok: false, reason: 'bad-signature' };
    }
    case 'generic': {
      if (!body) return undefined;
      return verifyHexHmac(secrets.genericSecret ?? '', body, header(req, 'x-flotilla-signature'));
    }
  }
}

function obj(v: unknown): Record<string, unknown> | undefined {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

const malformed = (message: string) => new WebhookRefusal(400, 'malformed', message.slice(0, 500));

/** Payload → push events; throws a 400 refusal when the body is not the receiver's shape at all. */
function parsePayload(receiver: Receiver, raw: Buffer, req: FastifyRequest): RegistryPushEvent[] {
  let body: unknown;
  try {
    body = raw.length === 0 ? undefined : JSON.parse(raw.toString('utf8'));
  } catch {
    throw malformed('request body is not valid JSON');
  }
  const root = obj(body);
  if (!root) throw malformed('body is not a JSON object');
  if (receiver === 'generic') {
    // `{ "image": "registry/repo[:tag]", "tag"?: "...", "digest"?: "sha256:..." }`
    if (typeof root.image !== 'string') throw malformed('generic payload needs "image"');
    let ref: ReturnType<typeof parseImageRef>;
    try {
      ref = parseImageRef(root.image);
    } catch (err) {
      throw malformed((err as Error).message);
    }
    const tag = typeof root.tag === 'string' ? root.tag : ref.tag;
    const digest = typeof root.digest === 'string' ? root.digest : ref.digest;
    return [
      {
        registry: ref.registry,
        repository: ref.repository,
        ...(tag ? { tag } : {}),
        ...(digest ? { digest } : {}),
      },
    ];
  }
  if (receiver === 'distribution' && !Array.isArray(root.events)) throw malformed('no "events" array');
  if (receiver === 'dockerhub' && (!obj(root.push_data) || !obj(root.repository)))
    throw malformed('no push_data/repository');
  try {
    return parseRegistryWebhook(receiver, body, req.headers);
  } catch (err) {
    throw malformed((err as Error).message);
  }
}

/**
 * Which watched image a pushed repository is. Registries behind proxies may name themselves
 * differently (Distribution's `request.host` is whatever Host the client used), so a sole image
 * with that repository path is taken, except when the sender can only be one registry: a Docker
 * Hub hook never triggers a check of a same-named repository elsewhere.
 */
export function matchImage(
  event: RegistryPushEvent,
  images: WatchedImage[],
  opts: { exactHost?: boolean } = {},
): WatchedImage | undefined {
  const candidates = images.filter((w) => w.repository === event.repository);
  if (event.registry) {
    const host = normalizeRegistry(event.registry);
    const exact = candidates.find((w) => normalizeRegistry(w.registry) === host);
    if (exact || opts.exactHost) return exact;
  }
  return candidates.length === 1 ? candidates[0] : undefined;
}

/** `/hooks/*` through the shared receiver: authenticate, parse, route each push to the image's check. */
export async function registerWebhookRoutes(app: FastifyInstance, deps: WebhookDeps): Promise<void> {
  const { secrets } = deps;
  const endpoint = (receiver: Receiver, route: RouteDefinition, enabled: boolean) => ({
    receiver,
    route,
    enabled,
    verify: (req: FastifyRequest, body: Buffer | undefined) => authenticate(receiver, req, body, secrets),
    publicPath: (url: string) => publicPath(receiver, url),
  });
  await registerWebhookReceiver<Receiver>(app, {
    bodyLimit: deps.bodyLimit,
    rejectionEventsPerMinute: deps.rejectionEventsPerMinute,
    metrics: deps.metrics,
    logger: deps.logger,
    publish: deps.publishRejection,
    endpoints: [
      endpoint('distribution', registryWatcherRoutes.distribution, !!secrets.distributionToken),
      endpoint('dockerhub', registryWatcherRoutes.dockerhub, !!secrets.dockerhubPathToken),
      endpoint('harbor', registryWatcherRoutes.harbor, !!secrets.harborAuth),
      endpoint('generic', registryWatcherRoutes.generic, !!secrets.genericSecret),
    ],
    handle: async (receiver, req, body) => {
      const events = parsePayload(receiver, body, req);
      const byImage = new Map<string, TagHint[]>();
      const images = deps.images();
      let ignored = 0;
      for (const e of events) {
        const image = matchImage(e, images, { exactHost: receiver === 'dockerhub' });
        if (!image) {
          ignored++;
          continue;
        }
        const hints = byImage.get(image.image) ?? [];
        // A delete or a push by digest (each platform manifest of a multi-arch push) names no
        // tag: the image is checked, and only what its tag list shows is reported.
        const tag = e.action !== 'delete' && e.tag && isValidTag(e.tag) ? e.tag : undefined;
        if (tag) hints.push({ tag, ...(e.digest && isValidDigest(e.digest) ? { digest: e.digest } : {}) });
        byImage.set(image.image, hints);
      }
      // Not-watched repositories are answered 202 too: a non-2xx makes Distribution retry forever.
      await Promise.all([...byImage].map(([image, hints]) => deps.dispatch(image, hints)));
      deps.metrics.webhooks.inc({ receiver, result: byImage.size > 0 ? 'dispatched' : 'ignored' });
      return {
        status: 202,
        body: { accepted: [...byImage.keys()], ignored } satisfies ImageWebhookAccepted,
      };
    },
  });
}
