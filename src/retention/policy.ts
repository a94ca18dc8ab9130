import { InputError, IntegrityError } from '../errors';
import { atLeastFrom, longer, formatDuration, parseDuration, addDuration, POLICY_RULE_START, type Duration } from './duration';

/**
 * A tenant's retention policy: sessions idle for `archiveAfter` move from hot Postgres to
 * the archive store; `retain` after their last event they are purged (archive object
 * deleted, key shredded, tombstone kept) unless a legal hold applies. Both durations
 * count from the session's last event.
 */
export interface RetentionPolicy {
  archiveAfter: Duration;
  retain: Duration;
}

/**
 * The default for tenants with no policy of their own: archive after 30 days idle, keep
 * 7 years — longer than SEC 17a-4's 6 years and FINRA 4511's 6, and than PCI DSS
 * 10.5.1's 12 months (docs/retention.md maps each).
 */
export const DEFAULT_POLICY: RetentionPolicy = { archiveAfter: { amount: 30, unit: 'd' }, retain: { amount: 7, unit: 'y' } };

/** Validates a policy as written (`--archive-after 30d --retain 7y`): retain must be at least archive-after. */
export function parsePolicy(input: { archiveAfter: string; retain: string }): RetentionPolicy {
  const policy = { archiveAfter: parseDuration(input.archiveAfter, '--archive-after'), retain: parseDuration(input.retain, '--retain') };
  if (!atLeastFrom(POLICY_RULE_START, policy.retain, policy.archiveAfter)) {
    throw new InputError('INVALID_INPUT', '--retain must be at least --archive-after: a session is archived before it is purged');
  }
  return policy;
}

/**
 * A tenant's policy row as stored, read. The vault writes only rows parsePolicy takes, and
 * the database refuses any other since 0067; one stored before, or by the owner, is
 * CHAIN_BROKEN (as an unreadable floor is), never taken for the operator's bad input.
 */
export function storedPolicy(tenant: string, row: { archiveAfter: string; retain: string }): RetentionPolicy {
  try {
    return parsePolicy(row);
  } catch {
    throw new IntegrityError('CHAIN_BROKEN', `tenant ${tenant}'s retention policy row is unreadable (not one the vault writes): set it again with retention set, and run verify`);
  }
}

/** A new session's retention floor: the tenant's retain as its row says, or the default's where it has none or one that does not read (the signed trail still holds its purge to what was recorded). */
export function newSessionFloor(row: { archiveAfter: string; retain: string } | null, fallback: RetentionPolicy): string {
  if (row) {
    try {
      return formatDuration(parsePolicy(row).retain);
    } catch {
      // An unreadable row (stored before 0067, or by the owner): the default's floor, which the database takes.
    }
  }
  return formatDuration(fallback.retain);
}

/** `archive-after=30d retain=7y`: how a policy is written in records and tombstones. */
export function describePolicy(p: RetentionPolicy): string {
  return `archive-after=${formatDuration(p.archiveAfter)} retain=${formatDuration(p.retain)}`;
}

/** What a session's retention needs to know about it. */
export interface RetentionSubject {
  status: 'active' | 'archived' | 'purged';
  events: number;
  lastAt: Date | null;
  held: boolean;
}

/** What is due for a session now: `archive`, `purge`, `restore`, or nothing (with why, for --dry-run). */
export type RetentionDecision =
  | { action: 'archive'; dueAt: Date }
  | { action: 'purge'; dueAt: Date }
  | { action: 'restore'; dueAt: null }
  | { action: 'none'; why: 'empty' | 'purged' | 'not_due' | 'held'; dueAt: Date | null };

/** An archived session under a legal hold (archived before the hold was set) is brought back to the database, whatever its policy. */
export function restoreDue(s: Pick<RetentionSubject, 'status' | 'held'>): boolean {
  return s.status === 'archived' && s.held;
}

/**
 * Pure: the retention step due for one session at `now`. An active session idle past
 * archive-after is archived unless held (a held session's events stay in the database,
 * under its hold's guards: drizzle/0074); a session past retain is purged only once
 * archived and only without a legal hold; an archived session under a hold (archived
 * before the hold was set) is restored at once, so that its events are the database's to
 * keep, not only the archive store's; nothing else is ever due.
 */
export function decide(s: RetentionSubject, policy: RetentionPolicy, now: Date): RetentionDecision {
  if (s.status === 'purged') return { action: 'none', why: 'purged', dueAt: null };
  if (s.events === 0 || s.lastAt === null) return { action: 'none', why: 'empty', dueAt: null };
  if (restoreDue(s)) return { action: 'restore', dueAt: null };
  const archiveAt = addDuration(s.lastAt, policy.archiveAfter);
  const purgeAt = purgeDue(s.lastAt, policy);
  if (s.status === 'active') {
    // Not `now < archiveAt`, as below: a last-event time that is no time is never due.
    if (!(archiveAt.getTime() <= now.getTime())) return { action: 'none', why: 'not_due', dueAt: archiveAt };
    return s.held ? { action: 'none', why: 'held', dueAt: archiveAt } : { action: 'archive', dueAt: archiveAt };
  }
  // Not `now < purgeAt`: a last-event time that is no time (stored past the database's checks) gives no due date, and is never due.
  if (!(purgeAt.getTime() <= now.getTime())) return { action: 'none', why: 'not_due', dueAt: purgeAt };
  return { action: 'purge', dueAt: purgeAt };
}

/**
 * The policy a session is kept under: the tenant's, but never a shorter `retain` than the
 * floor the session was created or archived under, from any start (a shorter policy
 * applies to new sessions only, unless an operator overrides floors in governance mode):
 * `28d` under a floor of `1mo` keeps `1mo`, and `30d` keeps `31d` (`longer`). Pure.
 */
export function withFloor(policy: RetentionPolicy, floor: Duration | null): RetentionPolicy {
  return floor ? { ...policy, retain: longer(policy.retain, floor) } : policy;
}

/** A tenant's retention mode (S3 Object Lock's): `governance` allows recorded floor overrides, `compliance` none, ever. */
export type RetentionMode = 'governance' | 'compliance';

/** When a session whose last event was at `lastAt` may be purged. */
export function purgeDue(lastAt: Date, policy: RetentionPolicy): Date {
  return addDuration(lastAt, policy.retain);
}
