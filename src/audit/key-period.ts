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
 * 'outside_key_period', 'before_event', or null when it may.
 */
export function checkpointTimeProblem(v: VerifiedCheckpoint, periods: KeyPeriods, eventAt: Date | null): 'outside_key_period' | 'before_event' | null {
  const time = v.checkpoint.time.getTime();
  const until = periods.get(v.keyId)?.until;
  if (until && time > until.getTime() + KEY_PERIOD_GRACE_MS) return 'outside_key_period';
  if (eventAt && time < eventAt.getTime() - KEY_PERIOD_GRACE_MS) return 'before_event';
  return null;
}

/**
 * The keys of `keys` that are not retired (pure). For signatures that carry no time (a
 * state snapshot's), a retired key's cannot be told from one made after its period, so
 * only keys still in their period count.
 */
export function unretiredKeys(keys: ReadonlyMap<string, Uint8Array>, periods: KeyPeriods): Map<string, Uint8Array> {
  return new Map([...keys].filter(([id]) => !periods.get(id)?.until));
}
