import { Type } from '@sinclair/typebox';

/**
 * The config every service shares: who it is, how it reaches NATS, where it serves
 * /healthz, /readyz, /metrics. Spread into a service's own schema:
 * `Type.Object({ ...serviceConfigFields(8083), git: … })`.
 */
export function serviceConfigFields(defaultPort: number) {
  return {
    instance: Type.String({ default: `${process.pid}` }),
    nats: Type.Object({
      servers: Type.Array(Type.String(), { default: ['nats://127.0.0.1:4222'] }),
      user: Type.Optional(Type.String()),
      password: Type.Optional(Type.String({ secret: true })),
      token: Type.Optional(Type.String({ secret: true })),
      /** Private reply inbox; default `_INBOX_<user>` when a user is set (what the authorization allows). */
      inboxPrefix: Type.Optional(Type.String()),
      /**
       * Create the NATS resources this service declares when they are missing (a dev NATS
       * without authorization). Installs set false: `flotilla nats bootstrap` provisions, and the
       * service only binds (its identity may not administer JetStream anyway). Default true.
       */
      provision: Type.Optional(Type.Boolean()),
      /**
       * nkey seed file (a Secret): authenticate by signing the server's nonce instead of a
       * password. `user` still names the identity (its private inbox `_INBOX_<user>`).
       */
      nkeySeedFile: Type.Optional(Type.String()),
      /**
       * TLS to NATS: the CA that signed the server's certificate (verified; no opt-out), and a
       * client certificate when the server asks for one (`verify: true`, mutual TLS).
       */
      tls: Type.Optional(
        Type.Object({
          caFile: Type.String({ minLength: 1 }),
          certFile: Type.Optional(Type.String()),
          keyFile: Type.Optional(Type.String()),
        }),
      ),
    }),
    http: Type.Object({
      port: Type.Integer({ default: defaultPort, minimum: 0, maximum: 65_535 }),
      host: Type.String({ default: '127.0.0.1' }),
      /** A request (headers and body) must arrive within this long, else 408 and the connection closes. */
      requestTimeoutMs: Type.Integer({ default: 30_000, minimum: 500, maximum: 600_000 }),
      /**
       * Serve the API over HTTPS with this certificate and key (PEM files, e.g. a cert-manager
       * Secret). Clients verify it against the CA that issued it (`flotilla --cacert`).
       */
      tls: Type.Optional(
        Type.Object({
          certFile: Type.String({ minLength: 1 }),
          keyFile: Type.String({ minLength: 1 }),
        }),
      ),
    }),
  };
}
