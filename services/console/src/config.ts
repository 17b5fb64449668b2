import { serviceConfigFields } from '@flotilla/runtime';
import { type Static, Type } from '@sinclair/typebox';

export const Config = Type.Object({
  ...serviceConfigFields(8085),
  planner: Type.Object({
    /** Base URL of the planner API (`/api/v1` is appended). */
    url: Type.String({ minLength: 1, default: 'http://127.0.0.1:8083' }),
    timeoutMs: Type.Integer({ minimum: 100, default: 5000 }),
    /**
     * Approve / reject. The planner answers a decision only after it is carried out: its turn in
     * the planner's queue (behind renders), then for an approval the promotion commit, the push
     * and the render of the promoted revision. Seconds under load, so not the read timeout.
     */
    decisionTimeoutMs: Type.Integer({ minimum: 1000, default: 120_000 }),
    /**
     * When the backend serves HTTPS (its `http.tls`): the CA its certificate is verified against
     * (never the system roots alone), and a client certificate if something in front asks for one.
     */
    tls: Type.Optional(
      Type.Object({
        caFile: Type.String({ minLength: 1 }),
        certFile: Type.Optional(Type.String()),
        keyFile: Type.Optional(Type.String()),
      }),
    ),
  }),
  audit: Type.Object({
    /** Base URL of the audit-writer query API. */
    url: Type.String({ minLength: 1, default: 'http://127.0.0.1:8080' }),
    timeoutMs: Type.Integer({ minimum: 100, default: 10_000 }),
    /**
     * When the backend serves HTTPS (its `http.tls`): the CA its certificate is verified against
     * (never the system roots alone), and a client certificate if something in front asks for one.
     */
    tls: Type.Optional(
      Type.Object({
        caFile: Type.String({ minLength: 1 }),
        certFile: Type.Optional(Type.String()),
        keyFile: Type.Optional(Type.String()),
      }),
    ),
  }),
  session: Type.Object({
    /**
     * Seals the session cookie (AES-256-GCM). Give every instance behind one load balancer the
     * same secret; without one, a random key per process means a restart signs everyone out.
     */
    secret: Type.Optional(Type.String({ minLength: 32, secret: true })),
    ttlMinutes: Type.Integer({ minimum: 1, default: 480 }),
    /** Mark the cookie `Secure` (set it when the console is served over https). */
    secureCookie: Type.Boolean({ default: false }),
  }),
  /** Keep-alive comment on idle event streams, so proxies do not cut them. */
  heartbeatMs: Type.Integer({ minimum: 1000, default: 15_000 }),
  /** Link to a config commit, `{sha}` replaced, e.g. `https://git.example.com/org/config/commit/{sha}`. */
  commitUrl: Type.Optional(Type.String()),
  /** Where the built single-page app lives; built on start when missing (development). */
  assetsDir: Type.Optional(Type.String()),
});
export type Config = Static<typeof Config>;
