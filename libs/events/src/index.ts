export * from './catalog/index.ts';
export {
  type DataOf,
  defineEvent,
  type EventDefinition,
  type Producer,
  subjectFilter,
  subjectOf,
} from './define-event.ts';
export {
  causedBy,
  createEvent,
  Envelope,
  type EventContext,
  type EventOf,
  type FlotillaEvent,
  isEventOf,
  sourceFor,
} from './envelope.ts';
export { jsonSchemas } from './json-schema.ts';
export type { HealthStatus, ImageRef } from './shared-schemas.ts';
export {
  buildSubject,
  decodeToken,
  encodeToken,
  type ParsedSubject,
  parseSubject,
  SUBJECT_PREFIX,
} from './subject.ts';
export { decodeEvent, encodeEvent, MAX_EVENT_BYTES, validateEvent } from './validate.ts';
