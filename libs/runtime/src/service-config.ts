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
      /** Private reply inbox (`_INBOX_<user>`), required for identities restricted by NATS permissions. */
      inboxPrefix: Type.Optional(Type.String()),
    }),
    http: Type.Object({
      port: Type.Integer({ default: defaultPort, minimum: 0, maximum: 65_535 }),
      host: Type.String({ default: '127.0.0.1' }),
    }),
  };
}
