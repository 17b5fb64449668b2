import { useState } from 'preact/hooks';
import type { Identity, Live } from '../main.tsx';
import { useData } from '../use-data.ts';
import { Commit, Problem } from './common.tsx';

interface TimelineRecord {
  seq: number;
  id: string;
  time: string;
  event: string;
  actor: string;
  cluster: string | null;
  stage: string | null;
  commit: string | null;
  summary: string;
}

interface TimelineData {
  records: TimelineRecord[];
  total: number;
  verify:
    | {
        ok: true;
        files: number;
        records: number;
        head?: { seq?: number; hash?: string } | null;
        stale: boolean;
      }
    | { ok: false; kind: string; file?: string; line?: number; seq?: number; message: string; stale: boolean }
    | { ok: null; kind: 'unverified'; message: string };
  commitUrl: string | null;
}

const FILTERS = ['stage', 'cluster', 'type', 'actor', 'revision'] as const;

function Verify({ v }: { v: TimelineData['verify'] }) {
  if (v.ok === null)
    return (
      <p class="banner" role="status" data-testid="chain">
        Audit chain not verified just now: {v.message}
      </p>
    );
  if (v.ok)
    return (
      <p class="banner ok" role="status" data-testid="chain">
        ✔ Audit chain intact: {v.records} records in {v.files} files
        {v.stale ? ' (as of the last check; newer records are checked shortly)' : ''}.
      </p>
    );
  return (
    <p class="banner error" role="alert" data-testid="chain">
      ✘ Audit chain broken ({v.kind}){v.file ? ` at ${v.file}${v.line ? `:${v.line}` : ''}` : ''}: {v.message}
    </p>
  );
}

export function TimelinePage(props: {
  query: URLSearchParams;
  live: Live;
  onUnauthorised: () => void;
  me: Identity;
}) {
  const initial = Object.fromEntries(FILTERS.map((f) => [f, props.query.get(f) ?? '']));
  const [form, setForm] = useState<Record<string, string>>(initial);
  const q = new URLSearchParams();
  for (const f of FILTERS) if (props.query.get(f)) q.set(f, props.query.get(f) as string);
  const { data, error, at } = useData<TimelineData>(`/api/timeline?${q}`, props.live.tick, {
    onUnauthorised: props.onUnauthorised,
    debounceMs: 400,
    // The audit log records an event a moment after the live stream shows it, and a chain not
    // verified just now gets a verdict on a later look: look again now and then.
    pollMs: 10_000,
  });
  const apply = (e: Event) => {
    e.preventDefault();
    const next = new URLSearchParams();
    for (const f of FILTERS) if (form[f]) next.set(f, form[f] as string);
    location.hash = `#/timeline?${next}`;
  };
  return (
    <div>
      <h1 tabIndex={-1}>Audit timeline</h1>
      <form class="filters card" onSubmit={apply} aria-label="Filter the timeline">
        {FILTERS.map((f) => (
          <label>
            {f}
            <input
              name={f}
              value={form[f]}
              placeholder={f === 'type' ? 'e.g. PromotionApproved' : f === 'actor' ? 'e.g. user:alice' : ''}
              onInput={(e) => setForm({ ...form, [f]: (e.target as HTMLInputElement).value })}
            />
          </label>
        ))}
        <button type="submit">Filter</button>
        <a href="#/timeline">Clear</a>
      </form>
      <Problem error={error} at={at} what="the audit log" />
      {data && <Verify v={data.verify} />}
      <p class="export">
        Evidence of production changes:{' '}
        <a href="/api/export?format=json" download>
          export JSON
        </a>{' '}
        ·{' '}
        <a href="/api/export?format=csv" download>
          export CSV
        </a>
      </p>
      {data && (
        <>
          <p class="muted">
            {data.records.length} of {data.total} records, newest first.
          </p>
          <table class="timeline">
            <thead>
              <tr>
                <th scope="col">#</th>
                <th scope="col">when</th>
                <th scope="col">event</th>
                <th scope="col">who</th>
                <th scope="col">what</th>
                <th scope="col">commit</th>
              </tr>
            </thead>
            <tbody>
              {data.records.map((r) => (
                <tr key={r.seq} data-event={r.event} data-seq={r.seq}>
                  <td>{r.seq}</td>
                  <td>
                    <time dateTime={r.time}>{new Date(r.time).toLocaleString()}</time>
                  </td>
                  <td>{r.event}</td>
                  <td>{r.actor}</td>
                  <td>{r.summary}</td>
                  <td>
                    <Commit sha={r.commit} url={data.commitUrl} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </div>
  );
}
