import { randomUUID } from 'node:crypto';
import { type Static, type TObject, Type } from '@sinclair/typebox';
import type { EventDefinition, Producer } from './define-event.ts';
import { subjectOf } from './define-event.ts';
import { DateTime } from './shared-schemas.ts';
import { MAX_TRACESTATE_LENGTH, newTraceparent, TRACEPARENT_PATTERN } from './trace-context.ts';
import './formats.ts';

/**
 * CloudEvents 1.0 structured-mode attributes plus Flotilla's extensions. Extension names
 * follow the spec's `[a-z0-9]` rule, which is why they are not camelCase.
 */
export const EnvelopeAttributes = {
  specversion: Type.Literal('1.0'),
  id: Type.String({ minLength: 1, maxLength: 128 }),
  source: Type.String({ pattern: '^flotilla://[a-z-]+(/[^\\s]*)?$', maxLength: 512 }),
  type: Type.String({ pattern: '^io\\.flotilla\\.' }),
  time: DateTime,
  subject: Type.Optional(Type.String({ maxLength: 1024 })),
  datacontenttype: Type.Literal('application/json'),
  dataschema: Type.Optional(Type.String()),
  correlationid: Type.String({ minLength: 1, maxLength: 128 }),
  causationid: Type.Optional(Type.String({ maxLength: 128 })),
  actor: Type.String({
    minLength: 1,
    maxLength: 256,
    description: 'who caused it: user:<name>, git:<email>, service:<name>',
  }),
  // CloudEvents Distributed Tracing extension (W3C Trace Context). Optional in the schema only
  // because events stored before it existed must still validate; every event built here has one.
  traceparent: Type.Optional(
    Type.String({
      pattern: TRACEPARENT_PATTERN,
      description: 'W3C traceparent of the operation that produced this event',
    }),
  ),
  tracestate: Type.Optional(
    Type.String({
      maxLength: MAX_TRACESTATE_LENGTH,
      pattern: '^[\\x20-\\x7e]*$',
      description: 'W3C tracestate (vendor trace data), passed on unchanged',
    }),
  ),
};

/** The media type of a structured-mode CloudEvent in JSON: the NATS `Content-Type` header. */
export const CLOUDEVENTS_JSON = 'application/cloudevents+json';

/** Where the schema of an event's `data` is published: what `dataschema` names (CloudEvents 1.0). */
export const SCHEMA_BASE = 'https://flotilla.io/schemas';
export const dataSchemaUri = (type: string): string => `${SCHEMA_BASE}/data/${type}.json`;
/** The schema of the whole structured event (envelope and data), for validating what arrives. */
export const eventSchemaUri = (type: string): string => `${SCHEMA_BASE}/${type}.json`;

export const Envelope = Type.Object({ ...EnvelopeAttributes, data: Type.Unknown() });
export type Envelope = Static<typeof Envelope>;

export type FlotillaEvent<D = unknown> = Omit<Envelope, 'data'> & { data: D };
export type EventOf<D> = D extends EventDefinition<string, infer S> ? FlotillaEvent<Static<S>> : never;

export interface EventContext {
  /** `flotilla://<service>/<instance>` */
  source: string;
  actor: string;
  /** Propagated from the event that caused this one; a new chain starts with this event's id. */
  correlationid?: string;
  causationid?: string;
  /** W3C trace context; a new trace starts when absent. */
  traceparent?: string;
  tracestate?: string;
  subject?: string;
  id?: string;
  time?: Date;
}

export function sourceFor(service: Producer, instance: string): string {
  return `flotilla://${service}/${instance}`;
}

export function createEvent<S extends TObject>(
  def: EventDefinition<string, S>,
  data: Static<S>,
  ctx: EventContext,
): FlotillaEvent<Static<S>> {
  const id = ctx.id ?? randomUUID();
  const event: FlotillaEvent<Static<S>> = {
    specversion: '1.0',
    id,
    source: ctx.source,
    type: def.type,
    time: (ctx.time ?? new Date()).toISOString(),
    subject: ctx.subject ?? subjectOf(def, data),
    datacontenttype: 'application/json',
    dataschema: dataSchemaUri(def.type),
    correlationid: ctx.correlationid ?? id,
    actor: ctx.actor,
    traceparent: ctx.traceparent ?? newTraceparent(),
    data,
  };
  if (ctx.causationid !== undefined) event.causationid = ctx.causationid;
  if (ctx.tracestate) event.tracestate = ctx.tracestate;
  return event;
}

export function isEventOf<S extends TObject>(
  def: EventDefinition<string, S>,
  event: FlotillaEvent,
): event is FlotillaEvent<Static<S>> {
  return event.type === def.type;
}
