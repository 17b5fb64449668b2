import { Type } from '@sinclair/typebox';
import { defineRequest } from './define-request.ts';

/** Every request/reply contract between Flotilla instances, defined once. */

/** The reply to a forwarded check. */
export const OwnerReply = Type.Object({
  /** The instance that owns the source and started the check. */
  instance: Type.String({ minLength: 1, maxLength: 256 }),
});

export const GitCheckRequest = defineRequest({
  name: 'GitCheckRequest',
  description: 'A webhook reached a git-watcher that does not own the repo: the owner checks it now.',
  subject: 'flotilla.internal.git-watcher.check',
  request: Type.Object({
    repo: Type.String({ minLength: 1, maxLength: 512 }),
    /** When the webhook arrived (epoch ms): push-to-event latency is measured from it. */
    receivedAt: Type.Integer({ minimum: 0 }),
    /**
     * The watched branch's new head as the signed push payload names it (only when the payload
     * names that branch's ref): the owner fetches just this commit instead of asking the remote.
     */
    after: Type.Optional(Type.String({ pattern: '^[0-9a-f]{40}([0-9a-f]{24})?$' })),
  }),
  reply: OwnerReply,
  scope: (r) => r.repo,
});

export const ImageCheckRequest = defineRequest({
  name: 'ImageCheckRequest',
  description: 'A webhook reached a registry-watcher that does not own the image: the owner checks it now.',
  subject: 'flotilla.internal.registry-watcher.check',
  request: Type.Object({
    image: Type.String({ minLength: 1, maxLength: 1024 }),
    /** The tags the webhook named (a hint only: the owner checks the registry). */
    hints: Type.Array(
      Type.Object({
        tag: Type.Optional(Type.String({ maxLength: 128 })),
        digest: Type.Optional(Type.String({ maxLength: 256 })),
        attempt: Type.Optional(Type.Integer({ minimum: 0, maximum: 100 })),
      }),
      { maxItems: 1000 },
    ),
  }),
  reply: OwnerReply,
  scope: (r) => r.image,
});
