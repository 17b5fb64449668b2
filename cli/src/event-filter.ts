import {
  catalog,
  type EventDefinition,
  type FlotillaEvent,
  SUBJECT_PREFIX,
  subjectFilter,
} from '@flotilla/events';
import { usageError } from './exit-codes.ts';

/**
 * `--type` accepts the event name (`ApplySucceeded`), the CloudEvents type
 * (`io.flotilla.apply.succeeded.v1`), `domain.event` (`apply.succeeded`) or a whole domain
 * (`apply`, `promotion`), case-insensitively.
 */
export function resolveTypes(values: readonly string[]): EventDefinition[] {
  const out = new Map<string, EventDefinition>();
  for (const raw of values
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter(Boolean)) {
    const v = raw.toLowerCase();
    const hits = catalog.filter(
      (d) => d.name.toLowerCase() === v || d.type === v || `${d.domain}.${d.event}` === v || d.domain === v,
    );
    if (hits.length === 0)
      throw usageError(
        `unknown event type "${raw}"; one of: ${catalog.map((d) => d.name).join(', ')} (or a domain: ${[...new Set(catalog.map((d) => d.domain))].join(', ')})`,
      );
    for (const d of hits) out.set(d.type, d);
  }
  return [...out.values()];
}

/** Subjects to subscribe to: one per chosen type (any scope), or everything. */
export function subjectsFor(types: readonly EventDefinition[]): string[] {
  if (types.length === 0) return [`${SUBJECT_PREFIX}.>`];
  return [...new Set(types.map((d) => subjectFilter(d)))];
}

export interface EventFilter {
  clusters: string[];
  stages: string[];
}

/** Client-side filters on the payload (promotion events are scoped by stage, not cluster). */
export function matches(event: FlotillaEvent, f: EventFilter): boolean {
  const d = (event.data ?? {}) as Record<string, unknown>;
  if (f.clusters.length > 0 && !(typeof d.cluster === 'string' && f.clusters.includes(d.cluster)))
    return false;
  if (f.stages.length > 0) {
    const stage = [d.stage, d.toStage].find((s) => typeof s === 'string');
    if (!stage || !f.stages.includes(stage as string)) return false;
  }
  return true;
}

const shortSha = (s: unknown) => (typeof s === 'string' ? s.slice(0, 12) : undefined);
const shortDigest = (s: unknown) =>
  typeof s === 'string' ? (s.startsWith('sha256:') ? `sha256:${s.slice(7, 19)}` : s) : undefined;

/** One line per event for people: time, name, scope, actor, and the fields that say what happened. */
export function formatEventLine(event: FlotillaEvent): string {
  const d = (event.data ?? {}) as Record<string, unknown>;
  const name = catalog.find((c) => c.type === event.type)?.name ?? event.type;
  const fields: Array<[string, string | undefined]> = [
    ['cluster', d.cluster as string | undefined],
    ['stage', (d.stage ?? d.toStage) as string | undefined],
    ['from', d.fromStage as string | undefined],
    ['repo', typeof d.repo === 'string' && !d.cluster ? d.repo : undefined],
    ['image', d.image as string | undefined],
    ['tag', d.tag as string | undefined],
    ['status', d.status as string | undefined],
    ['revision', shortSha(d.revision ?? d.sha)],
    ['commit', shortSha(d.commit)],
    ['plan', d.planId as string | undefined],
    ['promotion', d.promotionId as string | undefined],
    ['digest', shortDigest(d.bundleDigest ?? d.digest)],
    ['object', d.object as string | undefined],
    ['code', d.code as string | undefined],
    // What a third party answered (a registry's MANIFEST_UNKNOWN), beside our code, never as it.
    ['registry-code', d.registryCode as string | undefined],
    ['reason', typeof d.reason === 'string' ? d.reason.split('\n')[0] : undefined],
    ['message', typeof d.message === 'string' ? d.message.split('\n')[0]?.slice(0, 160) : undefined],
  ];
  const parts = fields.filter(([, v]) => v !== undefined && v !== '').map(([k, v]) => `${k}=${v}`);
  return [event.time, name.padEnd(24), `actor=${event.actor}`, ...parts].join(' ');
}
