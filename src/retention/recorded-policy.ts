import { attempted, RECORD_SKEW_MS } from '../audit';
import type { AccessRecord } from '../domain';
import { atLeast, formatDuration, longer, parseDuration, shorter, type Duration } from './duration';
import type { RetentionMode, RetentionPolicy } from './policy';

/**
 * Retention policies as the signed access trail records them. The vault records every
 * policy change before it makes it, with the values it sets in the action:
 * `retention.set:<archive-after>/<retain>[/<mode>]`, or `retention.override:…` when the
 * change also lowers existing sessions' floors (governance mode). The tables it then
 * writes (the tenant's policy row, each session's floor) are writable by the operator
 * role, which in governance mode may lower floors, as the override must; so a thief with
 * its credentials could shorten both and have the operator's own retention run purge
 * sessions early. The trail, which that role cannot sign, says what retention each
 * session was promised: its tenant's policy when it was created, or what an override
 * since set, raised by archiving. Pure: the caller reads the trail and the tables.
 */

/** Who a tenant's first policy, the vault's default written down when the tenant is created, is recorded and stamped as set by. */
export const DEFAULT_POLICY_ACTOR = '(default)';

/** A policy change as recorded: `policy` is null for a record written before records carried values. */
export interface PolicyRecord {
  seq: number;
  at: Date;
  actor: string;
  override: boolean;
  policy: RetentionPolicy | null;
  mode: RetentionMode | null;
}

/** The action a policy change is recorded under, values included (`retention.set:30d/7y`, `retention.override:30d/1y`, `…/compliance`). */
export function policyAction(change: { override: boolean; policy: RetentionPolicy; mode?: RetentionMode }): string {
  const values = [formatDuration(change.policy.archiveAfter), formatDuration(change.policy.retain), ...(change.mode ? [change.mode] : [])];
  return `retention.${change.override ? 'override' : 'set'}:${values.join('/')}`;
}

/** The policy changes among `records` that did not fail, in seq order. A record whose values do not parse counts as one without values. */
export function policyRecords(records: readonly AccessRecord[]): PolicyRecord[] {
  const out: PolicyRecord[] = [];
  for (const r of attempted(records)) {
    const m = /^retention\.(set|override)(?::(.*))?$/.exec(r.action);
    if (!m) continue;
    out.push({ seq: r.seq, at: r.at, actor: r.actor, override: m[1] === 'override', ...values(m[2]) });
  }
  return out.sort((a, b) => a.seq - b.seq);
}

function values(text: string | undefined): { policy: RetentionPolicy | null; mode: RetentionMode | null } {
  const [archiveAfter, retain, mode, ...rest] = (text ?? '').split('/');
  if (!archiveAfter || !retain || rest.length > 0 || (mode !== undefined && mode !== 'governance' && mode !== 'compliance')) return { policy: null, mode: null };
  try {
    return { policy: { archiveAfter: parseDuration(archiveAfter, 'archive-after'), retain: parseDuration(retain, 'retain') }, mode: mode ?? null };
  } catch {
    return { policy: null, mode: null };
  }
}

/**
 * The shortest retention the trail allows a session created at `createdAt` (and purged
 * at `until`, if it was; archived at each of `archivedAt`), or null when a record without
 * values leaves it unknown. It is the tenant's policy then (the latest change before it,
 * or `fallback`, the vault's default, when there was none), unless an override since set
 * every floor to its value: the latest override's then. Archiving raises a session's floor
 * to the tenant's policy of the day, so an archive after the last override counts too.
 * Clocks of different hosts may disagree by the skew, so a change within it of the
 * session's creation (or of an archive) may or may not have applied to it, and overrides
 * within it of each other, or of an archive, may have landed in either order: each such
 * value is allowed, and the shortest counts.
 */
