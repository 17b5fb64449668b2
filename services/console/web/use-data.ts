import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, call } from './api.ts';

export interface DataState<T> {
  data: T | undefined;
  error: ApiError | undefined;
  loading: boolean;
  /** When `data` was fetched: shown next to stale data while a backend is down. */
  at: number | undefined;
  reload(): void;
}

/**
 * Fetches `path`, again whenever `tick` moves (debounced, so a burst of events costs one
 * request), every `retryMs` while it fails (keeping the last good data on screen) and, with
 * `pollMs`, every `pollMs` while it works.
 */
export function useData<T>(
  path: string | null,
  tick: number,
  opts: { onUnauthorised: () => void; retryMs?: number; debounceMs?: number; pollMs?: number },
): DataState<T> {
  const [state, setState] = useState<Omit<DataState<T>, 'reload'>>({
    data: undefined,
    error: undefined,
    loading: true,
    at: undefined,
  });
  const [nonce, setNonce] = useState(0);
  const first = useRef(true);
  const { onUnauthorised, retryMs = 3000, debounceMs = 150, pollMs } = opts;

  useEffect(() => {
    if (!path) return;
    let cancelled = false;
    let retry: ReturnType<typeof setTimeout> | undefined;
    const load = async () => {
      try {
        const data = await call<T>('GET', path);
        if (cancelled) return;
        setState({ data, error: undefined, loading: false, at: Date.now() });
        // A backend can go away without any event saying so: look again now and then.
        if (pollMs) retry = setTimeout(load, pollMs);
      } catch (err) {
        if (cancelled) return;
        const e = err instanceof ApiError ? err : new ApiError(0, 'error', String(err));
        if (e.status === 401) return onUnauthorised();
        setState((s) => ({ ...s, error: e, loading: false }));
        retry = setTimeout(load, retryMs);
      }
    };
    const delay = first.current ? 0 : debounceMs;
    first.current = false;
    const t = setTimeout(load, delay);
    return () => {
      cancelled = true;
      clearTimeout(t);
      if (retry) clearTimeout(retry);
    };
  }, [path, tick, nonce]);

  return { ...state, reload: () => setNonce((n) => n + 1) };
}
