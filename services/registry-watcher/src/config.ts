import { leaseOptions, pollOptions, serviceConfigFields } from '@flotilla/runtime';
import { type Static, Type } from '@sinclair/typebox';

/** Floating tags conventionally re-pointed on every build; their digests are re-checked each cycle. */
export const DEFAULT_MUTABLE_TAGS = '^(latest|main|master|stable|edge|nightly|dev|develop)$';

const Credentials = Type.Object({
  username: Type.Optional(Type.String()),
  usernameFile: Type.Optional(Type.String()),
  password: Type.Optional(Type.String({ secret: true })),
  /** Kubernetes Secret volume or similar; wins over `password`. */
  passwordFile: Type.Optional(Type.String()),
  /** Name of an environment variable holding the password (keeps it out of the config file). */
  passwordEnv: Type.Optional(Type.String()),
  /** A registry bearer token used as is (no token flow). */
  token: Type.Optional(Type.String({ secret: true })),
  tokenFile: Type.Optional(Type.String()),
});

export const WatchedImageConfig = Type.Object({
  /** `registry/repository`, no tag (e.g. `ghcr.io/acme/web`, `127.0.0.1:5000/team/api`). */
  image: Type.String({ minLength: 1 }),
  /** Only tags matching this regex are considered (default: all). */
  tagFilter: Type.Optional(Type.String()),
  /** Poll interval for this image (default: poll.intervalMs). */
  intervalMs: Type.Optional(Type.Integer({ minimum: 100 })),
  /** Tags read from the registry at most; a longer list is truncated (and reported). */
  maxTags: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
  /** Tags whose digest is re-checked every cycle to detect moves (default: poll.mutableTags). */
  mutableTags: Type.Optional(Type.String()),
  credentials: Type.Optional(Credentials),
  /** Allow plain http to a non-loopback registry. */
  insecure: Type.Optional(Type.Boolean()),
  /**
   * The repository manager's repository holding this image: Nexus' repository name
   * (`repositoryName` in its webhooks: the hosted repository, not a group) or Artifactory's
   * repository key (`data.repo_key`: the local repository, not a virtual one). Their webhooks name
   * no host, so this ties a hook to the image. Needed when several watched images share the path
   * and the image path does not start with it (port or subdomain connectors), or when the image is
   * pulled through a virtual (Artifactory) or group (Nexus) repository: then its path is
   * `<that repository>/<path>`.
   */
  managerRepository: Type.Optional(Type.String({ minLength: 1 })),
  /** Renamed `managerRepository` (it names Artifactory repositories too): refused, naming the new key. */
  nexusRepository: Type.Optional(Type.String()),
});
export type WatchedImageConfig = Static<typeof WatchedImageConfig>;

export const Config = Type.Object({
  ...serviceConfigFields(8080),
  /** FLOTILLA_IMAGES as JSON, or `images:` in the YAML config file. */
  images: Type.Array(WatchedImageConfig, { default: [] }),
  poll: pollOptions(
    { intervalMs: 60_000 },
    {
      /** Image checks running at once against one registry host. */
      registryConcurrency: Type.Integer({ default: 4, minimum: 1 }),
      maxTags: Type.Integer({ default: 5000, minimum: 1, maximum: 10_000 }),
      /** Manifest HEADs for new tags per check; the rest wait for the next cycle (first scans of huge repos). */
      maxNewTagsPerCheck: Type.Integer({ default: 200, minimum: 1 }),
      mutableTags: Type.String({ default: DEFAULT_MUTABLE_TAGS }),
      /** For an image index, GET it (one more request per new tag) to report its platforms. */
      platforms: Type.Boolean({ default: true }),
      /** Read the config blob for `createdAt` (costs requests; off by default). */
      createdAt: Type.Boolean({ default: false }),
      /** Longest Retry-After slept inside one check; longer → ImageScanFailed and the next check waits. */
      maxRetryAfterMs: Type.Integer({ default: 30_000, minimum: 0 }),
      requestTimeoutMs: Type.Integer({ default: 30_000, minimum: 100 }),
    },
  ),
  /** Per-image ownership (was `leases`: one name, `lease`, in every service). */
  lease: leaseOptions({ bucket: 'registry-watcher-leases' }),
  state: Type.Object({
    bucket: Type.String({ default: 'registry-watcher-state' }),
  }),
  webhooks: Type.Object({
    /** Largest webhook body accepted; bigger → 413. */
    bodyLimit: Type.Integer({ default: 256 * 1024, minimum: 1024 }),
    /** `Authorization: Bearer <token>` that Distribution sends (notifications.endpoints[].headers). */
    distributionToken: Type.Optional(Type.String({ secret: true })),
    distributionTokenFile: Type.Optional(Type.String()),
    /** Unguessable path segment: `/hooks/dockerhub/<token>` (Docker Hub signs nothing). */
    dockerhubPathToken: Type.Optional(Type.String({ secret: true })),
    dockerhubPathTokenFile: Type.Optional(Type.String()),
    /** Harbor's per-policy auth header value (`Authorization`). */
    harborAuth: Type.Optional(Type.String({ secret: true })),
    harborAuthFile: Type.Optional(Type.String()),
    /** Unguessable path segment: `/hooks/quay/<token>` (Quay signs nothing). */
    quayPathToken: Type.Optional(Type.String({ secret: true })),
    quayPathTokenFile: Type.Optional(Type.String()),
    /** The `Authorization` custom header value set on the ACR webhook (`az acr webhook create --headers`). */
    acrAuth: Type.Optional(Type.String({ secret: true })),
    acrAuthFile: Type.Optional(Type.String()),
    /** The Nexus webhook capability's "Secret Key" (`X-Nexus-Webhook-Signature`, HMAC-SHA1). */
    nexusSecret: Type.Optional(Type.String({ secret: true })),
    nexusSecretFile: Type.Optional(Type.String()),
    /** The GitHub webhook's secret (`X-Hub-Signature-256`) for `/hooks/ghcr` (`package` events). */
    ghcrSecret: Type.Optional(Type.String({ secret: true })),
    ghcrSecretFile: Type.Optional(Type.String()),
    /** The Artifactory webhook's "Secret token" (`X-JFrog-Event-Auth`: the token, or the body's HMAC-SHA256). */
    artifactorySecret: Type.Optional(Type.String({ secret: true })),
    artifactorySecretFile: Type.Optional(Type.String()),
    /** HMAC-SHA256 key for `/hooks/generic` (`X-Flotilla-Signature: <hex>`). */
    genericSecret: Type.Optional(Type.String({ secret: true })),
    genericSecretFile: Type.Optional(Type.String()),
    /** WebhookRejected events per receiver and reason per minute (the 401 is always sent). */
    rejectionEventsPerMinute: Type.Integer({ default: 20, minimum: 0 }),
    /** How long a non-owner waits for the owner to accept a forwarded check. */
    forwardTimeoutMs: Type.Integer({ default: 2000, minimum: 100 }),
  }),
});
export type Config = Static<typeof Config>;

/**
 * The settings that decide this service's NATS resources (`natsResources`): its lease and state buckets.
 * `flotilla nats bootstrap --config-dir` reads them from this service's own config file with this
 * schema, so what it provisions is what the service binds to, defaults included.
 */
export const NatsConfig = Type.Pick(Config, ['lease', 'state']);

/** Keys this service renamed (`lease` since issue 21, as in every service): loadConfig refuses an old one, naming the new. */
export const RENAMED = { leases: 'lease' } as const;