export function promisedRetain(history: readonly PolicyRecord[], createdAt: Date, fallback: Duration, until?: Date, archivedAt: readonly Date[] = []): Duration | null {
  if (until) {
    // A purged session's floor is final: what changed after its purge did not apply to it,
    // and a change within the skew of it may or may not have. The purge came after any of
    // those changes, or before all of them: the shortest of what each cut promised counts
    // (not only the cuts before and after all of them: an override just before the purge
    // and another just after it leave the first in force).
    const [sure, maybe] = [until.getTime() - RECORD_SKEW_MS, until.getTime() + RECORD_SKEW_MS];
    const cuts = [sure, ...history.map((r) => r.at.getTime()).filter((at) => at > sure && at <= maybe)];
    let least: Duration | null = null;
    for (const cut of cuts) {
      const promised = promisedRetain(history.filter((r) => r.at.getTime() <= cut), createdAt, fallback, undefined, archivedAt);
      if (!promised) return null;
      least = least ? shorter(least, promised) : promised;
    }
    return least;
  }
  const t = createdAt.getTime();
  // A session created at no time (stored past the database's check, drizzle/0066) may have been created under any policy recorded: the longest holds.
  if (Number.isNaN(t)) return mostRetain(history, createdAt, fallback, until);
  const overrides = history.filter((r) => r.override && r.at.getTime() - t > -RECORD_SKEW_MS);
  const last = overrides[overrides.length - 1];
  let promised =
    last && last.at.getTime() - t > RECORD_SKEW_MS
      ? shortest(overrides.filter((o) => last.at.getTime() - o.at.getTime() <= RECORD_SKEW_MS).map((o) => o.policy?.retain))
      : policyAt(history, t, fallback);
  // An archive surely after every override raised the floor to the policy of its day; one
  // that may have come before an override was undone by it.
  const lastOverride = history.filter((r) => r.override).pop()?.at.getTime() ?? -Infinity;
  for (const a of archivedAt) {
    if (a.getTime() - RECORD_SKEW_MS <= lastOverride || a.getTime() < t) continue;
    const raised = policyAt(history, a.getTime(), fallback);
    if (promised === null || raised === null) return null;
    promised = longer(raised, promised);
  }
  return promised;
}

/** The shortest retain the tenant's policy may have had at `t`: the latest change well before it, and any within the skew of it; null if one has no values. */
function policyAt(history: readonly PolicyRecord[], t: number, fallback: Duration): Duration | null {
  let before: PolicyRecord | null = null;
  const near: PolicyRecord[] = [];
  for (const r of history) {
    const d = r.at.getTime() - t;
    if (d <= -RECORD_SKEW_MS) before = r;
    else if (d <= RECORD_SKEW_MS) near.push(r);
  }
  return shortest([before ? before.policy?.retain : fallback, ...near.map((r) => r.policy?.retain)]);
}

/** The shortest of `ds`, or null if one is unknown. */
function shortest(ds: readonly (Duration | undefined)[]): Duration | null {
  let out: Duration | null = null;
  for (const d of ds) {
    if (!d) return null;
    out = out ? shorter(out, d) : d;
  }
  return out;
}

/**
 * The longest floor the vault itself could have given a session created at `createdAt`
 * (and purged at `until`, if it was), or null when a record without values leaves it
 * unknown: the tenant's policy then, or any it recorded since, since archiving raises a
 * session's floor to the tenant's policy of the day and an override sets it. A floor
 * above it was raised outside the vault, to keep the session past its retention.
 */
export function mostRetain(history: readonly PolicyRecord[], createdAt: Date, fallback: Duration, until?: Date): Duration | null {
  const t = createdAt.getTime();
  const end = until ? until.getTime() + RECORD_SKEW_MS : Infinity;
  let before: PolicyRecord | null = null;
  const candidates: (Duration | undefined)[] = [];
  for (const r of history) {
    if (r.at.getTime() - t <= -RECORD_SKEW_MS) before = r;
    else if (r.at.getTime() <= end) candidates.push(r.policy?.retain);
  }
  candidates.push(before ? before.policy?.retain : fallback);
  let longest: Duration | null = null;
  for (const c of candidates) {
    if (!c) return null;
    longest = longest ? longer(longest, c) : c;
  }
  return longest;
}

