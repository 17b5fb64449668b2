import { leaseOptions, pollOptions, serviceConfigFields } from '@flotilla/runtime';
import { type Static, Type } from '@sinclair/typebox';

const Credentials = Type.Object({
  /** https token (GitHub/GitLab/Gitea PAT, deploy token); sent as a URL-scoped header, never in argv. */
  token: Type.Optional(Type.String({ secret: true })),
  /** File holding the token (Kubernetes Secret volume); wins over `token`. */
  tokenFile: Type.Optional(Type.String()),
  /** Environment variable holding the token (keeps it out of the config file). */
  tokenEnv: Type.Optional(Type.String()),
  /** Basic-auth user sent with the token (default `x-access-token`). */
  username: Type.Optional(Type.String()),
  tokenScheme: Type.Optional(Type.Union([Type.Literal('basic'), Type.Literal('bearer')])),
  /** Private key file for ssh remotes. */
  sshKeyFile: Type.Optional(Type.String()),
  knownHostsFile: Type.Optional(Type.String()),
  /** `accept-new` (default), or true/false for StrictHostKeyChecking yes/no. */
  strictHostKeyChecking: Type.Optional(Type.Union([Type.Boolean(), Type.Literal('accept-new')])),
});

export const RepositoryConfig = Type.Object({
  /** Name used in events, subjects, cursors and leases; unique. */
  name: Type.String({ minLength: 1, maxLength: 200, pattern: '^[A-Za-z0-9][A-Za-z0-9._/-]*$' }),
  /** https, ssh (`ssh://` or `git@host:path`), git:// or file:// remote. */
  url: Type.String({ minLength: 1 }),
  branch: Type.String({ default: 'main', minLength: 1 }),
  /** Paths of interest (files or directories); empty = the whole repository. */
  paths: Type.Array(Type.String(), { default: [] }),
  /** Poll interval for this repo (default: poll.intervalMs). */
  intervalMs: Type.Optional(Type.Integer({ minimum: 100 })),
  credentials: Type.Optional(Credentials),
  signature: Type.Object(
    {
      policy: Type.Union([Type.Literal('off'), Type.Literal('report'), Type.Literal('require')], {
        default: 'off',
      }),
      /** ssh allowed signers file (`gpg.ssh.allowedSignersFile`). */
      allowedSignersFile: Type.Optional(Type.String()),
      /** GNUPGHOME holding the trusted OpenPGP public keys. */
      gpgHome: Type.Optional(Type.String()),
    },
    { default: { policy: 'off' } },
  ),
  /** On a force-push: `continue` from the new head, or `halt` at the last seen commit until the branch descends from it again. */
  historyRewrite: Type.Union([Type.Literal('continue'), Type.Literal('halt')], { default: 'continue' }),
  /** Extra names a webhook payload may use for this repo (`org/repo`, clone URLs), besides its URL. */
  aliases: Type.Array(Type.String(), { default: [] }),
});
export type RepositoryConfig = Static<typeof RepositoryConfig>;

const Secret = Type.Optional(Type.String({ secret: true }));

export const Config = Type.Object({
  ...serviceConfigFields(8080),
  /** FLOTILLA_REPOSITORIES as JSON, or `repositories:` in the YAML config file. */
  repositories: Type.Array(RepositoryConfig, { default: [] }),
  /** Bare mirrors live here, one directory per remote URL. */
  cacheDir: Type.String({ default: '/var/cache/flotilla/git-watcher' }),
  // Flux's default source interval is 1 m; webhooks make most changes arrive sooner.
  poll: pollOptions(
    { intervalMs: 60_000 },
    {
      /** Git processes talking to one host at once (ls-remote, fetch). */
      hostConcurrency: Type.Integer({ default: 4, minimum: 1 }),
      /** Consecutive failures before a GitSourceFailed event (errors that retrying cannot fix report at once). */
      failureThreshold: Type.Integer({ default: 3, minimum: 1 }),
      /** Kill a git process silent for this long. */
      gitTimeoutMs: Type.Integer({ default: 120_000, minimum: 1000 }),
      /**
       * The most one clone or fetch may bring (1 GiB): a remote that sends more is stopped, its
       * partial pack removed, and the check fails with `git.fetch-too-large`, so a hostile
       * repository cannot fill the cache's disk.
       */
      maxFetchBytes: Type.Integer({ default: 1024 * 1024 * 1024, minimum: 1024 }),
      /** Commits emitted per check at most; the rest follow in the next check (a huge first range). */
      maxCommitsPerCheck: Type.Integer({ default: 1000, minimum: 1 }),
    },
  ),
  /** Per-repo ownership (was `leases`: one name, `lease`, in every service). */
  lease: leaseOptions(
    { bucket: 'git-watcher-leases' },
    {
      /** Spread repos over live instances (rendezvous hashing) instead of first come, first served. */
      balance: Type.Boolean({ default: true }),
      membersBucket: Type.String({ default: 'git-watcher-members' }),
    },
  ),
  state: Type.Object({
    /** Last seen sha per repo/branch. */
    bucket: Type.String({ default: 'git-watcher-cursors' }),
  }),
  webhooks: Type.Object({
    /** Largest webhook body accepted; bigger → 413. */
    bodyLimit: Type.Integer({ default: 1024 * 1024, minimum: 1024 }),
    /** A receiver without a secret is not served (404): unsigned hooks are never accepted. */
    githubSecret: Secret,
    gitlabSecret: Secret,
    /**
     * GitLab's signing token (`whsec_<base64>`): HMAC of id, timestamp and body in
     * `webhook-signature`. When set it is required; `gitlabSecret` (`X-Gitlab-Token`) is then
     * checked too if also set. Either one alone serves `/hooks/gitlab`.
     */
    gitlabSigningToken: Secret,
    giteaSecret: Secret,
    /** Gogs: the hook's secret (`X-Gogs-Signature`, hex HMAC-SHA256 of the JSON payload). */
    gogsSecret: Secret,
    /** Bitbucket Data Center/Server: the webhook's secret (`X-Hub-Signature: sha256=<hex>`). */
    bitbucketServerSecret: Secret,
    /** Bitbucket Cloud: the webhook's secret (`X-Hub-Signature: sha256=<hex>`); a hook without one is unsigned and refused. */
    bitbucketCloudSecret: Secret,
    /**
     * Azure DevOps service hooks carry no signature: the Web Hooks consumer sends the HTTP Basic
     * credentials set on the subscription. The password serves `/hooks/azure-devops`; the user
     * name must match too (unset: an empty user name).
     */
    azureDevOpsUsername: Type.Optional(Type.String()),
    azureDevOpsPassword: Secret,
    genericSecret: Secret,
    /** How long a non-owner waits for the owner to accept a forwarded check. */
    forwardTimeoutMs: Type.Integer({ default: 2000, minimum: 100 }),
    /** WebhookRejected events per receiver and reason per minute (the 401 is always sent). */
    rejectionEventsPerMinute: Type.Integer({ default: 20, minimum: 0 }),
  }),
});
export type Config = Static<typeof Config>;

/**
 * The settings that decide this service's NATS resources (`natsResources`): its lease, membership and cursor buckets.
 * `flotilla nats bootstrap --config-dir` reads them from this service's own config file with this
 * schema, so what it provisions is what the service binds to, defaults included.
 */
export const NatsConfig = Type.Pick(Config, ['lease', 'state']);

/** Keys this service renamed (`lease` since issue 21, as in every service): loadConfig refuses an old one, naming the new. */
export const RENAMED = { leases: 'lease' } as const;
