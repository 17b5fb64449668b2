import { Type } from '@sinclair/typebox';
import { defineEvent } from '../define-event.ts';
import {
  DateTime,
  Digest,
  ErrorCode,
  GitSha,
  Message,
  Name,
  PipelineRef,
  Trigger,
} from '../shared-schemas.ts';

const Image = Type.String({ minLength: 1, maxLength: 512, description: 'registry/repository, no tag' });
const Tag = Type.String({ pattern: '^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$' });

export const ImageTagDetected = defineEvent({
  name: 'ImageTagDetected',
  domain: 'image',
  event: 'tag-detected',
  description: 'A tag appeared in a watched image repository.',
  producers: ['registry-watcher'],
  scope: (d) => d.image,
  data: Type.Object({
    image: Image,
    tag: Tag,
    digest: Digest,
    mediaType: Type.Optional(Type.String()),
    platforms: Type.Optional(Type.Array(Type.String())),
    createdAt: Type.Optional(DateTime),
    trigger: Trigger,
  }),
});

export const ImageTagMoved = defineEvent({
  name: 'ImageTagMoved',
  domain: 'image',
  event: 'tag-moved',
  description: 'A known tag now points at a different digest.',
  producers: ['registry-watcher'],
  scope: (d) => d.image,
  data: Type.Object({
    image: Image,
    tag: Tag,
    previousDigest: Digest,
    digest: Digest,
    trigger: Trigger,
  }),
});

export const ImageScanFailed = defineEvent({
  name: 'ImageScanFailed',
  domain: 'image',
  event: 'scan-failed',
  description: 'A registry could not be read (auth, rate limit, not found, unreachable).',
  producers: ['registry-watcher'],
  scope: (d) => d.image,
  data: Type.Object({
    image: Image,
    code: ErrorCode,
    /**
     * What the registry itself answered: the OCI distribution-spec code of its error body
     * (`MANIFEST_UNKNOWN`, `TOOMANYREQUESTS`), verbatim; absent when the answer had none.
     */
    registryCode: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 64,
        description: "the registry's own error code (OCI distribution spec), verbatim; not Flotilla's code",
      }),
    ),
    message: Message,
    retryAfterSeconds: Type.Optional(Type.Number({ minimum: 0 })),
  }),
});

export const ImageUpdateCommitted = defineEvent({
  name: 'ImageUpdateCommitted',
  domain: 'image',
  event: 'update-committed',
  description: "The planner wrote a new image reference into the first stage's config.",
  producers: ['planner'],
  scope: (d) => d.stage,
  data: Type.Object({
    pipeline: PipelineRef,
    stage: Name,
    policy: Name,
    image: Image,
    tag: Tag,
    digest: Digest,
    commit: GitSha,
    files: Type.Array(Type.String()),
  }),
});
