import { createHash } from 'node:crypto';
import type { DriftFieldDiff } from '@flotilla/api';

/**
 * Drift reports carry the expected and live values of changed fields. The console shows them to
 * people, so values that may be secret are replaced by a short hash before they leave the
 * server: still enough to see that two values differ, never the value. Secret-looking means:
 * anything in a Secret object, and any field or env var whose name looks like a credential.
 */
const SECRET_NAME =
  /(passw(or)?d|secret|token|api[-_]?key|private[-_]?key|credential|auth|cert|\.key$|^key$)/i;

export function isSecretPath(object: string, path: string): boolean {
  if (/^(v1\/)?Secret\s/.test(object) || object.startsWith('Secret ')) return true;
  // `.spec.template.spec.containers[name=web].env[name=DB_PASSWORD].value`: the env var's name counts.
  for (const m of path.matchAll(/\[name=([^\]]+)\]/g)) if (SECRET_NAME.test(m[1] as string)) return true;
  const segments = path.split(/[.[\]]/).filter(Boolean);
  return segments.some((s) => SECRET_NAME.test(s));
}

export function redactedValue(value: unknown): string {
  if (value === undefined) return '(absent)';
  const hash = createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 12);
  return `«redacted sha256:${hash}»`;
}

/** A drifted field as drift events carry it and the cluster page shows it (libs/api's schema). */
export type FieldDiff = DriftFieldDiff;

/** `hmac-sha256:<hex>` as the page shows it: short, still enough to tell two values apart. */
const hashed = (h: string | undefined) =>
  h === undefined ? '(absent)' : `«secret ${h.replace(/^hmac-sha256:/, 'hmac:').slice(0, 17)}»`;

export function redactDiffs(object: string, diffs: readonly FieldDiff[]): FieldDiff[] {
  return diffs.map((d) => {
    // Already hashed in the cluster (the applier's keyed hashes): shown as such, nothing to hide.
    if (d.sensitive)
      return {
        path: d.path,
        expected: hashed(d.expectedHash),
        actual: hashed(d.actualHash),
        ...(d.manager ? { manager: d.manager } : {}),
      };
    // Older appliers sent values: hidden here before they reach the page.
    if (!isSecretPath(object, d.path)) return d;
    return {
      ...d,
      ...('expected' in d ? { expected: redactedValue(d.expected) } : {}),
      ...('actual' in d ? { actual: redactedValue(d.actual) } : {}),
    };
  });
}

/**
 * An event's or audit record's payload as the page may see it: drift diffs redacted. Other
 * events carry no values (paths, digests, ids, messages), so they pass through.
 */
export function redactEventData(eventName: string, data: unknown): unknown {
  if (
    (eventName === 'DriftDetected' || eventName.endsWith('.drift.detected.v1')) &&
    data &&
    typeof data === 'object'
  ) {
    const d = data as { object?: string; diffs?: FieldDiff[] };
    if (Array.isArray(d.diffs)) return { ...d, diffs: redactDiffs(String(d.object ?? ''), d.diffs) };
  }
  return data;
}
