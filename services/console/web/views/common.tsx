import type { ComponentChildren } from 'preact';
import type { ApiError } from '../api.ts';

/** A backend down or a refusal, said plainly; stale data stays visible under it. */
export function Problem({
  error,
  at,
  what,
}: {
  error: ApiError | undefined;
  at?: number | undefined;
  what: string;
}) {
  if (!error) return null;
  const down = error.unavailable;
  return (
    <div class={`banner ${down ? 'warn' : 'error'}`} role="alert" data-testid="problem">
      <strong>{down ? `Cannot load ${what}: ` : `${what}: `}</strong>
      {error.message}
      {down && (
        <span>
          {' '}
          Retrying every few seconds
          {at ? `; showing what was known at ${new Date(at).toLocaleTimeString()}` : ''}.
        </span>
      )}
    </div>
  );
}

const TONE: Record<string, string> = {
  synced: 'ok',
  healthy: 'ok',
  none: 'ok',
  'no drift': 'ok',
  committed: 'ok',
  approved: 'ok',
  progressing: 'busy',
  pending: 'busy',
  proposed: 'busy',
  committing: 'busy',
  awaiting: 'wait',
  // kstatus words the applier reports for health.
  Current: 'ok',
  InProgress: 'busy',
  Failed: 'bad',
  // What approving a held change would do to an object.
  add: 'ok',
  change: 'wait',
  remove: 'bad',
  'out-of-sync': 'wait',
  locked: 'wait',
  unknown: 'muted',
  'no-plan': 'muted',
  degraded: 'bad',
  rejected: 'bad',
  'render-failed': 'bad',
};

export function Badge({ value, label, title }: { value: string; label?: string; title?: string }) {
  const tone =
    TONE[value] ?? (value.startsWith('failed') ? 'bad' : value.includes('drift') ? 'wait' : 'muted');
  return (
    <span class={`badge ${tone}`} title={title}>
      {label ? <span class="sr">{label}: </span> : null}
      {value}
    </span>
  );
}

export function Digest({ value }: { value: string }) {
  return (
    <code class="digest" title={value}>
      {value.startsWith('sha256:') ? `${value.slice(0, 19)}…` : value}
    </code>
  );
}

export function Commit({ sha, url }: { sha: string | null; url?: string | null }) {
  if (!sha) return <span>–</span>;
  const text = <code title={sha}>{sha.slice(0, 12)}</code>;
  return url ? (
    <a href={url.replace('{sha}', sha)} rel="noreferrer" target="_blank">
      {text}
    </a>
  ) : (
    text
  );
}

export function Section({ title, children }: { title: string; children: ComponentChildren }) {
  return (
    <section class="card">
      <h2>{title}</h2>
      {children}
    </section>
  );
}
