import type { LeadTimes } from '../../src/lead-time.ts';
import { duration } from '../api.ts';
import type { Identity, Live } from '../main.tsx';
import { useData } from '../use-data.ts';
import { Problem } from './common.tsx';

const COLORS = ['#2563eb', '#16a34a', '#d97706', '#9333ea', '#0891b2', '#be123c'];
const W = 720;
const H = 260;
const PAD = { l: 56, r: 16, t: 16, b: 40 };

/** Lead time from push to each stage, one line per stage over releases; failure markers below. */
function Chart({ d }: { d: LeadTimes }) {
  const rel = [...d.releases].sort((a, b) => a.pushedAt.localeCompare(b.pushedAt));
  const max = Math.max(1000, ...rel.flatMap((r) => Object.values(r.stages).map((s) => s.leadMs)));
  const x = (i: number) =>
    PAD.l + (rel.length <= 1 ? (W - PAD.l - PAD.r) / 2 : (i * (W - PAD.l - PAD.r)) / (rel.length - 1));
  const y = (ms: number) => H - PAD.b - (ms / max) * (H - PAD.t - PAD.b);
  const t0 = rel[0] ? Date.parse(rel[0].pushedAt) : 0;
  const t1 = rel.length > 1 ? Date.parse((rel[rel.length - 1] as (typeof rel)[number]).pushedAt) : t0 + 1;
  const xt = (iso: string) =>
    PAD.l + Math.min(1, Math.max(0, (Date.parse(iso) - t0) / Math.max(1, t1 - t0))) * (W - PAD.l - PAD.r);
  return (
    <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-labelledby="chart-title" class="chart">
      <title id="chart-title">Lead time from image push to each stage, per release</title>
      {[0, 0.5, 1].map((f) => (
        <g>
          <line x1={PAD.l} x2={W - PAD.r} y1={y(max * f)} y2={y(max * f)} class="grid" />
          <text x={PAD.l - 6} y={y(max * f) + 4} text-anchor="end">
            {duration(max * f)}
          </text>
        </g>
      ))}
      {d.markers.map((m) => (
        <g class={`marker ${m.kind}`}>
          <line x1={xt(m.at)} x2={xt(m.at)} y1={PAD.t} y2={H - PAD.b} />
          <title>{`${m.kind} in ${m.stage}: ${m.detail}`}</title>
        </g>
      ))}
      {d.stages.map((s, si) => {
        const pts = rel
          .map((r, i) => (r.stages[s] ? `${x(i)},${y((r.stages[s] as { leadMs: number }).leadMs)}` : null))
          .filter(Boolean);
        const color = COLORS[si % COLORS.length];
        return (
          <g>
            <polyline points={pts.join(' ')} fill="none" stroke={color} stroke-width="2" />
            {rel.map((r, i) =>
              r.stages[s] ? (
                <circle cx={x(i)} cy={y((r.stages[s] as { leadMs: number }).leadMs)} r="4" fill={color}>
                  <title>{`${r.tag ?? r.digest} → ${s}: ${duration((r.stages[s] as { leadMs: number }).leadMs)}`}</title>
                </circle>
              ) : null,
            )}
          </g>
        );
      })}
      {rel.map((r, i) => (
        <text x={x(i)} y={H - PAD.b + 16} text-anchor="middle">
          {r.tag ?? r.digest.slice(7, 15)}
        </text>
      ))}
    </svg>
  );
}

export function LeadTimePage(props: { live: Live; onUnauthorised: () => void; me: Identity }) {
  const { data, error, at } = useData<LeadTimes>('/api/lead-times', props.live.tick, {
    onUnauthorised: props.onUnauthorised,
    debounceMs: 1000,
  });
  return (
    <div>
      <h1 tabIndex={-1}>Lead time for changes</h1>
      <p class="muted">
        From an image push to its first successful apply in each stage (DORA lead time for changes).
      </p>
      <Problem error={error} at={at} what="lead times" />
      {data && data.releases.length === 0 && <p>No release has reached a stage yet.</p>}
      {data && data.releases.length > 0 && (
        <>
          <p class="legend">
            {data.stages.map((s, i) => (
              <span>
                <span class="swatch" style={{ background: COLORS[i % COLORS.length] }} /> {s}
              </span>
            ))}
            <span>
              <span class="swatch marker-swatch" /> rollback / failed apply / degraded
            </span>
          </p>
          <Chart d={data} />
          <table>
            <caption>Lead time per release and stage</caption>
            <thead>
              <tr>
                <th scope="col">release</th>
                <th scope="col">pushed</th>
                {data.stages.map((s) => (
                  <th scope="col">{s}</th>
                ))}
              </tr>
            </thead>
            <tbody>
              {data.releases.map((r) => (
                <tr data-release={r.tag ?? r.digest}>
                  <td>{r.tag ?? r.digest.slice(0, 19)}</td>
                  <td>{new Date(r.pushedAt).toLocaleString()}</td>
                  {data.stages.map((s) => (
                    <td>{r.stages[s] ? duration(r.stages[s].leadMs) : '–'}</td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
          {data.markers.length > 0 && (
            <>
              <h2>Change failures and rollbacks</h2>
              <ul>
                {data.markers.map((m) => (
                  <li>
                    {new Date(m.at).toLocaleString()} · {m.kind} in {m.stage}: {m.detail}
                  </li>
                ))}
              </ul>
            </>
          )}
        </>
      )}
    </div>
  );
}
