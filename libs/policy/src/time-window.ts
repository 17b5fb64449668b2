/**
 * Promotion windows ("prod only Mon–Thu 09:00–17:00 Europe/Berlin"). A window is the
 * half-open interval [start, end) of wall-clock time on the listed days in its time zone;
 * `end` may be `24:00`. Windows never span midnight: write two windows instead, which keeps
 * "which day does this belong to" unambiguous.
 */
export const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

export interface TimeWindow {
  /** Omitted: every day. */
  days?: Weekday[];
  /** `HH:MM`, 24-hour. */
  start: string;
  /** `HH:MM`, 24-hour, after start; `24:00` for end of day. */
  end: string;
  /** IANA zone, default `UTC`. */
  timezone?: string;
}

const HHMM = /^([01]\d|2[0-3]):([0-5]\d)$/;

/** Minutes since midnight for `HH:MM` (and `24:00` when `allowEndOfDay`), else null. */
export function parseClock(text: string, allowEndOfDay = false): number | null {
  if (allowEndOfDay && text === '24:00') return 1440;
  const m = HHMM.exec(text);
  return m ? Number(m[1]) * 60 + Number(m[2]) : null;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      weekday: 'short',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** True when `timeZone` is an IANA zone this runtime knows. */
export function isValidTimeZone(timeZone: string): boolean {
  try {
    formatter(timeZone);
    return true;
  } catch {
    return false;
  }
}

/** Weekday and minute of day of `date` as seen on a wall clock in `timeZone`. */
export function wallClock(date: Date, timeZone: string): { day: Weekday; minute: number } {
  let day: Weekday = 'sun';
  let hour = 0;
  let minute = 0;
  for (const p of formatter(timeZone).formatToParts(date)) {
    if (p.type === 'weekday') day = p.value.toLowerCase().slice(0, 3) as Weekday;
    else if (p.type === 'hour') hour = Number(p.value);
    else if (p.type === 'minute') minute = Number(p.value);
  }
  return { day, minute: hour * 60 + minute };
}

function inWindow(w: TimeWindow, date: Date): boolean {
  const start = parseClock(w.start);
  const end = parseClock(w.end, true);
  if (start === null || end === null) return false;
  const { day, minute } = wallClock(date, w.timezone ?? 'UTC');
  if (w.days && w.days.length > 0 && !w.days.includes(day)) return false;
  return minute >= start && minute < end;
}

/** True when there are no windows, or `date` falls inside at least one of them. */
export function isWithinWindow(windows: readonly TimeWindow[] | undefined, date: Date): boolean {
  if (!windows || windows.length === 0) return true;
  return windows.some((w) => inWindow(w, date));
}

/**
 * The earliest instant at or after `date` inside some window (minute precision), or null when
 * the windows can never open. DST changes (shifts of up to an hour) are accounted for; the
 * result is a retry hint and callers re-check isWithinWindow at that time anyway.
 */
export function nextWindowStart(windows: readonly TimeWindow[] | undefined, date: Date): Date | null {
  if (isWithinWindow(windows, date)) return date;
  const base = Math.floor(date.getTime() / 60_000) * 60_000;
  let best: number | null = null;
  for (const w of windows ?? []) {
    const start = parseClock(w.start);
    if (start === null) continue;
    const { minute } = wallClock(new Date(base), w.timezone ?? 'UTC');
    for (let dayOffset = 0; dayOffset <= 7; dayOffset++) {
      const delta = dayOffset * 1440 + start - minute;
      if (delta <= 0) continue;
      const t = base + delta * 60_000;
      // The wall-clock arithmetic is off by the DST shift when one falls in between: try
      // the earliest of the shifted candidates first.
      const hit = [t - 3_600_000, t, t + 3_600_000].find(
        (c) => c > date.getTime() && inWindow(w, new Date(c)),
      );
      if (hit !== undefined) {
        if (best === null || hit < best) best = hit;
        break;
      }
    }
  }
  return best === null ? null : new Date(best);
}
