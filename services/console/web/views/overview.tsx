import type { Overview as OverviewAnswer, StageView } from '@flotilla/api';
import { useEffect, useState } from 'preact/hooks';
import { ago, duration, short } from '../api.ts';
import type { Identity, Live } from '../main.tsx';
import { useData } from '../use-data.ts';
import { Badge, Digest, Problem } from './common.tsx';

function useNow(everyMs = 1000): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(t);
  }, [everyMs]);
  return now;
}

function Stage({ s, now }: { s: StageView; now: number }) {
  const awaiting = s.promotions.filter((p) => p.status === 'awaiting');
  const soakLeft = s.soakUntil ? Date.parse(s.soakUntil) - now : null;
  return (
    <li class="stage card" data-stage={s.name} aria-label={`stage ${s.name}`}>
      <h3>
        {s.name} <Badge value={s.rule} label="promotion" />
        {s.locked && (
          <Badge value="locked" title={`by ${s.locked.by}${s.locked.reason ? `: ${s.locked.reason}` : ''}`} />
        )}
      </h3>
      <ul class="images" aria-label="images">
        {s.images.length === 0 && <li class="muted">no images yet</li>}
        {s.images.map((i) => (
          <li data-testid="image">
            <span class="tag">
              {i.name}:{i.tag ?? '?'}
            </span>{' '}
            <Digest value={i.digest} />
          </li>
        ))}
      </ul>
      <ul class="clusters">
        {s.clusters.map((c) => (
          <li data-cluster={c.name}>
            <a href={`#/cluster/${encodeURIComponent(c.name)}`}>{c.name}</a>
            <span class="badges">
              <Badge value={c.sync} label="sync" />
              <Badge value={c.healthStale ? `${c.health} (old plan)` : c.health} label="health" />
              <Badge
                value={c.drift === null ? 'drift ?' : c.drift === 0 ? 'no drift' : `${c.drift} drifted`}
                label="drift"
              />
            </span>
            <span class="meta">
              <code title={c.revision ?? ''}>{short(c.revision)}</code> · applied {ago(c.appliedAt, now)}
            </span>
            {c.lastError && c.sync.startsWith('failed') && (
              <span class="err">
                {c.lastError.code}: {c.lastError.message.split('\n')[0]}
              </span>
            )}
          </li>
        ))}
      </ul>
      <p class="rollout">{s.rollout.summary}</p>
      {soakLeft !== null && (
        <p class="soak" data-testid="soak">
          {soakLeft > 0 ? `soaking upstream: promotes in ${duration(soakLeft)}` : 'soak done: promotion due'}
        </p>
      )}
      {s.promotions
        .filter((p) => p.status !== 'awaiting')
        .map((p) => (
          <p class="promo">
            <Badge value={p.status} /> from {p.fromStage}:{' '}
            {p.images.map((i) => `${i.name}:${i.tag ?? short(i.digest)}`).join(', ')}
          </p>
        ))}
      {awaiting.map((p) => (
        <p class="promo awaiting" data-testid="awaiting">
          <Badge value="awaiting" /> {p.images.map((i) => `${i.name}:${i.tag ?? short(i.digest)}`).join(', ')}{' '}
          from {p.fromStage} —{' '}
          <a href={`#/promotion/${encodeURIComponent(p.id)}`}>
            review{p.youMayApprove ? ' and approve' : ''}
          </a>
        </p>
      ))}
    </li>
  );
}

export function Activity({ live }: { live: Live }) {
  return (
    <section class="card activity" aria-labelledby="activity-h">
      <h2 id="activity-h">Live activity</h2>
      {live.events.length === 0 && <p class="muted">Events appear here as they happen.</p>}
      <ol aria-live="polite" aria-relevant="additions">
        {live.events.slice(0, 20).map((e) => (
          <li key={e.id} data-event-id={e.id} data-event={e.name}>
            <time dateTime={e.time}>{new Date(e.time).toLocaleTimeString()}</time> <strong>{e.name}</strong>{' '}
            {e.summary}
          </li>
        ))}
      </ol>
    </section>
  );
}

export function Overview({ live, onUnauthorised }: { live: Live; onUnauthorised: () => void; me: Identity }) {
  const { data, error, loading, at } = useData<OverviewAnswer>('/api/pipelines', live.tick, {
    onUnauthorised,
    pollMs: 5000,
  });
  const now = useNow();
  return (
    <div class="overview">
      <h1 tabIndex={-1}>Pipelines</h1>
      <Problem error={error} at={at} what="the pipelines" />
      {data?.audit === 'unavailable' && (
        <p class="banner warn" role="status">
          The audit log cannot be read: drift is unknown.
        </p>
      )}
      {loading && !data && <p role="status">Loading pipelines…</p>}
      {data?.pipelines.map((p) => (
        <section
          class={`pipeline${error ? ' stale' : ''}`}
          aria-labelledby={`p-${p.name}`}
          data-pipeline={p.name}
        >
          <h2 id={`p-${p.name}`}>
            {p.name} <span class="muted">at</span> <code title={p.revision ?? ''}>{short(p.revision)}</code>
          </h2>
          <ol class="stages">
            {p.stages.map((s) => (
              <Stage s={s} now={now} />
            ))}
          </ol>
        </section>
      ))}
      <Activity live={live} />
    </div>
  );
}
