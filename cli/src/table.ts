/**
 * A small table formatter: left-aligned columns separated by two spaces, a header row, and
 * cells cut to a maximum width with an ellipsis. Width counts code points, which is right for
 * the ASCII and simple symbols the CLI prints.
 */
export interface Column<R> {
  header: string;
  value: (row: R) => string;
  /** Cut longer cells to this many characters. */
  max?: number;
}

const width = (s: string) => [...s].length;

function cut(s: string, max: number | undefined): string {
  if (max === undefined || width(s) <= max) return s;
  return `${[...s].slice(0, Math.max(1, max - 1)).join('')}…`;
}

export function renderTable<R>(rows: readonly R[], columns: readonly Column<R>[]): string {
  const cells = rows.map((r) => columns.map((c) => cut(c.value(r).replace(/[\r\n\t]+/g, ' '), c.max)));
  const widths = columns.map((c, i) => Math.max(width(c.header), ...cells.map((row) => width(row[i] ?? ''))));
  const line = (values: string[]) =>
    values
      .map((v, i) => (i === values.length - 1 ? v : v + ' '.repeat((widths[i] ?? 0) - width(v))))
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.header)), ...cells.map(line)].join('\n');
}

/** A short, stable rendering of a git sha or sha256 digest. */
export function short(value: string | null | undefined, n = 12): string {
  if (!value) return '-';
  if (value.startsWith('sha256:')) return `sha256:${value.slice(7, 7 + n)}`;
  return value.slice(0, n);
}

/** "3m ago" style relative time from an ISO timestamp. */
export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '-';
  const ms = now - Date.parse(iso);
  if (Number.isNaN(ms)) return iso;
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86_400)}d ago`;
}
