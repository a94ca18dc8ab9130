import type { AccessRecord } from '../domain';
import { attempted, RECORD_SKEW_MS } from './trail-records';

/**
 * Purges against the access trail. The vault purges a session only after recording
 * `retention.purge` (by `purge`, or by a retention run for its group) in the signed
 * trail, then writes the tombstone with the same actor as `purged_by` and its own clock's
 * time as `purged_at`. The retention role (and the operator role, its member) can write a
 * tombstone and mark the session purged itself (the application role cannot: drizzle/0040,
 * 0044), with any `purged_at` past the floor up to the database's clock (0045): the
 * tombstone then agrees with the chain and the policy, and only the trail shows that no
 * operator purged it. Pure: the caller reads both.
 */

/** What `verify` reads of a tombstone (store/queries/tombstones.ts). */
export interface PurgeStamp {
  tenant: string;
  session: string;
  headSeq: number;
  purgedBy: string;
  purgedAt: Date;
}

/** `seq` is the purged session's head. */
export interface PurgeProblem {
  tenant: string;
  session: string;
  seq: number;
  kind: 'purge_unrecorded';
}

/**
 * A tombstone with no `retention.purge` record of its session, by its `purged_by`, that
 * did not fail and was written before its `purged_at` (within the skew). A retention run
 * records a whole group before it purges any, so no bound is put on how long before.
 * A session is purged once: one record per tombstone is all it takes. `records` are the
 * trail's purge records of the same scope, in seq order.
 */
export function checkPurges(tombstones: readonly PurgeStamp[], records: readonly AccessRecord[]): PurgeProblem[] {
  const done = new Map<string, AccessRecord[]>();
  for (const r of attempted(records)) {
    if (r.action !== 'retention.purge' || r.tenant === null || r.session === null) continue;
    const key = `${r.tenant}\u0000${r.session}`;
    const same = done.get(key);
    if (same) same.push(r);
    else done.set(key, [r]);
  }
  const problems: PurgeProblem[] = [];
  for (const t of tombstones) {
    const recorded = (done.get(`${t.tenant}\u0000${t.session}`) ?? []).some((r) => r.actor === t.purgedBy && r.at.getTime() <= t.purgedAt.getTime() + RECORD_SKEW_MS);
    if (!recorded) problems.push({ tenant: t.tenant, session: t.session, seq: t.headSeq, kind: 'purge_unrecorded' });
  }
  return problems;
}
