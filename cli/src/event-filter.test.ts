import {
  ApplySucceeded,
  createEvent,
  ImageScanFailed,
  PromotionAwaitingApproval,
  sourceFor,
} from '@flotilla/events';
import { samples } from '@flotilla/events/samples';
import { describe, expect, it } from 'vitest';
import { formatEventLine, matches, resolveTypes, subjectsFor } from './event-filter.ts';

describe('events tail filters', () => {
  it('resolves names, CloudEvents types, domain.event and whole domains to subjects', () => {
    expect(subjectsFor(resolveTypes(['ApplySucceeded']))).toEqual(['flotilla.v1.apply.succeeded.*']);
    expect(subjectsFor(resolveTypes(['io.flotilla.apply.failed.v1,health.changed']))).toEqual([
      'flotilla.v1.apply.failed.*',
      'flotilla.v1.health.changed.*',
    ]);
    expect(subjectsFor(resolveTypes(['drift']))).toEqual([
      'flotilla.v1.drift.detected.*',
      'flotilla.v1.drift.corrected.*',
    ]);
    expect(subjectsFor([])).toEqual(['flotilla.v1.>']);
    expect(() => resolveTypes(['NoSuchEvent'])).toThrow(/unknown event type "NoSuchEvent"/);
  });

  it('filters by cluster, and by stage including promotions (toStage)', () => {
    const applied = createEvent(
      ApplySucceeded,
      { ...samples.ApplySucceeded, cluster: 'prod' },
      {
        source: sourceFor('cluster-applier', 'x'),
        actor: 'service:cluster-applier',
      },
    );
    const awaiting = createEvent(
      PromotionAwaitingApproval,
      { ...samples.PromotionAwaitingApproval, toStage: 'prod' },
      {
        source: sourceFor('planner', 'x'),
        actor: 'service:planner',
      },
    );
    expect(matches(applied, { clusters: ['prod'], stages: [] })).toBe(true);
    expect(matches(applied, { clusters: ['dev'], stages: [] })).toBe(false);
    expect(matches(awaiting, { clusters: [], stages: ['prod'] })).toBe(true);
    expect(matches(awaiting, { clusters: ['prod'], stages: [] })).toBe(false);
    const line = formatEventLine(applied);
    expect(line).toMatch(/^\S+ ApplySucceeded\s+actor=service:cluster-applier cluster=prod /);
    expect(line).toContain(`plan=${samples.ApplySucceeded.planId}`);
  });

  it("shows our code and, beside it, the registry's own", () => {
    const failed = createEvent(
      ImageScanFailed,
      { ...samples.ImageScanFailed, registryCode: 'UNAUTHORIZED' },
      {
        source: sourceFor('registry-watcher', 'x'),
        actor: 'service:registry-watcher',
      },
    );
    expect(formatEventLine(failed)).toContain(' code=oci.unauthorized registry-code=UNAUTHORIZED ');
  });
});
