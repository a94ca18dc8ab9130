/**
 * Stored times as the vault shows them. The database keeps every time a vault role writes
 * within 1970 up to the year 9999 (drizzle/0063, 0065, 0066), but a row stored before
 * those checks, or by the owner past them, may hold `infinity`, which reads as no time
 * (an invalid Date). A listing shows such a time as `invalid` rather than throwing for
 * every row of the tenant; the checks that compare times count it as matching nothing.
 */

/** The latest time a vault role may store (exclusive): 9999-01-01. */
export const LATEST_STORED_TIME = Date.UTC(9999, 0, 1);

/** `t` in ISO 8601, or `invalid` when it is no time (not `infinity`, not an invalid Date). */
export function isoTime(t: Date): string {
  return Number.isNaN(t.getTime()) ? 'invalid' : t.toISOString();
}
