import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { check, formatTable, percentile } from './checker.ts';
import type { AuditEntry, History } from './history.ts';

const base: History = { nemesis: 'fixture', faults: 2, ops: [], observations: [], leaderActions: [] };

describe('fault checker (fixtures)', () => {
  it('counts acknowledged ops never seen as lost, and ignores failed or unknown ones', () => {
    const v = check({
      ...base,
      ops: [
        { id: 'a', invokedAt: 0, outcome: 'ok' },
        { id: 'b', invokedAt: 10, outcome: 'ok' },
        { id: 'c', invokedAt: 20, outcome: 'fail' },
        { id: 'd', invokedAt: 30, outcome: 'unknown' },
      ],
      observations: [{ opId: 'a', at: 100, key: '1' }],
    });
    expect(v).toMatchObject({ attempted: 4, acknowledged: 2, lost: ['b'], duplicates: 0, ok: false });
  });

  it('a redelivery of the same stored copy is not a duplicate; a second copy is', () => {
    const v = check({
      ...base,
      ops: [
        { id: 'a', invokedAt: 0, outcome: 'ok' },
        { id: 'b', invokedAt: 0, outcome: 'ok' },
      ],
      observations: [
        { opId: 'a', at: 5, key: 'seq-1' },
        { opId: 'a', at: 9, key: 'seq-1' },
        { opId: 'b', at: 6, key: 'seq-2' },
        { opId: 'b', at: 7, key: 'seq-3' },
      ],
    });
    expect(v.duplicates).toBe(1);
    expect(v.lost).toEqual([]);
  });

  it('objects not in the last desired state at the end fail the run, even with every op seen', () => {
    const v = check({
      ...base,
      ops: [{ id: 'a', invokedAt: 0, outcome: 'ok' }],
      observations: [{ opId: 'a', at: 5, key: 'e-1' }],
      diverged: ['ConfigMap ns/cm-7: missing'],
    });
    expect(v).toMatchObject({ lost: [], diverged: ['ConfigMap ns/cm-7: missing'], ok: false });
    expect(check(base).diverged).toEqual([]);
  });

  it('under a cumulative workload a later op seen carries an earlier one', () => {
    const h: History = {
      ...base,
      cumulative: true,
      ops: [
        { id: 'a', invokedAt: 0, outcome: 'ok' },
        { id: 'b', invokedAt: 50, outcome: 'ok' },
        { id: 'c', invokedAt: 60, outcome: 'ok' },
      ],
      observations: [{ opId: 'b', at: 200, key: 'x' }],
    };
    const v = check(h);
    expect(v.lost).toEqual(['c']);
    expect(v.convergence.samples).toBe(2);
    expect(v.convergence.max).toBe(200);
    expect(check({ ...h, cumulative: false }).lost).toEqual(['a', 'c']);
  });

  it('finds a leader action with a fencing token below one already acted on', () => {
    const v = check({
      ...base,
      leaderActions: [
        { order: 1, token: 5, actor: 'p1', what: 'plan dev-1' },
        { order: 2, token: 9, actor: 'p2', what: 'plan dev-2' },
        { order: 3, token: 5, actor: 'p1', what: 'plan dev-3 (resumed after a pause)' },
        { order: 4, token: 9, actor: 'p2', what: 'plan dev-4' },
      ],
    });
    expect(v.staleLeaderActions).toBe(1);
    expect(v.leaderTenures).toBe(2);
    expect(v.ok).toBe(false);
  });

  it('convergence percentiles are nearest-rank over acknowledged ops that were seen', () => {
    expect(percentile([], 50)).toBe(0);
    expect(percentile([1, 2, 3, 4], 50)).toBe(2);
    expect(percentile([1, 2, 3, 4], 99)).toBe(4);
    const ops = Array.from({ length: 100 }, (_, i) => ({
      id: `o${i}`,
      invokedAt: 0,
      outcome: 'ok' as const,
    }));
    const v = check({
      ...base,
      ops,
      observations: ops.map((o, i) => ({ opId: o.id, at: i + 1, key: o.id })),
    });
    expect(v.convergence).toMatchObject({ p50: 50, p99: 99, max: 100, samples: 100 });
    expect(v.ok).toBe(true);
  });

  it('dead-lettered items fail the run and show as lost events in the table', () => {
    const v = check({ ...base, deadLettered: 2 });
    expect(v.ok).toBe(false);
    expect(formatTable([v])).toContain('| fixture | 2 | 0 | 0 | 2 | 0 | – | 0 | – | – | 0 ms | 0 ms |');
  });
});

const fixture = (name: string) =>
  JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures', name), 'utf8')) as Record<string, never>;

describe('fault checker: promotions and approvals (fixtures/promotions.json)', () => {
  const f = fixture('promotions.json') as unknown as {
    stages: NonNullable<History['stages']>;
  } & Record<
    string,
    { stageEntries: NonNullable<History['stageEntries']>; approvals: NonNullable<History['approvals']> }
  >;
  const run = (name: string) => check({ ...base, stages: f.stages, ...f[name] });

  it('a change that walks dev → test → uat → prod, prod approved first, passes', () => {
    const v = run('good');
    expect(v).toMatchObject({ skippedStages: [], unapproved: [], ok: true });
  });

  it('a change that jumps from dev to uat skipped test', () => {
    const v = run('skipped');
    expect(v.skippedStages).toEqual(['shop/uat ← sha256:b (#14): never entered test']);
    expect(v.ok).toBe(false);
  });

  it('entering the stage before only later (in stream order) is still a skip', () => {
    expect(run('enteredOutOfOrder').skippedStages).toEqual(['shop/test ← sha256:c (#14): never entered dev']);
  });

  it('prod entered before its own approval (another promotion’s does not count) is unapproved', () => {
    const v = run('approvedTooLate');
    expect(v.unapproved).toEqual(['shop/prod ← sha256:d (#20): no approval of p-7']);
    // uat's entry without test before it is reported too: the fixture starts mid-pipeline.
    expect(v.skippedStages).toEqual(['shop/uat ← sha256:d (#10): never entered test']);
  });

  it('runs without stages are not checked for promotions and show – in the table', () => {
    const v = check(base);
    expect(v.skippedStages).toBeUndefined();
    expect(formatTable([v])).toContain('| 0 | – | – |');
  });
});

describe('fault checker: the audit log (fixtures/audit.json)', () => {
  const f = fixture('audit.json') as unknown as {
    expected: string[];
    good: AuditEntry[];
    gapAndDuplicate: AuditEntry[];
  };

  it('every expected event once, contiguous and chained: passes (unexpected extra records are fine)', () => {
    const v = check({ ...base, audit: { records: f.good, expected: f.expected } });
    expect(v.audit).toEqual({ missing: [], duplicated: [], chainBreaks: [] });
    expect(v.ok).toBe(true);
    expect(formatTable([v])).toContain('| 0 / 0 / 0 |');
  });

  it('a missing event, a second record of one and a gap in the chain are each reported', () => {
    const v = check({ ...base, audit: { records: f.gapAndDuplicate, expected: f.expected } });
    expect(v.audit).toEqual({
      missing: ['e3'],
      duplicated: ['e2'],
      chainBreaks: ['seq 2 → 4', 'seq 4: prevHash is not the hash of seq 2'],
    });
    expect(v.ok).toBe(false);
  });
});
