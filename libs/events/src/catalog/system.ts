import { Type } from '@sinclair/typebox';
import { defineEvent } from '../define-event.ts';
import { ErrorCode, Message, Name } from '../shared-schemas.ts';

export const WebhookRejected = defineEvent({
  name: 'WebhookRejected',
  domain: 'webhook',
  event: 'rejected',
  description: 'An inbound webhook was refused (bad or missing signature, too large, malformed).',
  producers: ['git-watcher', 'registry-watcher'],
  scope: (d) => d.receiver,
  data: Type.Object({
    receiver: Type.Union([
      Type.Literal('github'),
      Type.Literal('gitlab'),
      Type.Literal('gitea'),
      Type.Literal('gogs'),
      Type.Literal('bitbucket-server'),
      Type.Literal('bitbucket-cloud'),
      Type.Literal('azure-devops'),
      Type.Literal('generic'),
      Type.Literal('distribution'),
      Type.Literal('dockerhub'),
      Type.Literal('harbor'),
      Type.Literal('quay'),
      Type.Literal('acr'),
      Type.Literal('nexus'),
      Type.Literal('ghcr'),
      Type.Literal('artifactory'),
    ]),
    reason: Type.Union([
      Type.Literal('bad-signature'),
      Type.Literal('missing-signature'),
      Type.Literal('too-large'),
      Type.Literal('malformed'),
      Type.Literal('unknown-target'),
    ]),
    path: Type.String({ maxLength: 2048 }),
    remoteAddress: Type.Optional(Type.String()),
    deliveryId: Type.Optional(Type.String({ maxLength: 256 })),
    message: Message,
  }),
});

export const ApiRequestRefused = defineEvent({
  name: 'ApiRequestRefused',
  domain: 'api',
  event: 'refused',
  description:
    "A service's HTTP API refused a caller: no valid token (401) or a token without the role (403). Rationed per service, status and route: a flood of refused calls is counted, not published one by one.",
  producers: ['audit-writer'],
  scope: (d) => d.service,
  data: Type.Object({
    service: Name,
    status: Type.Union([Type.Literal(401), Type.Literal(403)]),
    /** The code the API answered: `unauthenticated`, `role-missing`. */
    code: Name,
    /** The route pattern (`/history`), never the query string. */
    route: Type.String({ maxLength: 256 }),
    /** The token's owner (`user:alice`), when the token was valid (403); never the token. */
    by: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
    remoteAddress: Type.Optional(Type.String({ maxLength: 64 })),
    /** Refusals of this kind held back (not published) in the previous minute. */
    suppressedBefore: Type.Optional(Type.Integer({ minimum: 0 })),
  }),
});

export const DeadLettered = defineEvent({
  name: 'DeadLettered',
  domain: 'bus',
  event: 'dead-lettered',
  description:
    'A message could not be handled (invalid, or failed every attempt) and was set aside with the reason.',
  producers: ['bus'],
  scope: (d) => d.consumer,
  data: Type.Object({
    consumer: Name,
    subject: Type.String(),
    streamSequence: Type.Integer({ minimum: 0 }),
    deliveries: Type.Integer({ minimum: 0 }),
    code: ErrorCode,
    reason: Message,
    eventId: Type.Optional(Type.String()),
    eventType: Type.Optional(Type.String()),
    /** The original payload, truncated, so nothing is lost silently. */
    payload: Type.String({ maxLength: 65_536 }),
  }),
});

export const AuditGapDetected = defineEvent({
  name: 'AuditGapDetected',
  domain: 'audit',
  event: 'gap-detected',
  description:
    'Events of the event stream will never be in the audit log (the stream discarded or lost them before they were recorded): one event per contiguous range, so the log says what it is missing.',
  producers: ['audit-writer'],
  scope: (d) => d.stream,
  data: Type.Object({
    stream: Name,
    /** First and last stream sequence of the missing range (inclusive). */
    fromSeq: Type.Integer({ minimum: 1 }),
    toSeq: Type.Integer({ minimum: 1 }),
    count: Type.Integer({ minimum: 1 }),
    reason: Type.Union([
      /** Older than the stream's first message: dropped by its limits (age, bytes, count) or purged. */
      Type.Literal('discarded'),
      /** Deleted from inside the stream. */
      Type.Literal('deleted'),
      /** Still in the stream, acknowledged, yet not recorded (a bug: should never happen). */
      Type.Literal('not-recorded'),
    ]),
    /** The audit writer's durable consumer that should have recorded them. */
    consumer: Name,
    message: Message,
  }),
});
