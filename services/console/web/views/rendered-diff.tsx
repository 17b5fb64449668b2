import type { ComponentChildren } from 'preact';
import { short } from '../api.ts';
import { useData } from '../use-data.ts';
import { Badge } from './common.tsx';

// What approving changes in the rendered objects, field by field, as the planner computed it
// (GET /promotions/:id/diff, /changes/:id/diff). Secret values never reach the page: the planner
// sends their paths with keyed hashes, shown here as "secret" and a short hash.

type FieldChange =
  | { path: string; before?: unknown; after?: unknown; truncated?: true; sensitive?: undefined }
  | { path: string; sensitive: true; beforeHash?: string; afterHash?: string };

interface ObjectChange {
  object: string;
  kind: string;
  change: 'added' | 'removed' | 'changed';
  fields?: FieldChange[];
  moreFields?: number;
}

interface ClusterDiff {
  cluster: string;
  fromRevision: string | null;
  toRevision: string;
  basis: 'commit' | 'preview';
  diff?: {
    added: number;
    removed: number;
    changed: number;
    unchanged: number;
    objects: ObjectChange[];
    moreObjects: number;
  };
  error?: { code: string; message: string };
}

interface DiffAnswer {
  kind: 'promotion' | 'change';
  id: string;
  stage: string;
  clusters: ClusterDiff[];
}

/** Changed objects start open when there are few of them; the rest are one click (or Enter) away. */
const OPEN_UP_TO = 8;

const show = (v: unknown): string =>
  v === undefined ? '(absent)' : typeof v === 'string' ? v : JSON.stringify(v);
const hashed = (h: string | undefined) =>
  h === undefined ? '(absent)' : `secret ${h.replace(/^hmac-sha256:/, 'hmac:').slice(0, 17)}…`;

/**
 * The rendered diff at `path`, per cluster. While it loads or when it cannot be had (an old
 * planner, a render failure), `fallback` (the names the event carried) stands in.
 */
export function RenderedDiff(props: {
  path: string;
  tick: number;
  onUnauthorised: () => void;
  fallback?: ComponentChildren;
}) {
  const { data, error, loading } = useData<DiffAnswer>(props.path, props.tick, {
    onUnauthorised: props.onUnauthorised,
    // A render takes a few seconds; a failing one is not worth hammering.
    retryMs: 15_000,
  });
  if (!data)
    return (
      <div data-testid="rendered-diff" aria-busy={loading}>
        <p class="muted">
          {loading
            ? 'Rendering both sides to compare…'
            : `Field-level diff unavailable: ${error?.message ?? '?'}`}
        </p>
        {props.fallback}
      </div>
    );
  return (
    <div data-testid="rendered-diff">
      {data.clusters.map((c) => (
        <ClusterChanges c={c} many={data.clusters.length > 1} />
      ))}
    </div>
  );
}

function ClusterChanges({ c, many }: { c: ClusterDiff; many: boolean }) {
  const d = c.diff;
  const changed = d?.objects.filter((o) => o.change === 'changed').length ?? 0;
  return (
    <div class="rdiff" data-cluster={c.cluster}>
      <p>
        {many && (
          <>
            <strong>{c.cluster}</strong>:{' '}
          </>
        )}
        {c.fromRevision ? (
          <>
            running <code>{short(c.fromRevision)}</code> →{' '}
          </>
        ) : (
          'nothing running yet → '
        )}
        <code>{short(c.toRevision)}</code>
        {c.basis === 'preview' ? ' with the promoted images written in (not committed yet)' : ''}
        {d && (
          <span class="muted">
            {' '}
            · {d.changed} changed, {d.added} added, {d.removed} removed, {d.unchanged} unchanged
          </span>
        )}
      </p>
      {c.error && (
        <p class="banner error" role="alert">
          Cannot compare: {c.error.message} ({c.error.code})
        </p>
      )}
      {d && d.objects.length === 0 && <p class="muted">No rendered object changes.</p>}
      {d?.objects.map((o) =>
        o.change === 'changed' ? (
          <details class="rdiff-object" data-object={o.object} open={changed <= OPEN_UP_TO}>
            <summary>
              <Badge value="change" /> <code>{o.object}</code>{' '}
              <span class="muted">
                ({(o.fields?.length ?? 0) + (o.moreFields ?? 0)} field
                {(o.fields?.length ?? 0) + (o.moreFields ?? 0) === 1 ? '' : 's'})
              </span>
            </summary>
            <table>
              <caption class="sr">Fields of {o.object} that change</caption>
              <thead>
                <tr>
                  <th scope="col">field</th>
                  <th scope="col">runs now</th>
                  <th scope="col">after</th>
                </tr>
              </thead>
              <tbody>
                {(o.fields ?? []).map((f) => (
                  <tr data-path={f.path}>
                    <td>
                      <code>{f.path}</code>
                    </td>
                    {f.sensitive ? (
                      <>
                        <td class="secret">{hashed(f.beforeHash)}</td>
                        <td class="secret changed">{hashed(f.afterHash)}</td>
                      </>
                    ) : (
                      <>
                        <td>
                          <code>{show(f.before)}</code>
                        </td>
                        <td class="changed">
                          <code>{show(f.after)}</code>
                          {f.truncated && <span class="muted"> (cut)</span>}
                        </td>
                      </>
                    )}
                  </tr>
                ))}
              </tbody>
            </table>
            {o.moreFields ? <p class="muted">…and {o.moreFields} more fields not shown.</p> : null}
          </details>
        ) : (
          <p class="rdiff-object" data-object={o.object}>
            <Badge value={o.change === 'added' ? 'add' : 'remove'} /> <code>{o.object}</code>
          </p>
        ),
      )}
      {d && d.moreObjects > 0 && <p class="muted">…and {d.moreObjects} more objects not shown.</p>}
    </div>
  );
}
