/**
 * The one source of Flotilla's NATS authorization: each identity's allow-list is computed from
 * what its service declares it uses (`natsResources`, see `@flotilla/bus` `NatsResources`), the
 * same declarations `flotilla nats bootstrap` provisions from. `deploy/nats/nats-auth.conf`, the
 * kustomize ConfigMap and the tests are all rendered from here (`flotilla nats-auth`).
 *
 * What no identity but `admin` may do, whatever it declares (spelled out as deny rules, which
 * win over any allow): create, update, delete, purge or restore the event stream or any other
 * stream (so no sources, mirrors or republish that would inject events), create, delete, pause
 * or pull from another identity's declared durable consumer, or publish events it does not
 * produce. Services bind to consumers the bootstrap created; they never create their own.
 */

import { type BucketSpec, inboxPrefixFor, type NatsResources, type StreamSpec } from '@flotilla/bus';
import { flotillaDeclarations, type InstallShape } from './nats-declarations.ts';

export { inboxPrefixFor };

export const EVENT_STREAM = 'FLOTILLA_EVENTS';
const API = '$JS.API';

export interface NatsAuthOptions extends InstallShape {
  /** Password for a user: a literal, or `$ENV_VAR` to let nats-server read the environment. */
  password?: (user: string) => string;
  /** An `admin` identity without limits (`flotilla nats bootstrap`, `nats` CLI). Default true. */
  admin?: boolean;
  /**
   * identity → its nkey public key (`U…`): that identity authenticates by signing the server's
   * nonce with its seed instead of a password (no shared secret on the server). Identities not
   * listed keep their password.
   */
  nkeys?: Readonly<Record<string, string>>;
  /**
   * Every identity signs in by nkey, its public key read by nats-server from the environment
   * (`$FLOTILLA_NATS_NKEY_<USER>`, which the install fills from a ConfigMap). The shipped
   * authorization uses this: it stays the same for every install, and no password exists.
   */
  nkeysFromEnv?: boolean;
}

const NKEY_USER = /^U[A-Z2-7]{55}$/;

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

