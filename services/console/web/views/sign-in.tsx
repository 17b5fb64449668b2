import type { SignedIn } from '@flotilla/api';
import { useState } from 'preact/hooks';
import { ApiError, call } from '../api.ts';
import type { Identity } from '../main.tsx';

/** Sign in with the same bearer token the CLI uses; the console keeps it in an HttpOnly cookie. */
export function SignIn({ onSignedIn }: { onSignedIn: (id: Identity, csrf: string) => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const s = await call<SignedIn>('POST', '/auth/login', { token });
      setToken('');
      onSignedIn(s.identity, s.csrfToken);
    } catch (err) {
      setError(
        err instanceof ApiError && err.status === 401
          ? 'The planner does not accept this token.'
          : `Sign-in failed: ${(err as Error).message}`,
      );
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="page narrow" id="main">
      <h1 tabIndex={-1}>Sign in to Flotilla</h1>
      <form onSubmit={submit} class="card signin">
        <label for="token">API token</label>
        <input
          id="token"
          name="token"
          type="password"
          autocomplete="current-password"
          required
          value={token}
          onInput={(e) => setToken((e.target as HTMLInputElement).value)}
        />
        <p class="hint">
          The same token as <code>flotilla --token</code> / <code>FLOTILLA_TOKEN</code>. You can do here
          exactly what the token allows.
        </p>
        <button type="submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
        {error && (
          <p class="banner error" role="alert">
            {error}
          </p>
        )}
      </form>
    </main>
  );
}