/** The retain the trail says is in force now: the latest change's, `fallback` when none; null when that record has no values. */
export function recordedRetain(history: readonly PolicyRecord[], fallback: Duration): Duration | null {
  const latest = history[history.length - 1];
  return latest ? latest.policy?.retain ?? null : fallback;
}

/** A tenant's policy row as stored (store/queries/retention-policies.ts). */
export interface PolicyStamp {
  archiveAfter: string;
  retain: string;
  mode: RetentionMode;
  setBy: string;
  setAt: Date;
}

/**
 * Whether the tenant's policy row is one the trail records: written by the actor of a
 * change, within the skew of it, with its values (and the mode it set or kept), and no
 * change recorded well before the row was written since (the row would be that one's).
 * No row is right only when no change was ever recorded; with none recorded, only the
 * default a tenant created before tenants' policies were recorded was given. A record
 * without values matches on actor and time alone.
 */
export function policyRecorded(row: PolicyStamp | null, history: readonly PolicyRecord[]): boolean {
  if (history.length === 0) return row === null || row.setBy === DEFAULT_POLICY_ACTOR;
  if (!row) return false;
  const at = row.setAt.getTime();
  // A row set at no time (`infinity`, stored past the database's check, drizzle/0066) matches no record: every time comparison with it is false.
  if (Number.isNaN(at)) return false;
  for (let i = history.length - 1; i >= 0; i--) {
    if (history.slice(i + 1).some((later) => later.at.getTime() + RECORD_SKEW_MS < at)) break;
    const r = history[i]!;
    if (r.actor !== row.setBy || Math.abs(r.at.getTime() - at) > RECORD_SKEW_MS) continue;
    if (r.policy === null) return true;
    const mode = modeAfter(history.slice(0, i + 1));
    if (sameDuration(r.policy.archiveAfter, row.archiveAfter) && sameDuration(r.policy.retain, row.retain) && (mode === null || mode === row.mode)) return true;
  }
  return false;
}

/** The mode the changes up to the last of `history` leave: compliance is for good; null when a record without values leaves it unknown. */
function modeAfter(history: readonly PolicyRecord[]): RetentionMode | null {
  let mode: RetentionMode = 'governance';
  for (const r of history) {
    if (r.policy === null) return null;
    if (r.mode === 'compliance') mode = 'compliance';
  }
  return mode;
}

function sameDuration(d: Duration, text: string): boolean {
  try {
    return formatDuration(parseDuration(text, 'retain')) === formatDuration(d);
  } catch {
    return false;
  }
}

/** A session's floor as stored, for the comparison; `purgedAt` from its tombstone if it was purged (its floor no longer changes). */
export interface FloorStamp {
  tenant: string;
  session: string;
  headSeq: number;
  createdAt: Date;
  retainFloor: string | null;
  purgedAt?: Date;
  /** When it was archived (each archive record's time), if it was: archiving raised its floor. */
  archivedAt?: readonly Date[];
}

/**
 * Whether a session's floor is one the vault could have given it: at least what the trail
 * promised it, and no more than the longest policy it recorded since (a session older
 * than floors has none to check; an unreadable floor is not one).
 */
export function floorRecorded(s: FloorStamp, history: readonly PolicyRecord[], fallback: Duration): boolean {
  if (s.retainFloor === null) return true;
  let floor: Duration;
  try {
    floor = parseDuration(s.retainFloor, 'retention floor');
  } catch {
    return false;
  }
  const least = promisedRetain(history, s.createdAt, fallback, s.purgedAt, s.archivedAt);
  const most = mostRetain(history, s.createdAt, fallback, s.purgedAt);
  return (least === null || atLeast(floor, least)) && (most === null || atLeast(most, floor));
}

/** What verify names when a tenant's retention tables disagree with its trail: its policy row, or a session's floor (shortened or lengthened). */
export type RetentionProblemKind = 'policy_unrecorded' | 'floor_unrecorded';
