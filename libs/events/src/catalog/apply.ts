import { Type } from '@sinclair/typebox';
import { defineEvent } from '../define-event.ts';
import {
  Digest,
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
    code: Type.String(),
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

const FieldDiff = Type.Object({
  path: Type.String(),
  expected: Type.Optional(Type.Unknown()),
  actual: Type.Optional(Type.Unknown()),
  manager: Type.Optional(Type.String()),
});

export const DriftDetected = defineEvent({
  name: 'DriftDetected',
  domain: 'drift',
  event: 'detected',
  description: 'A field Flotilla manages was changed outside Git.',
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
