import type { VerifiedCheckpoint } from './checkpoint';

/** How far a signature's time may pass its key's retirement, or precede the event it signs: clock skew between hosts. */
export const KEY_PERIOD_GRACE_MS = 5 * 60 * 1000;

/** Each signing key's period, as the keyring records it: from its creation to its retirement (null: still primary). */
export type KeyPeriods = ReadonlyMap<string, { from: Date; until: Date | null }>;

/**
 * Whether a checkpoint may vouch for the head it names, by its signed time (pure):
 * - a retired key signs nothing after its period (plus the grace), so a leaked old key
 *   cannot vouch for new heads. No lower bound: a host whose clock is behind signs with a
 *   new key "before" it existed, harmlessly;
 * - a head is signed no earlier than the event at it was written (less the grace): an
 *   append signs its head at the event's own time, a `checkpoint` run later. Dating a
 *   checkpoint back into a retired key's period therefore needs an event dated back as
 *   far, which the database refuses onto a session with later events (its last-event time
 *   only moves forward). `eventAt` null: the event's time is not at hand (an archived
 *   session's events are in its archive), and only the period is checked.
 * - and a retired key's checkpoint was stored by the database in its period (`storedAt`,
 *   storedAfterPeriod): where the session's last event is older than the retirement, the
 *   database lets a forged event be dated back as far, and its head with it.
 * 'outside_key_period', 'before_event', or null when it may.
 */
export function checkpointTimeProblem(v: VerifiedCheckpoint, periods: KeyPeriods, eventAt: Date | null, storedAt: Date | null): 'outside_key_period' | 'before_event' | null {
  const time = v.checkpoint.time.getTime();
  const until = periods.get(v.keyId)?.until;
  if (until && (time > until.getTime() + KEY_PERIOD_GRACE_MS || storedAfterPeriod(v.keyId, storedAt, periods))) return 'outside_key_period';
  if (eventAt && datedBeforeEvent(v.checkpoint.time, eventAt)) return 'before_event';
  return null;
}

/**
 * Whether the database stored a signature of `keyId` after the key's period, plus the
 * grace (pure). `storedAt` is the database's own clock, which no role that writes
 * signatures sets (drizzle/0055): what a retired key's leaked secret half signs today
 * cannot be stored in its period, whatever time it states. Null (stored before 0055, or
 * not from the database: a bundle, the witness) is never after. The period's end is the
 * keyring's, written by the host that rotated: the grace covers the two clocks' skew.
 */
export function storedAfterPeriod(keyId: string, storedAt: Date | null | undefined, periods: KeyPeriods): boolean {
  const until = periods.get(keyId)?.until;
  return !!until && !!storedAt && storedAt.getTime() > until.getTime() + KEY_PERIOD_GRACE_MS;
}

/** Whether a head's signed time is earlier than its event's, by more than the grace (pure). */
export function datedBeforeEvent(time: Date, eventAt: Date): boolean {
  return time.getTime() < eventAt.getTime() - KEY_PERIOD_GRACE_MS;
}

/**
 * The keys of `keys` whose signature may count where it carries no time of its own (a state
 * snapshot's), by when the database stored it (pure): keys not retired, and a retired key
 * where the database stored the signature in the key's period (storedAfterPeriod). With no
 * storage time (stored before drizzle/0056), a retired key's signature cannot be told from
 * one its leaked secret half made later, so it does not count.
 */
export function keysVouchingAt(keys: ReadonlyMap<string, Uint8Array>, periods: KeyPeriods, storedAt: Date | null | undefined): Map<string, Uint8Array> {
  return new Map([...keys].filter(([id]) => !periods.get(id)?.until || (!!storedAt && !storedAfterPeriod(id, storedAt, periods))));
}

/**
 * The keys that follow `keyId`: created no earlier than its retirement (less the grace),
 * and not retired before it (a key's recorded creation can be later than a successor's,
 * where the host that made it had its clock ahead). Empty for a key not retired, or not in
 * the keyring. Pure.
 */
export function laterKeys(keyId: string, periods: KeyPeriods): string[] {
  const until = periods.get(keyId)?.until;
  if (!until) return [];
  return [...periods]
    .filter(([id, p]) => id !== keyId && p.from.getTime() >= until.getTime() - KEY_PERIOD_GRACE_MS && (p.until === null || p.until.getTime() > until.getTime()))
    .map(([id]) => id);
}

/**
 * Whether an access record signed by `keyId` may count as the vault's own by when it was
 * signed (pure). A trail head's signature covers the record's time, but the application
 * role inserts records, so a holder of a retired key's secret half could date one as they
 * like. So a retired key's record counts only when dated in the key's period and written
 * before any record that names a key following it (`followed`: such a record came first in
 * the trail); a record dated back is caught by the second rule as soon as the new key has
 * signed anything, which `keys rotate-signing` has it do at once. And it counts only where
 * the database stored it in the key's period (`storedAt`, storedAfterPeriod): after a
 * rotation made by hand, the new key may sign no record for days. A record written between
 * the keyring's replacement and the end of the grace is not told from the retired key's own.
 */
export function recordInPeriod(keyId: string, at: Date, periods: KeyPeriods, followed: boolean, storedAt: Date | null): boolean {
  const until = periods.get(keyId)?.until;
  return !until || (at.getTime() <= until.getTime() + KEY_PERIOD_GRACE_MS && !followed && !storedAfterPeriod(keyId, storedAt, periods));
}
