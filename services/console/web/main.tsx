import type { SessionAnswer } from '@flotilla/api';
import { render } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import type { LiveEvent } from '../src/live-feed.ts';
import { ApiError, call, setCsrf } from './api.ts';
import './styles.css';
import { ClusterPage } from './views/cluster.tsx';
import { LeadTimePage } from './views/lead-time.tsx';
import { Overview } from './views/overview.tsx';
import { PromotionPage } from './views/promotion.tsx';
import { SignIn } from './views/sign-in.tsx';
import { TimelinePage } from './views/timeline.tsx';

export interface Identity {
  name: string;
  groups: string[];
}

/** What every view gets: the live events so far and a counter that moves when one arrives. */
export interface Live {
  events: LiveEvent[];
  /** Increments on each event and on reconnect: views refetch (debounced) when it moves. */
  tick: number;
  connected: boolean;
}

function parseRoute(hash: string): { view: string; arg: string; query: URLSearchParams } {
  const [path = '', query = ''] = hash.replace(/^#/, '').split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  return { view: parts[0] ?? '', arg: parts[1] ?? '', query: new URLSearchParams(query) };
}

function useRoute() {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const on = () => setHash(location.hash);
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return parseRoute(hash);
}

function useLive(enabled: boolean): Live {
  const [live, setLive] = useState<Live>({ events: [], tick: 0, connected: false });
  useEffect(() => {
    if (!enabled) return;
    const es = new EventSource('/api/events');
    es.addEventListener('hello', (m) => {
      const { live: natsUp } = JSON.parse((m as MessageEvent).data) as { live: boolean };
      // (Re)connected: whatever happened meanwhile is fetched again.
      setLive((l) => ({ ...l, connected: natsUp, tick: l.tick + 1 }));
    });
    es.addEventListener('flotilla', (m) => {
      const e = JSON.parse((m as MessageEvent).data) as LiveEvent;
      setLive((l) =>
        l.events.some((x) => x.id === e.id)
          ? l
          : { ...l, events: [e, ...l.events].slice(0, 50), tick: l.tick + 1 },
      );
    });
    es.onerror = () => setLive((l) => ({ ...l, connected: false }));
    return () => es.close();
  }, [enabled]);
  return live;
}

function App() {
  const [me, setMe] = useState<Identity | null | undefined>(undefined);
  const [fatal, setFatal] = useState<string | null>(null);
  const route = useRoute();
  const live = useLive(!!me);
  const main = useRef<HTMLElement>(null);

  const loadSession = useCallback(async () => {
    try {
      const s = await call<SessionAnswer>('GET', '/auth/session');
      setCsrf(s.csrfToken ?? '');
      setMe(s.identity);
      setFatal(null);
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) setMe(null);
      else {
        setFatal((err as Error).message);
        setTimeout(loadSession, 3000);
      }
    }
  }, []);
  useEffect(() => {
    void loadSession();
  }, [loadSession]);
  // Move focus to the new page's heading so keyboard and screen-reader users follow navigation.
  useEffect(() => {
    main.current?.querySelector<HTMLElement>('h1')?.focus();
  }, [route.view, route.arg]);

  const onUnauthorised = useCallback(() => setMe(null), []);
  const signOut = async () => {
    await call('POST', '/auth/logout').catch(() => undefined);
    setMe(null);
  };

  if (me === undefined)
    return (
      <main class="page">
        <p class="loading" role="status">
          {fatal ? `The console cannot be reached: ${fatal}. Retrying…` : 'Loading…'}
        </p>
      </main>
    );
  if (me === null)
    return (
      <SignIn
        onSignedIn={(id, csrf) => {
          setCsrf(csrf);
          setMe(id);
        }}
      />
    );

  const props = { live, onUnauthorised, me };
  const nav = [
    ['', 'Pipelines'],
    ['timeline', 'Timeline'],
    ['lead-time', 'Lead time'],
  ] as const;
  return (
    <>
      <button type="button" class="skip" onClick={() => main.current?.focus()}>
        Skip to content
      </button>
      <header class="top">
        <a class="brand" href="#/">
          Flotilla
        </a>
        <nav aria-label="Main">
          {nav.map(([v, label]) => (
            <a href={`#/${v}`} aria-current={route.view === v ? 'page' : undefined}>
              {label}
            </a>
          ))}
        </nav>
        <span class={`live ${live.connected ? 'on' : 'off'}`} role="status" data-testid="live">
          {live.connected ? '● live' : '○ reconnecting'}
        </span>
        <span class="who">
          {me.name}
          <button type="button" class="link" onClick={signOut}>
            Sign out
          </button>
        </span>
      </header>
      <main class="page" id="main" ref={main} tabIndex={-1}>
        {route.view === 'promotion' ? (
          <PromotionPage id={route.arg} {...props} />
        ) : route.view === 'cluster' ? (
          <ClusterPage cluster={route.arg} {...props} />
        ) : route.view === 'timeline' ? (
          <TimelinePage query={route.query} {...props} />
        ) : route.view === 'lead-time' ? (
          <LeadTimePage {...props} />
        ) : (
          <Overview {...props} />
        )}
      </main>
    </>
  );
}

const root = document.getElementById('app') as HTMLElement;
root.textContent = '';
render(<App />, root);
