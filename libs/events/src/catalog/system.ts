import { Type } from '@sinclair/typebox';
import { defineEvent } from '../define-event.ts';
import { Message, Name } from '../shared-schemas.ts';

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
      Type.Literal('generic'),
      Type.Literal('distribution'),
      Type.Literal('dockerhub'),
      Type.Literal('harbor'),
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
    code: Type.String(),
    reason: Message,
    eventId: Type.Optional(Type.String()),
    eventType: Type.Optional(Type.String()),
    /** The original payload, truncated, so nothing is lost silently. */
    payload: Type.String({ maxLength: 65_536 }),
  }),
});
