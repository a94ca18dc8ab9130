import type { AccessRecord } from '../domain';

/**
 * The access trail's records of what the vault did, as the checks of its tables against
 * the trail read them (hold-check.ts, purge-check.ts). The vault records an operator's
 * action before it acts, then stamps the row it writes with the same actor and the
 * time of its own clock.
 */

/**
 * How far a row's stamped time may be from its record's: the record is written, and
 * witnessed, just before the row, by the same process; and how far clocks of different
 * hosts may disagree (the same grace verify allows a retired signing key).
 */
export const RECORD_SKEW_MS = 5 * 60 * 1000;

/**
 * The `granted` records whose operation did not fail or change nothing: a `failed:<CODE>`
 * record follows a failed operation's `granted` one, and an `unchanged` record a hold's
 * setting or clearing that found one in force already or none (vault/access.ts), with
 * the same actor, action, tenant, session and reason, and cancels the latest such. So a
 * record of a call that wrote no row cannot account for a row someone else wrote near it.
 */
export function attempted(records: readonly AccessRecord[]): AccessRecord[] {
  const open = new Map<string, AccessRecord[]>();
  const failed = new Set<AccessRecord>();
  const granted: AccessRecord[] = [];
  for (const r of records) {
    const key = [r.actor, r.action, r.tenant, r.session, r.reason].join('\u0000');
    if (r.outcome === 'granted') {
      granted.push(r);
      const same = open.get(key);
      if (same) same.push(r);
      else open.set(key, [r]);
    } else if (r.outcome.startsWith('failed:') || r.outcome === 'unchanged') {
      const last = open.get(key)?.pop();
      if (last) failed.add(last);
    }
  }
  return granted.filter((r) => !failed.has(r));
}
