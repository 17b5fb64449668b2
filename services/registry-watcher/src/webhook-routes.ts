import {
  type ImageWebhookAccepted,
  type ImageWebhookPing,
  type RouteDefinition,
  registryWatcherRoutes,
} from '@flotilla/api';
import {
  isValidDigest,
  isValidTag,
  normalizeRegistry,
  parseImageRef,
  parseRegistryWebhook,
  type RegistryPushEvent,
  registryWebhookShapeError,
  type WebhookSource,
} from '@flotilla/oci';
import {
  header,
  type Logger,
  parseUntrustedJson,
  registerWebhookReceiver,
  type SignatureCheck,
  safeEqual,
  type UntrustedJsonError,
  verifyBearer,
  verifyGithubSignature,
  verifyHexHmac,
  verifyJfrogEventAuth,
  verifyNexusSignature,
  WebhookRefusal,
  type WebhookRejection,
  webhookJsonText,
} from '@flotilla/runtime';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { WatcherMetrics } from './metrics.ts';
import type { TagHint } from './tag-diff.ts';
import type { WatchedImage } from './watched-image.ts';

/** Every registry whose payload libs/oci parses, and the generic HMAC receiver. */
export type Receiver = WebhookSource | 'generic';

export interface WebhookSecrets {
  distributionToken?: string | undefined;
  dockerhubPathToken?: string | undefined;
  harborAuth?: string | undefined;
  quayPathToken?: string | undefined;
  acrAuth?: string | undefined;
  nexusSecret?: string | undefined;
  ghcrSecret?: string | undefined;
  artifactorySecret?: string | undefined;
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

/** The path as it may be logged and published: a secret path segment (Docker Hub, Quay) never leaves. */
function publicPath(receiver: Receiver, url: string): string {
  const path = url.split('?')[0] ?? url;
  return receiver === 'dockerhub' || receiver === 'quay'
    ? `/hooks/${receiver}/<redacted>`
    : path.slice(0, 2048);
}

/**
 * A static `Authorization` value set on the sender's hook (Harbor's policy auth header, an ACR
 * custom header): taken verbatim, or with a `Bearer ` prefix the sender may add.
 */
function verifyAuthorizationValue(want: string, got: string | undefined): SignatureCheck {
  if (!got) return { ok: false, reason: 'missing-signature' };
  return safeEqual(got, want) || verifyBearer(want, got).ok
    ? { ok: true }
    : { ok: false, reason: 'bad-signature' };
}

/** A secret path segment (`/hooks/<receiver>/:token`): senders that sign nothing. */
function verifyPathToken(req: FastifyRequest, want: string): SignatureCheck {
  const token = (req.params as { token?: string }).token ?? '';
  return safeEqual(token, want) ? { ok: true } : { ok: false, reason: 'bad-signature' };
}

/**
 * Authenticity by receiver. Everything but the HMACs (generic, Nexus, GHCR, Artifactory) can be
 * decided from headers and the path alone, so oversized or unparsable bodies are still told apart
 * from unauthenticated ones; a request to an HMAC receiver without its header is one too.
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
    case 'harbor':
      return verifyAuthorizationValue(secrets.harborAuth ?? '', header(req, 'authorization'));
    case 'acr':
      return verifyAuthorizationValue(secrets.acrAuth ?? '', header(req, 'authorization'));
    case 'dockerhub':
      return verifyPathToken(req, secrets.dockerhubPathToken ?? '');
    case 'quay':
      return verifyPathToken(req, secrets.quayPathToken ?? '');
    case 'nexus': {
      const signature = header(req, 'x-nexus-webhook-signature');
      if (!signature) return { ok: false, reason: 'missing-signature' };
      if (!body) return undefined;
      return verifyNexusSignature(secrets.nexusSecret ?? '', body, signature);
    }
    case 'ghcr': {
      const signature = header(req, 'x-hub-signature-256');
      if (!signature) return { ok: false, reason: 'missing-signature' };
      if (!body) return undefined;
      return verifyGithubSignature(secrets.ghcrSecret ?? '', body, signature);
    }
    case 'artifactory': {
      // The secret token itself or the body's HMAC: which one is only known with the body.
      const auth = header(req, 'x-jfrog-event-auth');
      if (!auth) return { ok: false, reason: 'missing-signature' };
      if (!body) return undefined;
      return verifyJfrogEventAuth(secrets.artifactorySecret ?? '', body, auth);
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

/**
 * The JSON text of a body. GitHub sends `payload=<JSON>` when a hook's content type is
 * `application/x-www-form-urlencoded` (its settings page's default), signed over the form bytes.
 */
function jsonText(receiver: Receiver, raw: Buffer, req: FastifyRequest): string {
  if (receiver !== 'ghcr') return raw.toString('utf8');
  const text = webhookJsonText(raw, header(req, 'content-type'));
  if (text === null) throw malformed('form body without a "payload" field');
  return text;
}

/** Payload → push events; throws a 400 refusal when the body is not the receiver's shape at all. */
function parsePayload(receiver: Receiver, raw: Buffer, req: FastifyRequest): RegistryPushEvent[] {
  let body: unknown;
  const text = jsonText(receiver, raw, req);
  try {
    body = text === '' ? undefined : parseUntrustedJson(text);
  } catch (err) {
    throw malformed(`request body ${(err as UntrustedJsonError).message}`);
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
  const problem = registryWebhookShapeError(receiver, root, req.headers);
  if (problem) throw malformed(problem);
  try {
    return parseRegistryWebhook(receiver, body, req.headers);
  } catch (err) {
    throw malformed((err as Error).message);
  }
}

/** The one image of the first tier that has any; several there is ambiguous, and nothing is taken. */
function sole(...tiers: WatchedImage[][]): WatchedImage | undefined {
  const found = tiers.find((t) => t.length > 0);
  return found?.length === 1 ? found[0] : undefined;
}

/**
 * Repository managers (Nexus, Artifactory) name their repository, never a host. The image is the
 * one declaring that repository with this path, or with this path behind one more segment (pulled
 * through a virtual or group repository by path); else the one whose path is `<repository>/<path>`
 * (path-based routing); else the sole image with this path (a port or subdomain connector) that
 * declares no other repository.
 */
function matchManagedImage(managerRepository: string, path: string, images: WatchedImage[]) {
  const declared = images.filter((w) => w.managerRepository === managerRepository);
  const fits = (w: WatchedImage) => (w.managerRepository ?? managerRepository) === managerRepository;
  const depth = path.split('/').length + 1;
  return sole(
    declared.filter((w) => w.repository === path),
    declared.filter((w) => w.repository.endsWith(`/${path}`) && w.repository.split('/').length === depth),
    images.filter((w) => fits(w) && w.repository === `${managerRepository}/${path}`),
    images.filter((w) => w.managerRepository === undefined && w.repository === path),
  );
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
  if (event.managerRepository) return matchManagedImage(event.managerRepository, event.repository, images);
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
    // A WebhookRejected names Nexus' delivery; GitHub's X-GitHub-Delivery is among the common
    // headers; Quay, ACR and Artifactory send no delivery id.
    ...(receiver === 'nexus' ? { deliveryHeaders: ['x-nexus-webhook-delivery'] } : {}),
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
      endpoint('quay', registryWatcherRoutes.quay, !!secrets.quayPathToken),
      endpoint('acr', registryWatcherRoutes.acr, !!secrets.acrAuth),
      endpoint('nexus', registryWatcherRoutes.nexus, !!secrets.nexusSecret),
      endpoint('ghcr', registryWatcherRoutes.ghcr, !!secrets.ghcrSecret),
      endpoint('artifactory', registryWatcherRoutes.artifactory, !!secrets.artifactorySecret),
      endpoint('generic', registryWatcherRoutes.generic, !!secrets.genericSecret),
    ],
    handle: async (receiver, req, body) => {
      const events = parsePayload(receiver, body, req);
      // GitHub pings a hook when it is created: answered as such, as the git-watcher does.
      if (receiver === 'ghcr' && header(req, 'x-github-event') === 'ping') {
        deps.metrics.webhooks.inc({ receiver, result: 'ping' });
        return { status: 200, body: { ignored: 'ping' } satisfies ImageWebhookPing };
      }
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
