import { type Static, Type } from '@sinclair/typebox';

export const DateTime = Type.String({ format: 'date-time', description: 'RFC 3339 timestamp' });
export const GitSha = Type.String({
  pattern: '^[0-9a-f]{40}([0-9a-f]{24})?$',
  description: 'full commit id',
});
export const Digest = Type.String({ pattern: '^sha256:[0-9a-f]{64}$', description: 'content digest' });
export const Name = Type.String({ minLength: 1, maxLength: 253 });
/**
 * The pipeline (unit of delivery) an event belongs to: `metadata.name` of its pipeline file.
 * Absent on events of a repo's root flotilla.yaml from before pipelines, and for producers that
 * serve no pipeline.
 */
export const PipelineRef = Type.Optional(
  Type.String({
    minLength: 1,
    maxLength: 63,
    pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$',
    description: 'pipeline (metadata.name of its pipeline file) this event belongs to',
  }),
);
export const Message = Type.String({ maxLength: 16_384 });
/**
 * A Flotilla error code, one scheme for every service: `domain.kebab-case` (`oci.manifest-unknown`,
 * `git.unreachable`). Not a pattern: events stored before a code was renamed must still decode.
 */
export const ErrorCode = Type.String({
  minLength: 1,
  description: "Flotilla's error code, domain.kebab-case (e.g. oci.manifest-unknown, git.unreachable)",
});
export const Person = Type.Object({
  name: Type.String({ maxLength: 256 }),
  email: Type.String({ maxLength: 256 }),
});
export const Trigger = Type.Union([Type.Literal('poll'), Type.Literal('webhook')]);
export const HealthStatus = Type.Union([
  Type.Literal('Current'),
  Type.Literal('InProgress'),
  Type.Literal('Failed'),
  Type.Literal('Terminating'),
  Type.Literal('Unknown'),
]);
export type HealthStatus = Static<typeof HealthStatus>;
export const ImageRef = Type.Object({
  name: Type.Optional(Type.String({ description: 'policy/image name in flotilla.yaml' })),
  repository: Name,
  tag: Type.Optional(Type.String({ maxLength: 128 })),
  digest: Digest,
});
export type ImageRef = Static<typeof ImageRef>;
/** Human-readable object reference, e.g. `apps/Deployment team-a/web`. */
export const ObjectRefText = Type.String({ maxLength: 600 });
export const ObjectProblem = Type.Object({
  object: ObjectRefText,
  code: Type.Optional(Type.String()),
  reason: Message,
});
