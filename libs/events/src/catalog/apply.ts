import { Type } from '@sinclair/typebox';
import { defineEvent } from '../define-event.ts';
import { isSensitiveField } from '../sensitive-fields.ts';
import {
  Digest,
  ErrorCode,
  GitSha,
  HealthStatus,
  Message,
  Name,
  ObjectProblem,
  ObjectRefText,
  PipelineRef,
} from '../shared-schemas.ts';

const PlanFields = {
  cluster: Name,
  planId: Name,
  revision: GitSha,
  bundleDigest: Digest,
};

export const ApplyStarted = defineEvent({
  name: 'ApplyStarted',
  domain: 'apply',
  event: 'started',
  description: 'The applier accepted a verified plan and started applying it.',
  producers: ['cluster-applier'],
  scope: (d) => d.cluster,
  data: Type.Object({
    pipeline: PipelineRef,
    ...PlanFields,
    objects: Type.Integer({ minimum: 0 }),
  }),
});

export const ApplySucceeded = defineEvent({
  name: 'ApplySucceeded',
  domain: 'apply',
  event: 'succeeded',
  description: 'Every object of the plan was applied and stale ones pruned.',
  producers: ['cluster-applier'],
  scope: (d) => d.cluster,
  data: Type.Object({
    pipeline: PipelineRef,
    ...PlanFields,
    counts: Type.Object({
      total: Type.Integer({ minimum: 0 }),
      applied: Type.Integer({ minimum: 0 }),
      unchanged: Type.Integer({ minimum: 0 }),
      pruned: Type.Integer({ minimum: 0 }),
    }),
    noop: Type.Boolean(),
    startedAt: Type.String({ format: 'date-time' }),
    durationMs: Type.Integer({ minimum: 0 }),
    /**
     * What the apiserver warned of while accepting the objects (its `Warning` headers: a
     * deprecated API version or field, pod template advice), as `kubectl apply` prints them; the
     * first 100. Absent when it warned of nothing.
     */
    warnings: Type.Optional(
      Type.Array(Type.Object({ object: ObjectRefText, message: Message }), { maxItems: 100 }),
    ),
  }),
});

export const ApplyFailed = defineEvent({
  name: 'ApplyFailed',
  domain: 'apply',
  event: 'failed',
  description: 'A plan was refused or failed; says why, and which objects.',
  producers: ['cluster-applier'],
  scope: (d) => d.cluster,
  data: Type.Object({
    pipeline: PipelineRef,
    cluster: Name,
    planId: Type.Optional(Name),
    revision: Type.Optional(GitSha),
    bundleDigest: Type.Optional(Digest),
    code: ErrorCode,
    message: Message,
    disposition: Type.Union([Type.Literal('retry'), Type.Literal('wait'), Type.Literal('stall')]),
    /** True when nothing was written (validation, dry-run, signature failures). */
    nothingApplied: Type.Boolean(),
    objects: Type.Array(ObjectProblem, { maxItems: 1000 }),
  }),
});

export const HealthChanged = defineEvent({
  name: 'HealthChanged',
  domain: 'health',
  event: 'changed',
  description: "The aggregate health of a cluster's applied plan changed.",
  producers: ['cluster-applier'],
  scope: (d) => d.cluster,
  data: Type.Object({
    pipeline: PipelineRef,
    cluster: Name,
    planId: Type.Optional(Name),
    revision: GitSha,
    bundleDigest: Type.Optional(Digest),
    status: HealthStatus,
    previous: Type.Optional(HealthStatus),
    objects: Type.Array(Type.Object({ object: ObjectRefText, status: HealthStatus, message: Message }), {
      maxItems: 200,
    }),
  }),
});

/** A keyed hash of a value (HMAC-SHA256 under a key that stays in the cluster), never the value. */
const ValueHash = Type.String({
  pattern: '^hmac-sha256:[0-9a-f]{64}$',
  description: 'HMAC-SHA256 of the canonical JSON of a value, keyed by the cluster; equal values hash alike',
});

/** A drifted field whose values may be shown: expected (Git) and actual (live). */
const ValueDiff = Type.Object(
  {
    path: Type.String(),
    expected: Type.Optional(Type.Unknown()),
    actual: Type.Optional(Type.Unknown()),
    manager: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);

/**
 * A drifted field holding a secret (Secret data, a credential-named field): its path and keyed
 * hashes only. `additionalProperties: false` on both shapes means a diff marked sensitive can
 * never also carry a value.
 */
const HashedDiff = Type.Object(
  {
    path: Type.String(),
    sensitive: Type.Literal(true),
    /** Absent when the field is absent on that side. */
    expectedHash: Type.Optional(ValueHash),
    actualHash: Type.Optional(ValueHash),
    manager: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);

const FieldDiff = Type.Union([ValueDiff, HashedDiff]);

export const DriftDetected = defineEvent({
  name: 'DriftDetected',
  domain: 'drift',
  event: 'detected',
  description:
    'A field Flotilla manages was changed outside Git. Secret values travel as keyed hashes, never as values.',
  producers: ['cluster-applier'],
  scope: (d) => d.cluster,
  data: Type.Object({
    pipeline: PipelineRef,
    cluster: Name,
    revision: Type.Optional(GitSha),
    object: ObjectRefText,
    diffs: Type.Array(FieldDiff, { maxItems: 200 }),
    policy: Type.Union([Type.Literal('correct'), Type.Literal('report')]),
  }),
  // Secret values never leave the cluster: a diff of a sensitive field that carries a value is
  // an invalid event, refused when published and when received (so never stored).
  check: (d) =>
    d.diffs.flatMap((x) =>
      isSensitiveField(d.object, x.path) && ('expected' in x || 'actual' in x)
        ? [`/data/diffs ${x.path} of ${d.object} is sensitive: send hashes (sensitive: true), not values`]
        : [],
    ),
});

export const DriftCorrected = defineEvent({
  name: 'DriftCorrected',
  domain: 'drift',
  event: 'corrected',
  description: 'Drifted fields were set back to what Git says.',
  producers: ['cluster-applier'],
  scope: (d) => d.cluster,
  data: Type.Object({
    pipeline: PipelineRef,
    cluster: Name,
    revision: Type.Optional(GitSha),
    object: ObjectRefText,
    paths: Type.Array(Type.String()),
  }),
});
