import { InputError } from '../errors';

/**
 * Retention durations as operators write them: a whole number and a unit — `h` hours,
 * `d` days, `w` weeks, `mo` months, `y` years (`36h`, `30d`, `18mo`, `7y`). Months and
 * years are calendar units, so "keep for 6 years" means six calendar years, never a day
 * less (a day that the target month lacks clamps to its last day: 2020-02-29 + 1y is
 * 2021-02-28).
 */
export interface Duration {
  amount: number;
  unit: 'h' | 'd' | 'w' | 'mo' | 'y';
}

const PATTERN = /^([1-9][0-9]{0,5})(h|d|w|mo|y)$/;

/** Parses `30d`, `7y`…; INVALID_INPUT (naming `what`) for anything else. */
export function parseDuration(text: string, what: string): Duration {
  const m = PATTERN.exec(text);
  if (!m) throw new InputError('INVALID_INPUT', `${what} must be a whole number and a unit h, d, w, mo or y (e.g. 30d, 7y), not ${JSON.stringify(text.slice(0, 20))}`);
  const d = { amount: Number(m[1]), unit: m[2] as Duration['unit'] };
  // Not `> 9000`: past the year 275760 the Date is no time (NaN), which compares as neither.
  if (!(addDuration(new Date(0), d).getTime() <= Date.UTC(9000, 0))) throw new InputError('INVALID_INPUT', `${what} is too long`);
  return d;
}

/** The duration as written. */
export function formatDuration(d: Duration): string {
  return `${d.amount}${d.unit}`;
}

/** `from` plus the duration, in UTC; calendar months and years clamp to the month's last day. */
export function addDuration(from: Date, d: Duration): Date {
  const t = from.getTime();
  switch (d.unit) {
    case 'h':
      return new Date(t + d.amount * 3_600_000);
    case 'd':
      return new Date(t + d.amount * 86_400_000);
    case 'w':
      return new Date(t + d.amount * 7 * 86_400_000);
    case 'mo':
    case 'y': {
      const months = d.unit === 'y' ? d.amount * 12 : d.amount;
      const total = from.getUTCFullYear() * 12 + from.getUTCMonth() + months;
      const year = Math.floor(total / 12);
      const month = total % 12;
      const lastDay = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
      const out = new Date(t);
      out.setUTCFullYear(year, month, Math.min(from.getUTCDate(), lastDay));
      return out;
    }
  }
}

/**
 * Whether `a` keeps at least as long as `b` from every start, as a retention floor must
 * to count as no lower. Durations of one kind compare by their count (hours, days and
 * weeks by hours; months and years by months: the later month is never earlier, clamped
 * or not). Across kinds a month is 28 to 31 days and a year 365 or 366 (the Gregorian
 * century rule makes a run of seven without a 29 February), so `a` is at least `b` only
 * when the fewest hours `a` spans from any start reach the most `b` does: `2557d` is at
 * least `7y` and `2556d` is not (seven years from 2026-03-01 hold two 29 Februaries), nor
 * `28d` `1mo`. Two durations may each be shorter from some start (`30d`, `1mo`): neither
 * is at least the other; `longer` and `shorter` give a bound of both.
 */
export function atLeast(a: Duration, b: Duration): boolean {
  const [ma, mb] = [calendarMonths(a), calendarMonths(b)];
  if (ma !== null && mb !== null) return ma >= mb;
  if (ma === null && mb === null) return hoursOf(a) >= hoursOf(b);
  return spanHours(a).fewest >= spanHours(b).most;
}

/** `a` or `b`, whichever keeps at least as long as the other from every start; when neither does (`30d`, `1mo`), the most days the calendar one spans (`31d`), which keeps at least as long as both. */
export function longer(a: Duration, b: Duration): Duration {
  if (atLeast(a, b)) return a;
  if (atLeast(b, a)) return b;
  return inDays(Math.max(spanHours(a).most, spanHours(b).most), 'up');
}

/** `a` or `b`, whichever keeps no longer than the other from any start; when neither does, the fewest days the calendar one spans (`28d` for `30d` and `1mo`), which keeps no longer than either. */
export function shorter(a: Duration, b: Duration): Duration {
  if (atLeast(b, a)) return a;
  if (atLeast(a, b)) return b;
  return inDays(Math.min(spanHours(a).fewest, spanHours(b).fewest), 'down');
}

/**
 * Whether `a` is at least `b` counted from `start`. The policy's own rule (retain at least
 * archive-after) counts from 2001-01-31, as the database's check does (drizzle/0067): a
 * session is archived before it is purged whatever the rule says, so the rule only keeps
 * out policies that read as a mistake; floors are compared with `atLeast`.
 */
export function atLeastFrom(start: Date, a: Duration, b: Duration): boolean {
  return addDuration(start, a).getTime() >= addDuration(start, b).getTime();
}

/** The date the policy rule counts from (`atLeastFrom`). */
export const POLICY_RULE_START = new Date(Date.UTC(2001, 0, 31));

/** Months of a calendar duration; null for hours, days and weeks. */
function calendarMonths(d: Duration): number | null {
  return d.unit === 'y' ? d.amount * 12 : d.unit === 'mo' ? d.amount : null;
}

function hoursOf(d: Duration): number {
  return d.amount * (d.unit === 'w' ? 168 : d.unit === 'd' ? 24 : 1);
}

/** The fewest and most hours `d` spans from any start. */
function spanHours(d: Duration): { fewest: number; most: number } {
  const months = calendarMonths(d);
  if (months === null) return { fewest: hoursOf(d), most: hoursOf(d) };
  const { fewest, most } = monthSpan(months);
  return { fewest: fewest * 24, most: most * 24 };
}

/** Hours as a duration of whole days (weeks past what six digits of days hold), rounded `up` or `down`. */
function inDays(hours: number, round: 'up' | 'down'): Duration {
  const whole = round === 'up' ? Math.ceil : Math.floor;
  const days = whole(hours / 24);
  return days <= 999_999 ? { amount: days, unit: 'd' } : { amount: whole(days / 7), unit: 'w' };
}

// The Gregorian calendar repeats every 400 years: 4,800 months, 146,097 days.
const CYCLE_MONTHS = 4800;
const CYCLE_DAYS = 146_097;
const DAY_MS = 86_400_000;
const spans = new Map<number, { fewest: number; most: number }>();

/**
 * The fewest and most days `months` calendar months span, from any start: exact, over
 * the first of every month of a 400-year cycle. From the first of a month the span is the
 * months' lengths; from a later day it is the same, less what the target month lacks of
 * that day (clamped), so the fewest come from the start month's last day.
 */
function monthSpan(months: number): { fewest: number; most: number } {
  const rest = months % CYCLE_MONTHS;
  let span = spans.get(rest);
  if (!span) {
    let [fewest, most] = [Infinity, -Infinity];
    for (let i = 0; i < CYCLE_MONTHS; i++) {
      const [start, end] = [Date.UTC(2000, i, 1), Date.UTC(2000, i + rest, 1)];
      const days = (end - start) / DAY_MS;
      const startLength = (Date.UTC(2000, i + 1, 1) - start) / DAY_MS;
      const endLength = (Date.UTC(2000, i + rest + 1, 1) - end) / DAY_MS;
      fewest = Math.min(fewest, days - Math.max(0, startLength - endLength));
      most = Math.max(most, days);
    }
    span = { fewest, most };
    spans.set(rest, span);
  }
  const cycles = Math.floor(months / CYCLE_MONTHS) * CYCLE_DAYS;
  return { fewest: span.fewest + cycles, most: span.most + cycles };
}
