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

/** Whether `a` is at least as long as `b` from any start (compared from a fixed epoch, close enough to order policies). */
export function atLeast(a: Duration, b: Duration): boolean {
  const start = new Date(Date.UTC(2001, 0, 31));
  return addDuration(start, a).getTime() >= addDuration(start, b).getTime();
}
