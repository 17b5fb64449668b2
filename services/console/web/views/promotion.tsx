import type { PromotionPage as PromotionPageAnswer } from '@flotilla/api';
import { useMemo, useState } from 'preact/hooks';
import { DecisionKeys, decisionAction } from '../../src/decision-keys.ts';
import { type ApiError, ago, call } from '../api.ts';
import type { Identity, Live } from '../main.tsx';
import { useData } from '../use-data.ts';
import { Badge, Commit, Digest, Problem, Section } from './common.tsx';
import { RenderedDiff } from './rendered-diff.tsx';

type Outcome = { kind: 'ok' | 'refused' | 'error' | 'pending'; text: string };

export function PromotionPage(props: { id: string; live: Live; onUnauthorised: () => void; me: Identity }) {
  const { data, error, at, reload } = useData<PromotionPageAnswer>(
    `/api/promotions/${encodeURIComponent(props.id)}`,
    props.live.tick,
    { onUnauthorised: props.onUnauthorised },
  );
  const [comment, setComment] = useState('');
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<Outcome | null>(null);

  // One Idempotency-Key per decision, the same on a retry after no answer (decision-keys.ts).
  const keys = useMemo(() => new DecisionKeys(() => crypto.randomUUID()), []);

  const decide = async (verb: 'approve' | 'reject') => {
    setBusy(true);
    setOutcome(null);
    const key = keys.keyFor(decisionAction(verb, props.id, comment));
    try {
      await call(
        'POST',
        `/api/promotions/${encodeURIComponent(props.id)}/${verb}`,
        { [verb === 'approve' ? 'comment' : 'reason']: comment || undefined },
        { 'idempotency-key': key },
      );
      keys.settled('answered');
      setOutcome({
        kind: 'ok',
        // The planner answers once the decision is carried out; the record it returns (reloaded
        // below) then says how far the promotion got.
        text: verb === 'approve' ? 'Approved.' : 'Rejected.',
      });
      setComment('');
    } catch (err) {
      const e = err as ApiError;
      // No answer (unreachable, timed out): the decision may be on record; its retry keeps the key.
      keys.settled(e.unavailable ? 'unknown' : 'answered');
      if (e.status === 401) return props.onUnauthorised();
      setOutcome(
        e.status === 403
          ? { kind: 'refused', text: `Refused by the planner: ${e.message}` }
          : e.status === 504
            ? {
                // Taken but not answered yet: the decision may well be carried out (the planner
                // answers only after the commit, push and render). The record below will say.
                kind: 'pending',
                text: `${e.message}. Your decision may still be carried out: this page shows it when it is.`,
              }
            : {
                kind: 'error',
                text: `${verb === 'approve' ? 'Approval' : 'Rejection'} failed: ${e.message}`,
              },
      );
    } finally {
      setBusy(false);
      reload();
    }
  };

  const p = data?.promotion;
  // What the planner recorded outranks what the request said: an answer that came too late
  // (pending) or a decision made in another tab still shows as made.
  const me = `user:${props.me.name}`;
  const recorded: Outcome | null = !p
    ? null
    : p.approvedBy.includes(me)
      ? {
          kind: 'ok',
          text: `Approved by you. ${p.commit ? 'The promotion is committed.' : 'The planner is committing the promotion.'}`,
        }
      : p.rejectedBy === me
        ? { kind: 'ok', text: 'Rejected by you.' }
        : null;
  const shown = recorded ?? outcome;
  const byName = new Map((data?.current ?? []).map((i) => [i.repository, i]));
  return (
    <div>
      <p class="crumbs">
        <a href="#/">Pipelines</a> › promotion
      </p>
      <h1 tabIndex={-1}>{p ? `Promote ${p.fromStage} → ${p.toStage}` : `Promotion ${props.id}`}</h1>
      <Problem error={error} at={at} what={`promotion ${props.id}`} />
      {p && data && (
        <div class="grid2">
          <Section title="What changes">
            <table>
              <caption class="sr">Images promoted into {p.toStage}</caption>
              <thead>
                <tr>
                  <th scope="col">image</th>
                  <th scope="col">{p.toStage} runs now</th>
                  <th scope="col">promoted</th>
                </tr>
              </thead>
              <tbody>
                {p.images.map((i) => {
                  const cur = byName.get(i.repository);
                  return (
                    <tr>
                      <td>{i.name ?? i.repository}</td>
                      <td>
                        {cur ? (
                          <>
                            {cur.tag ?? '?'} <Digest value={cur.digest} />
                          </>
                        ) : (
                          '–'
                        )}
                      </td>
                      <td class={cur?.digest === i.digest ? '' : 'changed'}>
                        {i.tag ?? '?'} <Digest value={i.digest} />
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
            <p>
              Source revision <Commit sha={p.revision} url={data.commitUrl} /> of {p.fromStage}. The same
              digests are copied into {p.toStage}'s config; nothing is rebuilt.
            </p>
          </Section>
          <Section title="Decision">
            <dl>
              <dt>status</dt>
              <dd data-testid="promotion-status">
                <Badge value={p.status} />
              </dd>
              <dt>proposed by</dt>
              <dd>
                {p.actor} · {ago(p.createdAt)}
              </dd>
              <dt>who may approve</dt>
              <dd>{data.approvers.length > 0 ? data.approvers.join(', ') : 'nobody (automatic stage)'}</dd>
              <dt>approved by</dt>
              <dd>{p.approvedBy.length > 0 ? p.approvedBy.join(', ') : '–'}</dd>
              {p.rejectedBy && (
                <>
                  <dt>rejected by</dt>
                  <dd>
                    {p.rejectedBy}: {p.reason}
                  </dd>
                </>
              )}
              {p.commit && (
                <>
                  <dt>commit</dt>
                  <dd>
                    <Commit sha={p.commit} url={data.commitUrl} />
                  </dd>
                </>
              )}
            </dl>
            {(p.refusals ?? []).length > 0 && (
              <>
                <h3>Refused attempts</h3>
                <ul>
                  {(p.refusals ?? []).map((r) => (
                    <li>
                      {r.by} · {ago(r.at)}: {r.reason}
                    </li>
                  ))}
                </ul>
              </>
            )}
            {p.status === 'awaiting' && (
              <form class="decide" onSubmit={(e) => e.preventDefault()}>
                <p class="hint">
                  You are <strong>{props.me.name}</strong>
                  {data.youMayApprove
                    ? ', one of the approvers.'
                    : '. You are not among the approvers; the planner will refuse a decision from you.'}
                </p>
                <label for="comment">Comment (recorded in the commit and the audit log)</label>
                <textarea
                  id="comment"
                  rows={2}
                  maxLength={1000}
                  value={comment}
                  onInput={(e) => setComment((e.target as HTMLTextAreaElement).value)}
                />
                <div class="buttons">
                  <button type="button" class="primary" disabled={busy} onClick={() => decide('approve')}>
                    Approve
                  </button>
                  <button type="button" class="danger" disabled={busy} onClick={() => decide('reject')}>
                    Reject
                  </button>
                </div>
              </form>
            )}
            {shown && (
              <p
                class={`banner ${shown.kind === 'ok' ? 'ok' : shown.kind === 'pending' ? 'warn' : 'error'}`}
                role={shown.kind === 'ok' || shown.kind === 'pending' ? 'status' : 'alert'}
                data-testid="decision-outcome"
              >
                {shown.text}
              </p>
            )}
          </Section>
          <div class="wide">
            <Section title={`Rendered changes in ${p.toStage}`}>
              <RenderedDiff
                path={`/api/promotions/${encodeURIComponent(p.id)}/diff`}
                tick={p.commit ? 1 : 0}
                onUnauthorised={props.onUnauthorised}
              />
            </Section>
          </div>
          <p>
            <a href={`#/timeline?stage=${encodeURIComponent(p.toStage)}`}>Audit timeline of {p.toStage}</a>
          </p>
        </div>
      )}
    </div>
  );
}
