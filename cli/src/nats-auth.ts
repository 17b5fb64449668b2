/**
 * The one source of Flotilla's NATS authorization (issue 10): one identity per service, one
 * per target cluster's applier, and read-only subscribers. `deploy/nats/nats-auth.conf`, the
 * kustomize ConfigMap and the tests are all rendered from here (`flotilla nats-auth`).
 *
 * Permissions are allow-lists: anything not listed is refused by the server. JetStream is used
 * through its API subjects (`$JS.API.…`), so those are scoped per stream and per consumer:
 * an identity may only create, read and pull from its own durable consumer, and may only touch
 * the KV buckets / object stores its service uses.
 */

export const EVENT_STREAM = 'FLOTILLA_EVENTS';
export const EVENTS = 'flotilla.v1';

export interface NatsAuthOptions {
  /** Target clusters; each gets an `applier-<cluster>` identity. */
  clusters: readonly string[];
  /** Read-only subscriber identities (each may own one durable consumer of the same name). */
  subscribers?: readonly string[];
  /** Password for a user: a literal, or `$ENV_VAR` to let nats-server read the environment. */
  password?: (user: string) => string;
  /** Object store holding the plan bundles (planner `bundles.bucket`). */
  bundleBucket?: string;
  /** An `admin` identity without limits (stream provisioning, `nats` CLI). Default true. */
  admin?: boolean;
}

export interface Permissions {
  allow: string[];
  deny?: string[];
}

export interface NatsIdentity {
  user: string;
  /** What the identity is for, rendered as a comment. */
  role: string;
  /** Omitted for the unrestricted admin. */
  publish?: Permissions;
  subscribe?: Permissions;
  /** May publish replies to requests it received (request/reply between watcher instances). */
  allowResponses?: boolean;
}

