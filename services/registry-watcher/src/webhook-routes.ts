import type { DataOf, WebhookRejected } from '@flotilla/events';
import {
  isValidDigest,
  isValidTag,
  normalizeRegistry,
  parseImageRef,
  parseRegistryWebhook,
  type RegistryPushEvent,
} from '@flotilla/oci';
import { type SignatureCheck, safeEqual, verifyBearer, verifyHexHmac } from '@flotilla/runtime';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { TagHint } from './tag-diff.ts';
import type { WatchedImage } from './watched-image.ts';

export type Receiver = 'distribution' | 'dockerhub' | 'harbor' | 'generic';
export type RejectReason = DataOf<typeof WebhookRejected>['reason'];

export interface WebhookSecrets {
  distributionToken?: string | undefined;
  dockerhubPathToken?: string | undefined;
  harborAuth?: string | undefined;
  genericSecret?: string | undefined;
}

export interface WebhookDeps {
  secrets: WebhookSecrets;
  bodyLimit: number;
  images: () => WatchedImage[];
  /** Check these images now (here if owned, else forwarded to the owner). */
  dispatch(image: string, hints: TagHint[]): Promise<void>;
  reject(rejection: {
    receiver: Receiver;
    reason: RejectReason;
    path: string;
    remoteAddress: string;
    message: string;
  }): Promise<void>;
  accepted(receiver: Receiver, result: 'dispatched' | 'ignored'): void;
}

class Malformed extends Error {}

/** The path as it may be logged and published: the Docker Hub secret segment never leaves. */
function publicPath(receiver: Receiver, url: string): string {
  const path = url.split('?')[0] ?? url;
  return receiver === 'dockerhub' ? '/hooks/dockerhub/<redacted>' : path.slice(0, 2048);
}

function header(req: FastifyRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * Authenticity by receiver. Everything but the generic HMAC can be decided from headers and the
 * path alone, so oversized or unparsable bodies are still told apart from unauthenticated ones.
 */
function authenticate(
  receiver: Receiver,
  req: FastifyRequest,
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
      if (!req.rawBody) return undefined;
      return verifyHexHmac(secrets.genericSecret ?? '', req.rawBody, header(req, 'x-flotilla-signature'));
    }
  }
}

function obj(v: unknown): Record<string, unknown> | undefined {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

/** Payload → push events; throws Malformed when the body is not the receiver's shape at all. */
function parsePayload(receiver: Receiver, body: unknown, req: FastifyRequest): RegistryPushEvent[] {
  const root = obj(body);
  if (!root) throw new Malformed('body is not a JSON object');
  if (receiver === 'generic') {
    // `{ "image": "registry/repo[:tag]", "tag"?: "...", "digest"?: "sha256:..." }`
    if (typeof root.image !== 'string') throw new Malformed('generic payload needs "image"');
    let ref: ReturnType<typeof parseImageRef>;
    try {
      ref = parseImageRef(root.image);
    } catch (err) {
      throw new Malformed((err as Error).message);
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
  if (receiver === 'distribution' && !Array.isArray(root.events)) throw new Malformed('no "events" array');
  if (receiver === 'dockerhub' && (!obj(root.push_data) || !obj(root.repository)))
    throw new Malformed('no push_data/repository');
  try {
    return parseRegistryWebhook(receiver, body, req.headers);
  } catch (err) {
    throw new Malformed((err as Error).message);
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

/** `/hooks/*`: authenticate, parse, route each push to the image's check. */
export function registerWebhookRoutes(app: FastifyInstance, deps: WebhookDeps): void {
  const { secrets } = deps;
  const enabled: Record<Receiver, boolean> = {
    distribution: !!secrets.distributionToken,
    dockerhub: !!secrets.dockerhubPathToken,
    harbor: !!secrets.harborAuth,
    generic: !!secrets.genericSecret,
  };

  const refuse = async (
    receiver: Receiver,
    req: FastifyRequest,
    reply: FastifyReply,
    status: number,
    reason: RejectReason,
    message: string,
  ) => {
    await deps.reject({
      receiver,
      reason,
      path: publicPath(receiver, req.url),
      remoteAddress: req.ip,
      message,
    });
    return reply.code(status).send({ error: reason, message });
  };

  const receiverOf = (req: FastifyRequest): Receiver =>
    (req.routeOptions.config as { receiver?: Receiver } | undefined)?.receiver ?? 'generic';

  void app.register(
    async (scope) => {
      // Errors raised before the handler (too large, not JSON, wrong content type) end up here.
      scope.setErrorHandler(async (err: Error & { statusCode?: number; code?: string }, req, reply) => {
        const receiver = receiverOf(req);
        const status = err.statusCode ?? 500;
        if (status >= 500) {
          req.log.error({ err, receiver }, 'webhook handling failed');
          return reply.code(500).send({ error: 'internal' });
        }
        const auth = authenticate(receiver, req, secrets);
        if (auth && !auth.ok) return refuse(receiver, req, reply, 401, auth.reason, `webhook ${auth.reason}`);
        if (status === 413) {
          return refuse(receiver, req, reply, 413, 'too-large', `body larger than ${deps.bodyLimit} bytes`);
        }
        return refuse(
          receiver,
          req,
          reply,
          status === 415 ? 415 : 400,
          'malformed',
          err.message.slice(0, 500),
        );
      });

      const route = (receiver: Receiver, url: string) => {
        if (!enabled[receiver]) return;
        scope.post(url, { bodyLimit: deps.bodyLimit, config: { receiver } }, async (req, reply) => {
          const auth = authenticate(receiver, req, secrets) ?? { ok: false, reason: 'missing-signature' };
          if (!auth.ok) return refuse(receiver, req, reply, 401, auth.reason, `webhook ${auth.reason}`);
          let events: RegistryPushEvent[];
          try {
            events = parsePayload(receiver, req.body, req);
          } catch (err) {
            if (!(err instanceof Malformed)) throw err;
            return refuse(receiver, req, reply, 400, 'malformed', err.message.slice(0, 500));
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
            if (tag)
              hints.push({ tag, ...(e.digest && isValidDigest(e.digest) ? { digest: e.digest } : {}) });
            byImage.set(image.image, hints);
          }
          // Not-watched repositories are answered 202 too: a non-2xx makes Distribution retry forever.
          await Promise.all([...byImage].map(([image, hints]) => deps.dispatch(image, hints)));
          deps.accepted(receiver, byImage.size > 0 ? 'dispatched' : 'ignored');
          return reply.code(202).send({ accepted: [...byImage.keys()], ignored });
        });
      };
      route('distribution', '/distribution');
      route('dockerhub', '/dockerhub/:token');
      route('harbor', '/harbor');
      route('generic', '/generic');
    },
    { prefix: '/hooks' },
  );
}
