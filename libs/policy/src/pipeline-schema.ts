import { type Static, Type } from '@sinclair/typebox';

/**
 * Schema of `flotilla.yaml`, the pipeline definition kept in the config repo. Shape checks live
 * here; rules that span fields (unique names, durations, paths, ranges, regexes) are in
 * parse-pipeline.ts. `x-message` is the human wording used when a pattern/length check fails.
 */

// Stage and cluster names end up in NATS subject tokens and Kubernetes names: DNS labels only.
const DnsLabel = Type.String({
  pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$',
  maxLength: 63,
  'x-message':
    'must be a lowercase DNS label: a-z, 0-9 and "-", starting and ending alphanumeric, at most 63 characters',
});

const Order = Type.Union([Type.Literal('asc'), Type.Literal('desc')]);

const Weekday = Type.Union([
  Type.Literal('mon'),
  Type.Literal('tue'),
  Type.Literal('wed'),
  Type.Literal('thu'),
  Type.Literal('fri'),
  Type.Literal('sat'),
  Type.Literal('sun'),
]);

export const ClusterSchema = Type.Object(
  {
    name: DnsLabel,
    /** Directory in the config repo rendered for this cluster (plain YAML or a kustomization). */
    path: Type.String({ minLength: 1 }),
    /**
     * Namespace for namespaced objects that name none (Flux's `targetNamespace`, Argo CD's
     * destination namespace); objects that name one keep it.
     */
    targetNamespace: Type.Optional(DnsLabel),
  },
  { additionalProperties: false },
);

export const TimeWindowSchema = Type.Object(
  {
    days: Type.Optional(Type.Array(Weekday, { minItems: 1 })),
    start: Type.String({ 'x-message': 'must be HH:MM (24-hour)' }),
    end: Type.String({ 'x-message': 'must be HH:MM (24-hour) or 24:00' }),
    timezone: Type.Optional(Type.String({ minLength: 1 })),
  },
  { additionalProperties: false },
);

export const PromotionSchema = Type.Object(
  {
    /** `auto`: promote once the previous stage is healthy for `soak`; `manual`: also needs an approver. */
    rule: Type.Union([Type.Literal('auto'), Type.Literal('manual')]),
    /** Go-style duration the previous stage must stay healthy on the candidate revision. */
    soak: Type.Optional(Type.String()),
    /** Names, or `group:<name>`; required for `manual`. */
    approvers: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
    /** Promotion happens only inside one of these windows. */
    windows: Type.Optional(Type.Array(TimeWindowSchema, { minItems: 1 })),
    /**
     * A manual stage's first plan for a cluster (nothing runs there yet, so there is nothing to
     * compare with): `hold` (the default) holds it for approval like any other change, its diff
     * listing every object as new; `allow` issues it unapproved, for stages bootstrapped from a
     * reviewed commit. Only a manual rule reads it.
     */
    bootstrap: Type.Optional(Type.Union([Type.Literal('hold'), Type.Literal('allow')])),
  },
  { additionalProperties: false },
);

export const StageSchema = Type.Object(
  {
    name: DnsLabel,
    clusters: Type.Array(ClusterSchema, { minItems: 1 }),
    /** Optional on the first stage only (it receives image updates directly). */
    promotion: Type.Optional(PromotionSchema),
    /**
     * Who may lock, unlock, roll back and promote now (names or `group:<name>`). Narrows the
     * token's `operate` role for this stage; absent, the role alone decides.
     */
    operators: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })),
  },
  { additionalProperties: false },
);

export const TagFilterSchema = Type.Object(
  {
    pattern: Type.String({ minLength: 1 }),
    extract: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);

export const TagPolicyChoiceSchema = Type.Object(
  {
    semver: Type.Optional(
      Type.Object({ range: Type.String({ minLength: 1 }) }, { additionalProperties: false }),
    ),
    alphabetical: Type.Optional(
      Type.Object({ order: Type.Optional(Order) }, { additionalProperties: false }),
    ),
    numerical: Type.Optional(Type.Object({ order: Type.Optional(Order) }, { additionalProperties: false })),
  },
  { additionalProperties: false },
);

export const ImageSchema = Type.Object(
  {
    /** Policy name: what `# {"$imagepolicy": "<name>"}` markers refer to. */
    name: DnsLabel,
    repository: Type.String({
      pattern: '^[a-z0-9]([a-z0-9._-]*[a-z0-9])?(:[0-9]+)?(/[a-z0-9]([a-z0-9._-]*[a-z0-9])?)*$',
      maxLength: 255,
      'x-message': 'must be an image repository without tag or digest, e.g. registry.example.com/shop/web',
    }),
    policy: TagPolicyChoiceSchema,
    filterTags: Type.Optional(TagFilterSchema),
    /** Write `repo:tag@sha256:…` (default true): what runs is exactly what was tested upstream. */
    digestPin: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export const TenantSchema = Type.Object(
  {
    /** Namespace of the tenant's ServiceAccount in every target cluster. */
    namespace: DnsLabel,
    serviceAccount: Type.String({
      pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$',
      maxLength: 253,
      'x-message': 'must be a Kubernetes object name (lowercase DNS subdomain)',
    }),
  },
  { additionalProperties: false },
);

export const PipelineSchema = Type.Object(
  {
    apiVersion: Type.Literal('flotilla.io/v1'),
    kind: Type.Literal('Pipeline'),
    // Labels/annotations and the like are allowed and ignored.
    metadata: Type.Object({ name: DnsLabel }, { additionalProperties: true }),
    spec: Type.Object(
      {
        stages: Type.Array(StageSchema, { minItems: 1 }),
        images: Type.Optional(Type.Array(ImageSchema)),
        /** Who owns this pipeline (team, contact): shown in status, never used for authority. */
        owner: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
        /** Whose rights apply in the clusters: the applier impersonates this ServiceAccount. */
        tenant: Type.Optional(TenantSchema),
        /**
         * What happens to the pipeline's objects when its file leaves the repo: `orphan` (the
         * default) leaves them running and unmanaged; `prune` sends every cluster an empty plan,
         * so the applier deletes what the pipeline's inventory holds (and nothing else).
         */
        deletionPolicy: Type.Optional(Type.Union([Type.Literal('orphan'), Type.Literal('prune')])),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false, $id: 'https://flotilla.io/schemas/pipeline.v1.json' },
);

export type Pipeline = Static<typeof PipelineSchema>;
export type Stage = Static<typeof StageSchema>;
export type Cluster = Static<typeof ClusterSchema>;
export type Promotion = Static<typeof PromotionSchema>;
export type ImageSpec = Static<typeof ImageSchema>;
export type Tenant = Static<typeof TenantSchema>;