/** `FLOTILLA_NATS_PASSWORD_APPLIER_PROD_EU` for `applier-prod-eu`. */
export function passwordEnvVar(user: string): string {
  return `FLOTILLA_NATS_PASSWORD_${user.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

const CLUSTER_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

// ---- building blocks ---------------------------------------------------------------------------

/** Connecting a JetStream manager checks the account first. */
const JS_INFO = '$JS.API.INFO';

/** Create/update/inspect the event stream (hub services provision it at start). */
const eventStreamAdmin = (): string[] => [
  `$JS.API.STREAM.INFO.${EVENT_STREAM}`,
  `$JS.API.STREAM.CREATE.${EVENT_STREAM}`,
  `$JS.API.STREAM.UPDATE.${EVENT_STREAM}`,
];

/**
 * One durable consumer on the event stream. `filter` given: only the create form that carries
 * the filter subject is allowed (`$JS.API.CONSUMER.CREATE.<stream>.<name>.<filter>`), and the
 * server refuses a config whose filter differs from that subject, so the identity cannot
 * re-point its consumer at another cluster's plans.
 */
function ownConsumer(name: string, filter?: string): string[] {
  const base = `$JS.API.CONSUMER`;
  return [
    ...(filter
      ? [`${base}.CREATE.${EVENT_STREAM}.${name}.${filter}`]
      : [
          `${base}.CREATE.${EVENT_STREAM}.${name}`,
          `${base}.CREATE.${EVENT_STREAM}.${name}.>`,
          `${base}.DURABLE.CREATE.${EVENT_STREAM}.${name}`,
        ]),
    `${base}.INFO.${EVENT_STREAM}.${name}`,
    `${base}.MSG.NEXT.${EVENT_STREAM}.${name}`,
    // Acks: v1 `$JS.ACK.<stream>.<consumer>.…` and v2 `$JS.ACK.<domain>.<account hash>.<stream>.<consumer>.…`.
    `$JS.ACK.${EVENT_STREAM}.${name}.>`,
    `$JS.ACK.*.*.${EVENT_STREAM}.${name}.>`,
  ];
}

/** Ephemeral/ordered consumers on the event stream (reading history back). */
const eventStreamReader = (): string[] => [
  `$JS.API.STREAM.INFO.${EVENT_STREAM}`,
  `$JS.API.CONSUMER.CREATE.${EVENT_STREAM}`,
  `$JS.API.CONSUMER.CREATE.${EVENT_STREAM}.>`,
  `$JS.API.CONSUMER.INFO.${EVENT_STREAM}.*`,
  `$JS.API.CONSUMER.DELETE.${EVENT_STREAM}.*`,
  `$JS.API.CONSUMER.MSG.NEXT.${EVENT_STREAM}.*`,
  `$JS.API.STREAM.MSG.GET.${EVENT_STREAM}`,
  `$JS.API.DIRECT.GET.${EVENT_STREAM}`,
];

/** A KV bucket or object store (`KV_<b>` / `OBJ_<b>` streams), read-write or read-only. */
function bucket(kind: 'kv' | 'obj', name: string, mode: 'rw' | 'ro'): string[] {
  const stream = kind === 'kv' ? `KV_${name}` : `OBJ_${name}`;
  const data = kind === 'kv' ? `$KV.${name}.>` : `$O.${name}.>`;
  const read = [
    `$JS.API.STREAM.INFO.${stream}`,
    // Opening a bucket is "create with the same config": idempotent, cannot change an existing one.
    `$JS.API.STREAM.CREATE.${stream}`,
    `$JS.API.STREAM.MSG.GET.${stream}`,
    `$JS.API.DIRECT.GET.${stream}`,
    `$JS.API.DIRECT.GET.${stream}.>`,
    // Ordered consumers for watch/keys/object chunks.
    `$JS.API.CONSUMER.CREATE.${stream}`,
    `$JS.API.CONSUMER.CREATE.${stream}.>`,
    `$JS.API.CONSUMER.INFO.${stream}.*`,
    `$JS.API.CONSUMER.DELETE.${stream}.*`,
    `$JS.API.CONSUMER.MSG.NEXT.${stream}.*`,
    `$JS.FC.${stream}.>`,
  ];
  if (mode === 'ro') return read;
  return [
    ...read,
    `$JS.API.STREAM.UPDATE.${stream}`,
    `$JS.API.STREAM.PURGE.${stream}`,
    `$JS.API.STREAM.MSG.DELETE.${stream}`,
    data,
  ];
}

/** Dead letters are published by the bus with the consumer as scope. */
const deadLetter = (consumer: string) => `${EVENTS}.bus.dead-lettered.${consumer}`;

/**
 * Replies to JetStream requests arrive on the requester's inbox. Hub services use the default
 * `_INBOX.>`; identities that must not see each other's traffic (appliers, subscribers) get a
 * private prefix and must connect with `inboxPrefix: "_INBOX_<user>"`: otherwise one applier
 * could subscribe to `_INBOX.>` and read the plans pulled by another.
 */
export const inboxPrefixFor = (user: string) => `_INBOX_${user}`;

// ---- identities --------------------------------------------------------------------------------

export function natsIdentities(o: NatsAuthOptions): NatsIdentity[] {
  const bundles = o.bundleBucket ?? 'flotilla-bundles';
  for (const c of o.clusters)
    if (!CLUSTER_NAME.test(c)) throw new Error(`cluster name "${c}" must be a DNS label (a-z, 0-9, -)`);
  const subscribers = o.subscribers ?? ['subscriber'];
  const ids: NatsIdentity[] = [
    {
      user: 'planner',
      role: 'renders and signs plans, promotes; consumes commits, tags, apply results and health',
      publish: {
        allow: [
          JS_INFO,
          `${EVENTS}.plan.>`,
          `${EVENTS}.promotion.>`,
          `${EVENTS}.image.update-committed.>`,
          deadLetter('planner'),
          ...eventStreamAdmin(),
          ...ownConsumer('planner'),
          ...eventStreamReader(),
          ...bucket('kv', 'planner-state', 'rw'),
          ...bucket('kv', 'planner-leader', 'rw'),
          ...bucket('obj', bundles, 'rw'),
        ],
      },
      subscribe: { allow: ['_INBOX.>'] },
    },
    {
      user: 'git-watcher',
      role: 'publishes commits seen in config repos; may not publish plans or promotions',
      publish: {
        allow: [
          JS_INFO,
          `${EVENTS}.git.>`,
          `${EVENTS}.webhook.rejected.>`,
          'flotilla.internal.git-watcher.>',
          ...eventStreamAdmin(),
          ...bucket('kv', 'git-watcher-leases', 'rw'),
          ...bucket('kv', 'git-watcher-members', 'rw'),
          ...bucket('kv', 'git-watcher-cursors', 'rw'),
        ],
      },
      subscribe: { allow: ['_INBOX.>', 'flotilla.internal.git-watcher.>'] },
      allowResponses: true,
    },
    {
      user: 'registry-watcher',
      role: 'publishes image tags seen in registries; may not publish plans or promotions',
      publish: {
        allow: [
          JS_INFO,
          `${EVENTS}.image.tag-detected.>`,
          `${EVENTS}.image.tag-moved.>`,
          `${EVENTS}.image.scan-failed.>`,
          `${EVENTS}.webhook.rejected.>`,
          'flotilla.internal.registry-watcher.>',
          ...eventStreamAdmin(),
          ...bucket('kv', 'registry-watcher-leases', 'rw'),
          ...bucket('kv', 'registry-watcher-state', 'rw'),
        ],
      },
      subscribe: { allow: ['_INBOX.>', 'flotilla.internal.registry-watcher.>'] },
      allowResponses: true,
    },
    {
      user: 'audit-writer',
      role: 'records every event; publishes only its own dead letters',
      publish: {
        allow: [
          JS_INFO,
          deadLetter('audit-writer'),
          ...eventStreamAdmin(),
          ...ownConsumer('audit-writer'),
          ...eventStreamReader(),
          ...bucket('kv', 'flotilla-leases', 'rw'),
        ],
      },
      subscribe: { allow: ['_INBOX.>'] },
    },
  ];
  for (const cluster of o.clusters) {
    const user = `applier-${cluster}`;
    ids.push({
      user,
      role: `cluster-applier of ${cluster}: pulls only ${cluster}'s plans, reports only ${cluster}'s results`,
      publish: {
        allow: [
          JS_INFO,
          `${EVENTS}.apply.*.${cluster}`,
          `${EVENTS}.health.changed.${cluster}`,
          `${EVENTS}.drift.*.${cluster}`,
          deadLetter(user),
          `$JS.API.STREAM.INFO.${EVENT_STREAM}`,
          ...ownConsumer(user, `${EVENTS}.plan.created.${cluster}`),
          ...bucket('obj', bundles, 'ro'),
        ],
        // Redundant with the allow-list; spelled out because it is the point.
        deny: [`${EVENTS}.plan.>`, `${EVENTS}.promotion.>`],
      },
      subscribe: { allow: [`${inboxPrefixFor(user)}.>`], deny: [`${EVENTS}.>`, '_INBOX.>'] },
    });
  }
  for (const user of subscribers) {
    ids.push({
      user,
      role: 'read-only: live events (core subscription) or its own durable consumer; publishes nothing',
      publish: {
        allow: [
          JS_INFO,
          `$JS.API.STREAM.INFO.${EVENT_STREAM}`,
          ...ownConsumer(user),
          `$JS.API.CONSUMER.DELETE.${EVENT_STREAM}.${user}`,
        ],
        deny: [`${EVENTS}.>`],
      },
      subscribe: { allow: [`${EVENTS}.>`, `${inboxPrefixFor(user)}.>`], deny: ['_INBOX.>'] },
    });
  }
  if (o.admin ?? true)
    ids.push({ user: 'admin', role: 'operators only: no limits (provisioning, nats CLI)' });
  for (const id of ids) {
    if (id.publish) id.publish.allow = [...new Set(id.publish.allow)];
    if (id.subscribe) id.subscribe.allow = [...new Set(id.subscribe.allow)];
  }
  return ids;
}

function list(values: readonly string[], indent: string): string {
  return `[\n${values.map((v) => `${indent}  ${JSON.stringify(v)}`).join(',\n')}\n${indent}]`;
}

function permissionsBlock(p: Permissions, indent: string): string {
  const lines = [`${indent}  allow: ${list(p.allow, `${indent}  `)}`];
  if (p.deny?.length) lines.push(`${indent}  deny: ${list(p.deny, `${indent}  `)}`);
  return `{\n${lines.join('\n')}\n${indent}}`;
}

/**
 * The `authorization { users = [...] }` block of nats-server's config. Passwords default to
 * `$FLOTILLA_NATS_PASSWORD_<USER>` (unquoted, so nats-server reads them from its environment,
 * which a Kubernetes Secret fills).
 */
export function renderNatsAuthorization(o: NatsAuthOptions): string {
  const password = o.password ?? ((u: string) => `$${passwordEnvVar(u)}`);
  const users = natsIdentities(o).map((id) => {
    const pw = password(id.user);
    const pwText = pw.startsWith('$') ? pw : JSON.stringify(pw);
    const lines = [
      `    # ${id.role}`,
      '    {',
      `      user: ${JSON.stringify(id.user)}`,
      `      password: ${pwText}`,
    ];
    if (id.publish || id.subscribe || id.allowResponses) {
      lines.push('      permissions: {');
      if (id.publish) lines.push(`        publish: ${permissionsBlock(id.publish, '        ')}`);
      if (id.subscribe) lines.push(`        subscribe: ${permissionsBlock(id.subscribe, '        ')}`);
      if (id.allowResponses) lines.push('        allow_responses: true');
      lines.push('      }');
    }
    lines.push('    }');
    return lines.join('\n');
  });
  return [
    `# Generated by \`flotilla nats-auth --clusters ${o.clusters.join(',')}\` (cli/src/nats-auth.ts). Do not edit by hand.`,
    '# One identity per service; see deploy/nats/README.md for the permission model.',
    'authorization {',
    '  users: [',
    users.join('\n'),
    '  ]',
    '}',
    '',
  ].join('\n');
}
