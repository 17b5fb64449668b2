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
  defineRequest,
  type ReplyOf,
  type RequestDefinition,
  type RequestOf,
  requestSubject,
  requestSubjects,
  validateMessage,
} from './define-request.ts';
export {
  CLOUDEVENTS_JSON,
  createEvent,
  dataSchemaUri,
  Envelope,
  type EventContext,
  type EventOf,
  eventSchemaUri,
  type FlotillaEvent,
  isEventOf,
  SCHEMA_BASE,
  sourceFor,
} from './envelope.ts';
export { type CatalogEntry, jsonSchemas } from './json-schema.ts';
export { GitCheckRequest, ImageCheckRequest, OwnerReply } from './requests.ts';
export { REDACTED_VALUE, scrubApiMessage } from './scrub-api-message.ts';
export {
  isSecretObject,
  isSensitiveField,
  nameIndexedPath,
  type SensitiveFieldRule,
  sensitiveFieldRule,
} from './sensitive-fields.ts';
export type { HealthStatus, ImageRef } from './shared-schemas.ts';
export {
  buildSubject,
  decodeToken,
  encodeToken,
  type ParsedSubject,
  parseSubject,
  SUBJECT_PREFIX,
} from './subject.ts';
export {
  childTraceparent,
  formatTraceparent,
  keyedTraceparent,
  MAX_TRACESTATE_LENGTH,
  newTraceparent,
  parseTraceparent,
  TRACEPARENT_PATTERN,
  type TraceParent,
  traceIdOf,
} from './trace-context.ts';
export { decodeEvent, encodeEvent, MAX_EVENT_BYTES, validateEvent } from './validate.ts';
