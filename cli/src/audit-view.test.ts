import { describe, expect, it } from 'vitest';
import { parseTime, renderHistory, renderVerify } from './audit-view.ts';

describe('audit views', () => {
  it('history table with who, where and what', () => {
    const text = renderHistory({
      count: 1,
      records: [
        {
          seq: 7,
          id: 'e-7',
          type: 'io.flotilla.promotion.committed.v1',
          event: 'PromotionCommitted',
          time: '2026-11-26T10:00:00.123Z',
          actor: 'user:carol',
          stage: 'prod',
          fromStage: 'uat',
          commit: 'c'.repeat(40),
          approvers: ['user:carol'],
        },
      ],
    });
    expect(text.split('\n')[1]).toMatch(
      /^7\s+2026-11-26T10:00:00Z\s+PromotionCommitted\s+user:carol\s+prod\s+uat→prod {2}commit cccccccccccc {2}approved by user:carol$/,
    );
    expect(renderHistory({ count: 0, records: [] })).toBe('no matching audit records');
  });

  it('verify names the spot of a broken chain', () => {
    expect(
      renderVerify({ ok: true, files: 2, records: 40, head: { seq: 40, hash: `sha256:${'f'.repeat(64)}` } }),
    ).toBe('audit chain intact: 40 records in 2 files, head #40 sha256:ffffffffffffffff');
    const broken = renderVerify({
      ok: false,
      files: 1,
      records: 12,
      head: { seq: 4, hash: `sha256:${'a'.repeat(64)}` },
      problem: {
        kind: 'edited',
        file: '2026/11/26.jsonl',
        line: 5,
        seq: 5,
        message: 'record 5 hash mismatch',
      },
    });
    expect(broken).toContain('audit chain BROKEN at 2026/11/26.jsonl:5 (edited)');
    expect(broken).toContain('intact up to #4');
  });

  it('times: RFC 3339, dates and relative durations', () => {
    const now = Date.parse('2026-11-26T12:00:00Z');
    expect(parseTime('7d', now)).toBe('2026-11-19T12:00:00.000Z');
    expect(parseTime('30m', now)).toBe('2026-11-26T11:30:00.000Z');
    expect(parseTime('2026-11-01', now)).toBe('2026-11-01T00:00:00.000Z');
    expect(parseTime('yesterday', now)).toBeUndefined();
  });
});
