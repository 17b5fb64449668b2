import {
  ApplySucceeded,
  childTraceparent,
  createEvent,
  type EventDefinition,
  type FlotillaEvent,
  GitCommitDetected,
  ImageTagDetected,
  ImageUpdateCommitted,
  newTraceparent,
  PlanCreated,
} from '@flotilla/events';
import { sampleSource, samples } from '@flotilla/events/samples';
import { describe, expect, it } from 'vitest';
import { formatTimeline, type StoredEvent, selectTrace } from './trace-timeline.ts';

const COMMIT = 'e'.repeat(40);
const t0 = Date.parse('2026-11-30T03:00:00.000Z');

/** A chain as the services write it: tag → update commit → (git-watcher echo) → plan → applied. */
function chain(): { events: StoredEvent[]; tag: FlotillaEvent } {
  let seq = 0;
  const at = (ms: number) => new Date(t0 + ms);
  const ev = (
    def: EventDefinition,
    data: unknown,
    ms: number,
    ctx: Partial<Pick<FlotillaEvent, 'correlationid' | 'causationid' | 'traceparent'>> = {},
  ) =>
    createEvent(def, data as never, {
      source: sampleSource(def),
      actor: 'service:test',
      time: at(ms),
      ...ctx,
    }) as FlotillaEvent;
  const caused = (def: EventDefinition, data: unknown, ms: number, cause: FlotillaEvent) =>
    ev(def, data, ms, {
      correlationid: cause.correlationid,
      causationid: cause.id,
      traceparent: childTraceparent(cause.traceparent),
    });
  const tag = ev(ImageTagDetected, samples.ImageTagDetected, 0);
  const update = caused(ImageUpdateCommitted, { ...samples.ImageUpdateCommitted, commit: COMMIT }, 400, tag);
  // The git-watcher starts a correlation of its own but continues the trace from the trailer.
  const echo = ev(GitCommitDetected, { ...samples.GitCommitDetected, sha: COMMIT }, 900, {
    traceparent: childTraceparent(update.traceparent),
  });
  const plan = caused(PlanCreated, { ...samples.PlanCreated, revision: COMMIT }, 700, update);
  const applied = caused(ApplySucceeded, { ...samples.ApplySucceeded, revision: COMMIT }, 1250, plan);
  const unrelated = ev(PlanCreated, { ...samples.PlanCreated, cluster: 'prod' }, 800, {
    traceparent: newTraceparent(),
  });
  const events = [tag, update, echo, plan, applied, unrelated].map((event) => ({ seq: ++seq, event }));
  return { events, tag };
}

describe('selectTrace', () => {
  it('by correlation id: the whole delivery in time order, the echo joined by trace id, nothing else', () => {
    const { events, tag } = chain();
    const got = selectTrace(events, tag.correlationid).map((s) => s.event.type);
    expect(got).toEqual([
      ImageTagDetected.type,
      ImageUpdateCommitted.type,
      PlanCreated.type,
      GitCommitDetected.type,
      ApplySucceeded.type,
    ]);
  });

  it('by abbreviated commit, by event id and by trace id: the same delivery', () => {
    const { events, tag } = chain();
    const byCorrelation = selectTrace(events, tag.correlationid).map((s) => s.event.id);
    expect(selectTrace(events, COMMIT.slice(0, 7)).map((s) => s.event.id)).toEqual(byCorrelation);
    expect(selectTrace(events, tag.id).map((s) => s.event.id)).toEqual(byCorrelation);
    const traceId = tag.traceparent?.split('-')[1] as string;
    expect(selectTrace(events, traceId).map((s) => s.event.id)).toEqual(byCorrelation);
  });

  it('an unknown id or a too-short commit prefix selects nothing', () => {
    const { events } = chain();
    expect(selectTrace(events, 'no-such-correlation')).toEqual([]);
    expect(selectTrace(events, 'eeee')).toEqual([]);
  });
});

describe('formatTimeline', () => {
  it('prints offsets from the first event and the gap since the one before', () => {
    const { events, tag } = chain();
    const lines = formatTimeline(selectTrace(events, tag.correlationid));
    expect(lines[0]).toBe('5 events over 1.250s from 2026-11-30T03:00:00.000Z');
    expect(lines[1]).toMatch(/^\s+\+0\.000s\s+\(\+0\.000s\)\s+ImageTagDetected\s+registry-watcher/);
    expect(lines[3]).toMatch(
      /\+0\.700s\s+\(\+0\.300s\)\s+PlanCreated\s+planner\s+stage=dev cluster=dev revision=eeeeeeeeeeee/,
    );
    expect(lines[5]).toMatch(/\+1\.250s\s+\(\+0\.350s\)\s+ApplySucceeded\s+cluster-applier/);
    expect(lines[6]).toMatch(/^correlation ids: /);
    expect(lines[7]).toMatch(/^trace ids: [0-9a-f]{32}$/);
    expect(formatTimeline([])).toEqual([]);
  });
});
