import type { Stage } from './pipeline-schema.ts';

/**
 * What an API caller may do. `read`: status, history, promotions. `operate`: lock, unlock, roll
 * back, promote now into an auto stage. `approve`: approve and reject promotions, promote now
 * into a manual stage. `operate` and `approve` each include `read` for their scope; neither
 * includes the other, so the person who can roll prod back is not thereby its approver.
 */
export type Role = 'read' | 'operate' | 'approve';

export const ROLES: readonly Role[] = ['read', 'operate', 'approve'];

/**
 * One grant from the token file: a role for a pipeline (or every pipeline, `*`) and a stage of it
 * (or every stage, `*`). Written `role`, `role:pipeline` or `role:pipeline/stage`.
 */
export interface RoleGrant {
  role: Role;
  pipeline: string;
  stage: string;
}

/** Where an operation happens: the pipeline's name and, for stage operations, the stage. */
export interface RoleScope {
  pipeline: string;
  stage?: string;
}

const NAME = /^(\*|[a-z0-9]([-a-z0-9]*[a-z0-9])?)$/;

/**
 * Parses `operate:shop/prod` and its shorter forms. Returns a reason instead of throwing, so a
 * token file with a typo is refused at start with the entry named, never read as a wider grant.
 */
export function parseRoleGrant(text: string): RoleGrant | { error: string } {
  const m = /^([a-z]+)(?::([^/]+)(?:\/(.+))?)?$/.exec(text.trim());
  if (!m) return { error: `"${text}" is not role, role:pipeline or role:pipeline/stage` };
  const [, role = '', pipeline = '*', stage = '*'] = m;
  if (!(ROLES as readonly string[]).includes(role))
    return { error: `"${text}": unknown role "${role}" (one of ${ROLES.join(', ')})` };
  if (!NAME.test(pipeline)) return { error: `"${text}": pipeline "${pipeline}" is not a name or *` };
  if (!NAME.test(stage)) return { error: `"${text}": stage "${stage}" is not a name or *` };
  return { role: role as Role, pipeline, stage };
}

export const formatRoleGrant = (g: RoleGrant): string =>
  g.pipeline === '*' && g.stage === '*'
    ? g.role
    : `${g.role}:${g.pipeline}${g.stage === '*' ? '' : `/${g.stage}`}`;

// Every grant includes read for its scope.
const gives = (grant: RoleGrant, role: Role) => grant.role === role || role === 'read';

const covers = (grant: RoleGrant, role: Role, at: RoleScope): boolean =>
  gives(grant, role) &&
  (grant.pipeline === '*' || grant.pipeline === at.pipeline) &&
  // A pipeline-wide question (no stage) is answered only by a pipeline-wide grant.
  (grant.stage === '*' || (at.stage !== undefined && grant.stage === at.stage));

/** Does any of `grants` give `role` at `at`? */
export function hasRole(grants: readonly RoleGrant[], role: Role, at: RoleScope): boolean {
  return grants.some((g) => covers(g, role, at));
}

/** Does any grant give `role` somewhere in `pipeline` (any of its stages)? For listings. */
export function hasRoleIn(grants: readonly RoleGrant[], role: Role, pipeline: string): boolean {
  return grants.some((g) => gives(g, role) && (g.pipeline === '*' || g.pipeline === pipeline));
}

/**
 * May `identity` operate `stage` as far as flotilla.yaml is concerned? A stage without an
 * `operators` list leaves it to the token's roles; a list narrows it to those names and
 * `group:<name>`s. The token must grant `operate` as well: the config repo can narrow who
 * operates a stage but never grant a role the token file does not.
 */
export function isStageOperator(
  stage: Stage,
  identity: { name: string; groups?: readonly string[] },
): boolean {
  if (!stage.operators) return true;
  const groups = new Set(identity.groups ?? []);
  return stage.operators.some((a) =>
    a.startsWith('group:') ? groups.has(a.slice('group:'.length)) : a === identity.name,
  );
}