/** `FLOTILLA_NATS_NKEY_APPLIER_PROD_EU` for `applier-prod-eu`: the public key nats-server reads. */
export function nkeyEnvVar(user: string): string {
  return `FLOTILLA_NATS_NKEY_${user.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

// ---- building blocks ---------------------------------------------------------------------------

/** Binding to a durable the bootstrap created: read its info, pull, ack. Never create or delete. */
function bindConsumer(name: string): string[] {
  return [
    `${API}.CONSUMER.INFO.${EVENT_STREAM}.${name}`,
    `${API}.CONSUMER.MSG.NEXT.${EVENT_STREAM}.${name}`,
    // Acks: v1 `$JS.ACK.<stream>.<consumer>.…` and v2 `$JS.ACK.<domain>.<account hash>.<stream>.<consumer>.…`.
    `$JS.ACK.${EVENT_STREAM}.${name}.>`,
    `$JS.ACK.*.*.${EVENT_STREAM}.${name}.>`,
  ];
}

/** A subscriber's own durable, which it configures itself. */
function manageOwnConsumer(name: string): string[] {
  return [
    `${API}.CONSUMER.CREATE.${EVENT_STREAM}.${name}`,
    `${API}.CONSUMER.CREATE.${EVENT_STREAM}.${name}.>`,
    `${API}.CONSUMER.DURABLE.CREATE.${EVENT_STREAM}.${name}`,
    `${API}.CONSUMER.DELETE.${EVENT_STREAM}.${name}`,
    ...bindConsumer(name),
  ];
}

/**
 * Short-lived ordered consumers on the event stream (reading history back), one filter each.
 * Their names are random, so the create subject needs a wildcard for the name, but it names the
 * filter, which the server checks against the request; the deny rules below keep the wildcard
 * off every declared durable. The unnamed create form (`CONSUMER.CREATE.<stream>`) is never
 * allowed: a name in its body can overwrite any consumer.
 */
const historyReader = (filters: readonly string[]): string[] => [
  ...filters.map((f) => `${API}.CONSUMER.CREATE.${EVENT_STREAM}.*.${f}`),
  `${API}.CONSUMER.INFO.${EVENT_STREAM}.*`,
  `${API}.CONSUMER.DELETE.${EVENT_STREAM}.*`,
  `${API}.CONSUMER.MSG.NEXT.${EVENT_STREAM}.*`,
  `$JS.FC.${EVENT_STREAM}.>`,
];

/**
 * A KV bucket or object store (`KV_<b>` / `OBJ_<b>` streams), read-write or read-only. Data
 * only: the bootstrap created the bucket, so no stream create/update here (an update could add
 * sources, mirrors or a republish into the event stream).
 */
function bucket(kind: 'kv' | 'obj', b: BucketSpec): string[] {
  const stream = kind === 'kv' ? `KV_${b.bucket}` : `OBJ_${b.bucket}`;
  const data = kind === 'kv' ? `$KV.${b.bucket}.>` : `$O.${b.bucket}.>`;
  const read = [
    `${API}.STREAM.INFO.${stream}`,
    `${API}.STREAM.MSG.GET.${stream}`,
    `${API}.DIRECT.GET.${stream}`,
    `${API}.DIRECT.GET.${stream}.>`,
    // Ordered consumers for watch/keys/object chunks.
    `${API}.CONSUMER.CREATE.${stream}`,
    `${API}.CONSUMER.CREATE.${stream}.>`,
    `${API}.CONSUMER.INFO.${stream}.*`,
    `${API}.CONSUMER.DELETE.${stream}.*`,
    `${API}.CONSUMER.MSG.NEXT.${stream}.*`,
    `$JS.FC.${stream}.>`,
  ];
  if (b.access === 'ro') return read;
  // Purge and message delete touch only this bucket's own data (an object replaced in place).
  return [...read, `${API}.STREAM.PURGE.${stream}`, `${API}.STREAM.MSG.DELETE.${stream}`, data];
}

/**
 * A stream of its own (e.g. the audit checkpoints): append to its subjects, read it back with
 * ordered consumers. No durable of anyone else lives there, so any consumer form is harmless;
 * the stream's own config (deny-delete, deny-purge) is out of reach like every stream's.
 */
function ownStream(s: StreamSpec): string[] {
  const name = s.config.name;
  return [
    ...s.config.subjects,
    `${API}.STREAM.INFO.${name}`,
    `${API}.STREAM.MSG.GET.${name}`,
    `${API}.DIRECT.GET.${name}`,
    `${API}.DIRECT.GET.${name}.>`,
    `${API}.CONSUMER.CREATE.${name}`,
    `${API}.CONSUMER.CREATE.${name}.>`,
    `${API}.CONSUMER.INFO.${name}.*`,
    `${API}.CONSUMER.DELETE.${name}.*`,
    `${API}.CONSUMER.MSG.NEXT.${name}.*`,
    `$JS.FC.${name}.>`,
  ];
}

/** What only the admin may do, denied explicitly to everyone else. */
const ADMIN_ONLY = [
  `${API}.STREAM.CREATE.>`,
  `${API}.STREAM.UPDATE.>`,
  `${API}.STREAM.DELETE.>`,
  `${API}.STREAM.RESTORE.>`,
  `${API}.STREAM.SNAPSHOT.>`,
  `${API}.STREAM.PEER.>`,
  `${API}.STREAM.LEADER.>`,
  `${API}.STREAM.PURGE.${EVENT_STREAM}`,
  `${API}.STREAM.MSG.DELETE.${EVENT_STREAM}`,
  // The unnamed create form: a `name` in its body creates or overwrites any consumer.
  `${API}.CONSUMER.CREATE.${EVENT_STREAM}`,
  `${API}.CONSUMER.PAUSE.>`,
  `${API}.CONSUMER.UNPIN.>`,
  `${API}.CONSUMER.LEADER.>`,
  `${API}.META.>`,
  `${API}.SERVER.>`,
  `${API}.ACCOUNT.>`,
];

/** Every way to touch another identity's durable: create/update, delete, pull, ack, read. */
function foreignConsumer(name: string): string[] {
  return [
    `${API}.CONSUMER.CREATE.${EVENT_STREAM}.${name}`,
    `${API}.CONSUMER.CREATE.${EVENT_STREAM}.${name}.>`,
    `${API}.CONSUMER.DURABLE.CREATE.${EVENT_STREAM}.${name}`,
    `${API}.CONSUMER.DELETE.${EVENT_STREAM}.${name}`,
    `${API}.CONSUMER.INFO.${EVENT_STREAM}.${name}`,
    `${API}.CONSUMER.MSG.NEXT.${EVENT_STREAM}.${name}`,
    `$JS.ACK.${EVENT_STREAM}.${name}.>`,
    `$JS.ACK.*.*.${EVENT_STREAM}.${name}.>`,
  ];
}

function roleOf(d: NatsResources): string {
  if (!d.producer) return 'read-only: live events or its own durable consumer; publishes no events';
  const binds = d.consumers.map((c) => c.durable).join(', ');
  return `${d.producer}: publishes only its own events${binds ? `; binds consumer ${binds}` : ''}; no stream or consumer administration`;
}

const uniq = (xs: string[]) => [...new Set(xs)];

/** One identity's permissions from its declaration, given every durable of the install. */
export function identityFor(d: NatsResources, allDurables: ReadonlySet<string>): NatsIdentity {
  const own = new Set(d.consumers.map((c) => c.durable));
  const foreign = [...allDurables].filter((n) => !own.has(n)).sort();
  const inbox = `${inboxPrefixFor(d.identity)}.>`;
  const allow = uniq([
    `${API}.INFO`,
    `${API}.STREAM.INFO.${EVENT_STREAM}`,
    ...d.publishes,
    ...d.consumers.flatMap((c) =>
      d.managesOwnConsumers ? manageOwnConsumer(c.durable) : bindConsumer(c.durable),
    ),
    ...(d.historyFilters?.length ? historyReader(d.historyFilters) : []),
    ...d.kv.flatMap((b) => bucket('kv', b)),
    ...d.objectStores.flatMap((b) => bucket('obj', b)),
    ...(d.streams ?? []).flatMap(ownStream),
    ...(d.internal?.publish ?? []),
  ]);
  return {
    user: d.identity,
    role: roleOf(d),
    publish: {
      allow,
      deny: uniq([
        ...ADMIN_ONLY,
        ...(d.managesOwnConsumers ? [] : [`${API}.CONSUMER.DURABLE.CREATE.>`]),
        ...foreign.flatMap(foreignConsumer),
      ]),
    },
    subscribe: {
      allow: uniq([inbox, ...(d.internal?.subscribe ?? []), ...(d.liveSubscribe ?? [])]),
      // Another identity's replies (pulled messages included) arrive on its inbox.
      deny: ['_INBOX.>'],
    },
    ...(d.internal ? { allowResponses: true } : {}),
  };
}

// ---- identities --------------------------------------------------------------------------------

/** The identities of an install: one per declaration, plus an unrestricted admin. */
export function identitiesFrom(declarations: readonly NatsResources[], admin = true): NatsIdentity[] {
  const durables = new Set(declarations.flatMap((d) => d.consumers.map((c) => c.durable)));
  const ids = declarations.map((d) => identityFor(d, durables));
  if (admin)
    ids.push({ user: 'admin', role: 'operators only: no limits (flotilla nats bootstrap, nats CLI)' });
  return ids;
}

export function natsIdentities(o: NatsAuthOptions): NatsIdentity[] {
  return identitiesFrom(flotillaDeclarations(o), o.admin ?? true);
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
  const identities = natsIdentities(o);
  if (o.nkeysFromEnv && o.nkeys)
    throw new Error('nkeys: either a key per identity or keys from the environment');
  for (const [user, key] of Object.entries(o.nkeys ?? {})) {
    if (!identities.some((id) => id.user === user))
      throw new Error(`nkeys: "${user}" is not an identity of this install`);
    if (!NKEY_USER.test(key)) throw new Error(`nkeys: ${user}: "${key}" is not a user nkey public key (U…)`);
  }
  const users = identities.map((id) => {
    // Unquoted, so nats-server substitutes the variable from its environment.
    const nkey = o.nkeysFromEnv
      ? `$${nkeyEnvVar(id.user)}`
      : o.nkeys?.[id.user] && JSON.stringify(o.nkeys[id.user]);
    const pw = password(id.user);
    const pwText = pw.startsWith('$') ? pw : JSON.stringify(pw);
    const lines = [
      `    # ${id.role}`,
      '    {',
      ...(nkey
        ? [`      nkey: ${nkey} # ${id.user}`]
        : [`      user: ${JSON.stringify(id.user)}`, `      password: ${pwText}`]),
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
    `# Generated by \`flotilla nats-auth --clusters ${o.clusters.join(',')}${o.nkeysFromEnv ? ' --nkeys env' : ''}\` (cli/src/nats-auth.ts). Do not edit by hand.`,
    '# One identity per service; see deploy/nats/README.md for the permission model.',
    'authorization {',
    '  users: [',
    users.join('\n'),
    '  ]',
    '}',
    '',
  ].join('\n');
}
