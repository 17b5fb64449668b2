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
 * The request side as a Fastify route schema: params, query and body are validated before the
 * handler runs, so a handler never casts `req.body`. Responses are documented (OpenAPI) but not
 * registered: Fastify would drop every field a response schema does not name.
 */
export function routeSchema(r: RouteDefinition): { params?: TSchema; querystring?: TSchema; body?: TSchema } {
  return {
    ...(r.params ? { params: r.params } : {}),
    ...(r.querystring ? { querystring: r.querystring } : {}),
    ...(r.body ? { body: r.body } : {}),
  };
}
