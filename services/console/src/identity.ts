import type { PlannerApi } from './planner-adapter.ts';

/** Who is signed in, and what the console forwards on their behalf. */
export interface SessionIdentity {
  /** Provider that vouched for the person (`token` today; `oidc` later). */
  provider: string;
  name: string;
  groups: string[];
  /**
   * The credential the backends accept for this person. The console has no rights of its own:
   * every planner call carries this, so the planner decides exactly as it would for the CLI.
   */
  bearer: string;
}

/**
 * A way to sign in. The bearer-token provider checks a CLI token with the planner; an OIDC
 * provider would add a redirect route and turn the ID token into the same `SessionIdentity`
 * (with a bearer the planner accepts), leaving sessions, CSRF and routes as they are.
 */
export interface IdentityProvider {
  readonly id: string;
  /** null: the credentials are not accepted. Throws when the verifier cannot be reached. */
  signIn(credentials: Record<string, unknown>): Promise<SessionIdentity | null>;
}

export function bearerTokenProvider(planner: Pick<PlannerApi, 'whoami'>): IdentityProvider {
  return {
    id: 'token',
    async signIn(credentials) {
      const token = typeof credentials.token === 'string' ? credentials.token.trim() : '';
      // Tokens are opaque printable strings; anything else is refused before it goes anywhere.
      if (!/^[\x21-\x7e]{8,512}$/.test(token)) return null;
      const who = await planner.whoami(token);
      return who ? { provider: 'token', name: who.name, groups: who.groups, bearer: token } : null;
    },
  };
}
