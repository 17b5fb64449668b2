import { FlotillaError } from '@flotilla/errors';
import type { Static, TObject } from '@sinclair/typebox';
import { encodeToken } from './subject.ts';
import { schemaProblems } from './validate.ts';

/**
 * A request/reply contract between instances over core NATS (not the event stream: the answer is
 * only useful now). Both sides validate against these schemas, so a request is typed from the
 * caller's code to the server's handler and a malformed one is named, never silently dropped.
 */
export interface RequestDefinition<
  N extends string = string,
  Q extends TObject = TObject,
  R extends TObject = TObject,
> {
  readonly name: N;
  readonly description: string;
  /** Subject prefix; the encoded scope token follows (so ACLs grant `<subject>.*`). */
  readonly subject: string;
  readonly request: Q;
  readonly reply: R;
  // Method syntax keeps this bivariant, so any definition is a `RequestDefinition`.
  scope(request: Static<Q>): string;
}

export type RequestOf<D> = D extends RequestDefinition<string, infer Q, TObject> ? Static<Q> : never;
export type ReplyOf<D> = D extends RequestDefinition<string, TObject, infer R> ? Static<R> : never;

export function defineRequest<N extends string, Q extends TObject, R extends TObject>(
  def: RequestDefinition<N, Q, R>,
): RequestDefinition<N, Q, R> {
  return Object.freeze({ ...def });
}

export function requestSubject<Q extends TObject>(
  def: RequestDefinition<string, Q>,
  request: Static<Q>,
): string {
  return `${def.subject}.${encodeToken(def.scope(request))}`;
}

/** What a service subscribes to (and its NATS permissions name) to serve `def`. */
export function requestSubjects(def: RequestDefinition): string {
  return `${def.subject}.*`;
}

/** Checks a request or a reply; a stalled FlotillaError naming every problem when it does not fit. */
export function validateMessage<S extends TObject>(
  def: RequestDefinition,
  part: 'request' | 'reply',
  value: unknown,
): Static<S> {
  const schema = def[part];
  const problems = schemaProblems(schema, value, '');
  if (problems.length > 0)
    throw new FlotillaError(`bus.invalid-${part}`, `invalid ${def.name} ${part}: ${problems.join('; ')}`, {
      details: { request: def.name },
    });
  return value as Static<S>;
}
