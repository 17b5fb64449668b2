import { readFileSync } from 'node:fs';
import { type Identity, parseRoleGrant, type RoleGrant } from '@flotilla/policy';
import { type Static, Type } from '@sinclair/typebox';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from './config.ts';
import { registerSecret } from './secrets.ts';
import { safeEqual } from './webhook-signatures.ts';

/**
 * One API bearer token and who holds it. The planner and the audit-writer read the same token
 * file (a mounted Secret), so a person has one token and one set of roles everywhere.
 */
export const ApiTokenSchema = Type.Object({
  token: Type.String({ minLength: 16 }),
  name: Type.String({ minLength: 1 }),
  groups: Type.Optional(Type.Array(Type.String())),
  /**
   * Roles: `read`, `operate`, `approve`, each optionally scoped as `role:pipeline` or
   * `role:pipeline/stage` (`*` for any). A token without roles can only say who it is.
   */
  roles: Type.Optional(Type.Array(Type.String())),
});
export type ApiToken = Static<typeof ApiTokenSchema>;

/** A token with its roles parsed. */
export type AuthorisedToken = ApiToken & { grants: RoleGrant[] };

/** The `api` block of a service's config: tokens inline (env JSON) and/or from a file. */
export const apiTokensConfig = () =>
  Type.Object(
    {
      /** Bearer tokens and the identities they stand for (JSON array in the environment). */
      tokens: Type.Array(ApiTokenSchema, { default: [] }),
      /** YAML/JSON file with the same array (a mounted Secret); merged with `tokens`. */
      tokensFile: Type.Optional(Type.String()),
    },
    { default: {} },
  );

/**
 * Reads `tokens` and `tokensFile` into tokens with parsed roles. A malformed entry or role stops
 * the start with the entry named: a typo is never read as a wider grant. Every token is
 * registered as a secret, so it is scrubbed from logs.
 */
export function loadApiTokens(api: {
  tokens?: ApiToken[];
  tokensFile?: string | undefined;
}): AuthorisedToken[] {
  const tokens = [...(api.tokens ?? [])];
  if (api.tokensFile) {
    const parsed = parseYaml(readFileSync(api.tokensFile, 'utf8'), { maxAliasCount: 10 }) as unknown;
    if (!Array.isArray(parsed)) throw new ConfigError([`api.tokensFile ${api.tokensFile}: expected a list`]);
    for (const t of parsed as ApiToken[]) {
      if (typeof t?.token !== 'string' || t.token.length < 16 || typeof t.name !== 'string')
        throw new ConfigError([`api.tokensFile: every entry needs token (16+ characters) and name`]);
      tokens.push({
        token: t.token,
        name: t.name,
        groups: Array.isArray(t.groups) ? t.groups.map(String) : [],
        roles: Array.isArray(t.roles) ? t.roles.map(String) : [],
      });
    }
  }
  for (const t of tokens) registerSecret(t.token);
  const problems: string[] = [];
  const out = tokens.map((t) => {
    const grants: RoleGrant[] = [];
    for (const text of t.roles ?? []) {
      const g = parseRoleGrant(text);
      if ('error' in g) problems.push(`api token of ${t.name}: role ${g.error}`);
      else grants.push(g);
    }
    return { ...t, grants };
  });
  if (problems.length) throw new ConfigError(problems);
  return out;
}

/** Bearer token → identity with its roles; compared in constant time so timing does not leak tokens. */
export function identifyBearer(
  header: string | undefined,
  tokens: readonly AuthorisedToken[],
): Identity | null {
  const m = /^Bearer\s+(\S+)$/i.exec(header ?? '');
  if (!m) return null;
  const presented = m[1] as string;
  let found: AuthorisedToken | null = null;
  for (const t of tokens) if (safeEqual(presented, t.token)) found = t;
  return found ? { name: found.name, groups: found.groups ?? [], roles: found.grants } : null;
}
