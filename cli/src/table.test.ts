import { describe, expect, it } from 'vitest';
import { ago, renderTable, short } from './table.ts';

describe('table', () => {
  it('aligns columns, cuts long cells with an ellipsis, trims trailing space', () => {
    const text = renderTable(
      [
        { a: 'x', b: 'a long value here' },
        { a: 'longer', b: 'b' },
      ],
      [
        { header: 'A', value: (r) => r.a },
        { header: 'B', value: (r) => r.b, max: 8 },
      ],
    );
    expect(text).toBe(['A       B', 'x       a long …', 'longer  b'].join('\n'));
  });

  it('short digests and shas; relative times', () => {
    expect(short(`sha256:${'ab'.repeat(32)}`, 6)).toBe('sha256:ababab');
    expect(short('0123456789abcdef', 7)).toBe('0123456');
    expect(short(null)).toBe('-');
    const now = Date.parse('2026-11-26T12:00:00Z');
    expect(ago('2026-11-26T11:59:30Z', now)).toBe('30s ago');
    expect(ago('2026-11-26T09:00:00Z', now)).toBe('3h ago');
    expect(ago('2026-11-20T12:00:00Z', now)).toBe('6d ago');
  });
});
