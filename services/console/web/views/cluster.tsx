import type { ClusterPage as ClusterPageAnswer } from '@flotilla/api';
import { ago, short } from '../api.ts';
import type { Identity, Live } from '../main.tsx';
import { useData } from '../use-data.ts';
import { Badge, Digest, Problem, Section } from './common.tsx';
import { RenderedDiff } from './rendered-diff.tsx';

const show = (v: unknown) => (v === undefined ? '(absent)' : typeof v === 'string' ? v : JSON.stringify(v));

export function ClusterPage(props: {
  cluster: string;
  live: Live;
  onUnauthorised: () => void;
  me: Identity;
}) {
  const { data, error, at } = useData<ClusterPageAnswer>(
    `/api/clusters/${encodeURIComponent(props.cluster)}`,
    props.live.tick,
    {
      onUnauthorised: props.onUnauthorised,
      // This page is read from the audit log, which records an event a moment after the live
      // stream delivers it: the refetch an event triggers can still see the state before it (a
      // health change stayed "InProgress" on screen). Looking again every few seconds settles it.
      pollMs: 3000,
    },
  );
  return (
    <div>
      <p class="crumbs">
        <a href="#/">Pipelines</a> › {data?.stage ?? '…'} › {props.cluster}
      </p>
      <h1 tabIndex={-1}>
        Cluster {props.cluster}
        {data && <span class="muted"> in stage {data.stage}</span>}
      </h1>
      <Problem error={error} at={at} what={`cluster ${props.cluster}`} />
      {data && (
        <div class="grid2">
          <Section title="Plan">
            {data.plan ? (
              <dl>
                <dt>plan</dt>
                <dd>
                  {data.plan.planId} (sequence {data.plan.sequence})
                </dd>
                <dt>revision</dt>
                <dd>
                  <code title={data.plan.revision}>{short(data.plan.revision)}</code>
                </dd>
                <dt>bundle</dt>
                <dd>
                  <Digest value={data.plan.bundleDigest} />
                  {data.plan.objects !== null && ` · ${data.plan.objects} objects`}
                </dd>
                <dt>signed by key</dt>
                <dd data-testid="key-id">{data.plan.keyId ?? 'unsigned'}</dd>
                <dt>created</dt>
                <dd>{ago(data.plan.at)}</dd>
              </dl>
            ) : (
              <p class="muted">No plan recorded for this cluster yet.</p>
            )}
          </Section>
          <Section title="Last apply">
            {data.apply ? (
              <div>
                <p>
                  <Badge
                    value={data.apply.result === 'succeeded' ? 'synced' : `failed (${data.apply.code})`}
                  />{' '}
                  {data.apply.planId} · {ago(data.apply.at)}
                </p>
                {data.apply.counts && (
                  <p>
                    {data.apply.counts.total} objects: {data.apply.counts.applied} changed,{' '}
                    {data.apply.counts.unchanged} unchanged, {data.apply.counts.pruned} pruned
                    {data.apply.durationMs !== undefined && ` in ${data.apply.durationMs} ms`}
                  </p>
                )}
                {data.apply.message && <p class="err">{data.apply.message}</p>}
                {data.apply.warnings && data.apply.warnings.length > 0 && (
                  <ul>
                    {data.apply.warnings.map((w) => (
                      <li>
                        <code>{w.object}</code> <Badge value="warning" /> {w.message}
                      </li>
                    ))}
                  </ul>
                )}
                {data.apply.problems && data.apply.problems.length > 0 && (
                  <ul>
                    {data.apply.problems.map((p) => (
                      <li>
                        <code>{p.object}</code> {p.code && <Badge value={p.code} />} {p.reason}
                      </li>
                    ))}
                  </ul>
                )}
              </div>
            ) : (
              <p class="muted">Nothing applied yet.</p>
            )}
          </Section>
          <Section title="Health">
            {data.health ? (
              <div>
                <p>
                  <Badge value={data.health.status} label="health" /> since {ago(data.health.at)} at{' '}
                  <code>{short(data.health.revision)}</code>
                </p>
                {data.health.objects.length === 0 ? (
                  <p class="muted">Every applied object is current.</p>
                ) : (
                  <table>
                    <caption class="sr">Objects that are not current</caption>
                    <thead>
                      <tr>
                        <th scope="col">object</th>
                        <th scope="col">status</th>
                        <th scope="col">message</th>
                      </tr>
                    </thead>
                    <tbody>
                      {data.health.objects.map((o) => (
                        <tr>
                          <td>
                            <code>{o.object}</code>
                          </td>
                          <td>
                            <Badge value={o.status} />
                          </td>
                          <td>{o.message}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                )}
              </div>
            ) : (
              <p class="muted">No health reported yet.</p>
            )}
          </Section>
          <Section title="Held for approval">
            {data.held.length === 0 ? (
              <p class="muted">Nothing held: every rendered change has gone to the cluster.</p>
            ) : (
              data.held.map((h) => (
                <div class="held" data-testid="held-change" data-change={h.changeId}>
                  <p>
                    Revision <code>{short(h.revision)}</code>
                    {h.fromRevision && (
                      <>
                        {' '}
                        against running <code>{short(h.fromRevision)}</code>
                      </>
                    )}{' '}
                    · {ago(h.at)} · by {h.authors.join(', ') || '?'} · may approve:{' '}
                    {h.approvers.join(', ') || '–'}
                  </p>
                  <RenderedDiff
                    path={`/api/changes/${encodeURIComponent(h.changeId)}/diff`}
                    tick={0}
                    onUnauthorised={props.onUnauthorised}
                    fallback={
                      <table>
                        <caption class="sr">
                          Objects change {h.changeId} would add, remove or change in {props.cluster}
                        </caption>
                        <thead>
                          <tr>
                            <th scope="col">object</th>
                            <th scope="col">approving would</th>
                          </tr>
                        </thead>
                        <tbody>
                          {h.objects.map((o) => (
                            <tr data-object={o.object}>
                              <td>
                                <code>{o.object}</code>
                              </td>
                              <td>
                                <Badge
                                  value={
                                    o.change === 'added'
                                      ? 'add'
                                      : o.change === 'removed'
                                        ? 'remove'
                                        : 'change'
                                  }
                                />
                              </td>
                            </tr>
                          ))}
                        </tbody>
                      </table>
                    }
                  />
                  {h.refusals.length > 0 && (
                    <ul>
                      {h.refusals.map((r) => (
                        <li>
                          refused {r.by} · {ago(r.at)}: {r.reason}
                        </li>
                      ))}
                    </ul>
                  )}
                </div>
              ))
            )}
          </Section>
          <Section title="Drift">
            {data.drift.length === 0 ? (
              <p class="muted">No drift: the cluster matches Git.</p>
            ) : (
              data.drift.map((d) => (
                <div class="drift">
                  <p>
                    <code>{d.object}</code> · {ago(d.at)} · policy {d.policy}
                  </p>
                  <table>
                    <thead>
                      <tr>
                        <th scope="col">field</th>
                        <th scope="col">Git says</th>
                        <th scope="col">cluster has</th>
                        <th scope="col">changed by</th>
                      </tr>
                    </thead>
                    <tbody>
                      {d.diffs.map((x) => (
                        <tr>
                          <td>
                            <code>{x.path}</code>
                          </td>
                          <td>{show(x.expected)}</td>
                          <td>{show(x.actual)}</td>
                          <td>{x.manager ?? '–'}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </div>
              ))
            )}
          </Section>
          <Section title="Last errors">
            {data.errors.length === 0 ? (
              <p class="muted">No errors recorded.</p>
            ) : (
              <ul>
                {data.errors.map((e) => (
                  <li>
                    <Badge value={e.code} /> {e.event} {ago(e.at)}
                    {e.file && (
                      <>
                        {' '}
                        at <code>{`${e.file}${e.line ? `:${e.line}` : ''}`}</code>
                      </>
                    )}
                    : {e.message.split('\n')[0]}
                  </li>
                ))}
              </ul>
            )}
          </Section>
          <p>
            <a href={`#/timeline?cluster=${encodeURIComponent(props.cluster)}`}>
              Audit timeline of {props.cluster}
            </a>
          </p>
        </div>
      )}
    </div>
  );
}
