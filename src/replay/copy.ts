import type { VaultEvent } from '../domain';
import { setMember, type Json } from './merge-patch';

/**
 * A deep copy of JSON data that shares no object or array with it (strings, being
 * immutable, are shared; a "__proto__" member stays an own member).
 */
export function copyJson(v: Json): Json {
  if (typeof v !== 'object' || v === null) return v;
  if (Array.isArray(v)) return v.map(copyJson);
  const out: { [k: string]: Json } = {};
  for (const k of Object.keys(v)) setMember(out, k, copyJson(v[k]!));
  return out;
}

/**
 * Copies of decrypted events that share no object with them: what a reader is handed of
 * events the vault keeps (a model context's held events). An event's data is JSON (it
 * was parsed from its plaintext), its time a Date. About 8× faster than structuredClone
 * for a context's twenty 1 KB events (6 µs against 48), which copies every string too.
 */
export function copyEvents(events: readonly VaultEvent[]): VaultEvent[] {
  return events.map(copyEvent);
}

/** One event, as copyEvents copies each. */
export function copyEvent(e: VaultEvent): VaultEvent {
  return { ...e, at: new Date(e.at.getTime()), data: copyJson(e.data as Json) as VaultEvent['data'] };
}
