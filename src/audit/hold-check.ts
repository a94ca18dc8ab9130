import type { AccessRecord } from '../domain';
import { attempted, RECORD_SKEW_MS } from './trail-records';

/**
 * Legal holds against the access trail. The vault sets and clears a hold only after
 * recording `hold.set` or `hold.clear` (actor, reason) in the signed trail, then stamps
 * the same actor and reason on the hold's row. The legal role may write those rows
 * itself (it is the role the vault's own `hold` acts as: drizzle/0042_legal_role.sql), so
 * a hold cleared with stolen legal-desk credentials, to let a held session be purged or
 * shredded, looks like any other in the table. It has no record in the trail, whose
 * records it cannot sign. Pure: the caller reads both.
 */

/** A hold as stored (store/queries/legal-holds.ts): set, and cleared at most once. */
export interface HoldHistory {
  tenant: string;
  session: string;
  reason: string;
  setBy: string;
  setAt: Date;
  clearedAt: Date | null;
  clearedBy: string | null;
  clearReason: string | null;
  /** When the database stored the hold and its clearing, by its own clock (drizzle/0058); absent or null before 0058. */
  setStoredAt?: Date | null;
  clearedStoredAt?: Date | null;
}

/** A hold record, with when the database stored it where it is known (drizzle/0057). */
type HoldRecord = AccessRecord & { storedAt?: Date | null };

export type HoldProblemKind = 'hold_set_unrecorded' | 'hold_clear_unrecorded' | 'hold_missing';

/** `seq` is the access record's for `hold_missing`, 0 for a row with no record. */
export interface HoldProblem {
  tenant: string;
  session: string;
  seq: number;
  kind: HoldProblemKind;
}

/**
 * Every hold row must have its own record, and every recorded setting its row:
 * - `hold_set_unrecorded`: a hold with no `hold.set` record by its `set_by`, with its
 *   reason, within the skew of its `set_at`;
 * - `hold_clear_unrecorded`: a cleared hold with no such `hold.clear` record after the
 *   record that set it (or cleared before it was set);
 * - `hold_missing`: a `hold.set` that did not fail, with no row, at a time no hold of
 *   the session was in force (a setting while one is in force changes nothing): the row
 *   was deleted, or the process stopped between the record and the row.
 * Each record accounts for one row at most, and only one the database stored within the
 * skew of it, where both storage times are known: a call that stopped between its record
 * and its row leaves a record that a row written much later cannot claim. `records` are
 * the trail's hold records of the same scope, in seq order.
 */
export function checkHolds(holds: readonly HoldHistory[], records: readonly HoldRecord[]): HoldProblem[] {
  return holdFindings(holds, records).map(({ hold: _, ...p }) => p);
}

/** The holds still kept: a session whose latest hold was cleared with no record of its clearing (the operator lifts that by setting and clearing a new hold through the vault). Pure. */
export function holdsLiftedOutside(holds: readonly HoldHistory[], records: readonly HoldRecord[]): string[] {
  const latest = new Map<string, HoldHistory>();
  for (const h of holds) {
    const key = `${h.tenant}\u0000${h.session}`;
    const seen = latest.get(key);
    if (!seen || h.setAt.getTime() > seen.setAt.getTime()) latest.set(key, h);
  }
  const lifted = holdFindings(holds, records).filter((f) => f.kind === 'hold_clear_unrecorded' && f.hold && latest.get(`${f.tenant}\u0000${f.session}`) === f.hold);
  return [...new Set(lifted.map((f) => f.session))];
}

/** Each problem, with the hold row it is about (none for `hold_missing`). */
function holdFindings(holds: readonly HoldHistory[], records: readonly HoldRecord[]): (HoldProblem & { hold?: HoldHistory })[] {
  const problems: (HoldProblem & { hold?: HoldHistory })[] = [];
  const bySession = new Map<string, { rows: HoldHistory[]; sets: HoldRecord[]; clears: HoldRecord[] }>();
  const group = (tenant: string, session: string) => {
    const key = `${tenant}\u0000${session}`;
    let g = bySession.get(key);
    if (!g) bySession.set(key, (g = { rows: [], sets: [], clears: [] }));
    return g;
  };
  for (const h of holds) group(h.tenant, h.session).rows.push(h);
  for (const r of attempted(records)) {
    if (r.tenant === null || r.session === null) continue;
    if (r.action === 'hold.set') group(r.tenant, r.session).sets.push(r);
    else if (r.action === 'hold.clear') group(r.tenant, r.session).clears.push(r);
  }
  for (const { rows, sets, clears } of bySession.values()) {
    const used = new Set<HoldRecord>();
    const setBy = new Map<HoldHistory, HoldRecord>();
    // The record written just before the row: the latest unused one that fits, at or
    // before the row's stamp (the earliest of those with the same time), not merely the
    // first that fits, which could be a setting that changed nothing, minutes earlier,
    // and leave the row's own record spare. One a little after the stamp fits when none
    // before it does: a clock stepped back between the record and the row. And, where
    // the database stamped both, one it stored within the skew of the row.
    const take = (from: readonly HoldRecord[], at: Date, stored: Date | null | undefined, ok: (r: HoldRecord) => boolean) => {
      let before: HoldRecord | undefined;
      let after: HoldRecord | undefined;
      for (const c of from) {
        if (used.has(c) || !ok(c)) continue;
        if (stored && c.storedAt && Math.abs(c.storedAt.getTime() - stored.getTime()) > RECORD_SKEW_MS) continue;
        const d = c.at.getTime() - at.getTime();
        if (d <= 0 && d >= -RECORD_SKEW_MS && (!before || c.at.getTime() > before.at.getTime())) before = c;
        else if (d > 0 && d <= RECORD_SKEW_MS && (!after || c.at.getTime() < after.at.getTime())) after = c;
      }
      const best = before ?? after;
      if (best) used.add(best);
      return best;
    };
    const problem = (h: { tenant: string; session: string }, seq: number, kind: HoldProblemKind, hold?: HoldHistory) => problems.push({ tenant: h.tenant, session: h.session, seq, kind, ...(hold ? { hold } : {}) });
    const bySet = [...rows].sort((a, b) => a.setAt.getTime() - b.setAt.getTime());
    for (const h of bySet) {
      const r = take(sets, h.setAt, h.setStoredAt, (c) => c.actor === h.setBy && c.reason === h.reason);
      if (r) setBy.set(h, r);
      else problem(h, 0, 'hold_set_unrecorded', h);
    }
    const cleared = bySet.filter((h) => h.clearedAt !== null).sort((a, b) => a.clearedAt!.getTime() - b.clearedAt!.getTime());
    for (const h of cleared) {
      const after = setBy.get(h)?.seq ?? 0;
      const r = h.clearedAt!.getTime() < h.setAt.getTime() ? undefined : take(clears, h.clearedAt!, h.clearedStoredAt, (c) => c.seq > after && c.actor === h.clearedBy && c.reason === h.clearReason);
      if (!r) problem(h, 0, 'hold_clear_unrecorded', h);
    }
    for (const r of sets) {
      if (used.has(r)) continue;
      const t = r.at.getTime();
      const inForce = rows.some((h) => h.setAt.getTime() <= t + RECORD_SKEW_MS && (h.clearedAt === null || h.clearedAt.getTime() >= t - RECORD_SKEW_MS));
      if (!inForce) problem({ tenant: r.tenant!, session: r.session! }, r.seq, 'hold_missing');
    }
  }
  return problems;
}
