import type { TObject, TSchema } from '@sinclair/typebox';

export type Method = 'GET' | 'POST';

/** One HTTP route, its request and response schemas: registered with Fastify, read by clients and OpenAPI. */
export interface RouteDefinition<
  P extends TObject | undefined = TObject | undefined,
  Q extends TObject | undefined = TObject | undefined,
  B extends TObject | undefined = TObject | undefined,
> {
  readonly method: Method;
  /** Fastify path syntax (`/stages/:stage/lock`), below the service's prefix. */
  readonly url: string;
  readonly summary: string;
  readonly params: P;
  readonly querystring: Q;
  readonly body: B;
  /**
   * Request headers the route reads (OpenAPI `in: header` parameters). Documented, not put in the
   * Fastify schema: the handler checks them itself, so a bad value is refused with the API's own
   * error body (`bad-idempotency-key`), not Fastify's.
   */
  readonly headers?: TObject | undefined;
  /** By status code; a media type other than JSON is named (`text/csv`). */
  readonly responses: Readonly<Record<number, { description: string; schema?: TSchema; mediaType?: string }>>;
}

export function defineRoute<
  P extends TObject | undefined = undefined,
  Q extends TObject | undefined = undefined,
  B extends TObject | undefined = undefined,
>(r: {
  method: Method;
  url: string;
  summary: string;
  params?: P;
  querystring?: Q;
  body?: B;
  headers?: TObject;
  responses: Record<number, { description: string; schema?: TSchema; mediaType?: string }>;
}): RouteDefinition<P, Q, B> {
  return Object.freeze({
    ...r,
    params: r.params as P,
    querystring: r.querystring as Q,
    body: r.body as B,
  });
}

/**
 * The route as a Fastify route schema, both sides. Params, query and body are validated before the
 * handler runs, so a handler never casts `req.body`; every JSON answer is serialized by its status's
 * schema, so what a client reads is what the contract says (a field the schema does not name is not
 * sent: keep the schemas complete, `api-contract.test.ts` holds each against a full sample). Answers
 * of another media type (`text/csv`) are sent as the handler's string, untouched.
 */
export function routeSchema(r: RouteDefinition): {
  params?: TSchema;
  querystring?: TSchema;
  body?: TSchema;
  response: Record<number, TSchema>;
} {
  const response: Record<number, TSchema> = {};
  for (const [status, res] of Object.entries(r.responses))
    if (res.schema && (res.mediaType ?? 'application/json') === 'application/json')
      response[Number(status)] = res.schema;
  return {
    ...(r.params ? { params: r.params } : {}),
    ...(r.querystring ? { querystring: r.querystring } : {}),
    ...(r.body ? { body: r.body } : {}),
    response,
  };
}
