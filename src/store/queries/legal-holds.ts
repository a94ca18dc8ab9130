import { and, asc, eq, isNull } from 'drizzle-orm';
import { legalHolds } from '../schema';
import type { TenantTx } from '../types';

export interface HoldRow {
  tenant: string;
  session: string;
  reason: string;
  setBy: string;
  setAt: Date;
}

/** Places a hold; returns false if one is already in force (it is kept as it was). */
export async function insertHold(tx: TenantTx, h: HoldRow): Promise<boolean> {
  const rows = await tx
    .insert(legalHolds)
    .values({ tenantId: h.tenant, sessionId: h.session, reason: h.reason, setBy: h.setBy, setAt: h.setAt })
    .onConflictDoNothing()
    .returning({ id: legalHolds.sessionId });
  return rows.length === 1;
}

/**
 * Lifts the hold in force: stamps who cleared it, when and why (the row stays; the
 * database refuses deleting it). Returns false if none was in force.
 */
export async function clearHoldRow(tx: TenantTx, tenant: string, session: string, cleared: { by: string; reason: string; at: Date }): Promise<boolean> {
  const rows = await tx
    .update(legalHolds)
    .set({ clearedAt: cleared.at, clearedBy: cleared.by, clearReason: cleared.reason })
    .where(and(eq(legalHolds.tenantId, tenant), eq(legalHolds.sessionId, session), isNull(legalHolds.clearedAt)))
    .returning({ id: legalHolds.sessionId });
  return rows.length === 1;
}

/** A hold as stored, in force or cleared: the history `verify` compares with the access trail. */
export interface HoldHistoryRow extends HoldRow {
  clearedAt: Date | null;
  clearedBy: string | null;
  clearReason: string | null;
  /** When the database stored the hold and its clearing, by its own clock (drizzle/0058); null before 0058. */
  setStoredAt: Date | null;
  clearedStoredAt: Date | null;
}

/** Every hold a tenant (or one session of it) ever had, in force or cleared, oldest first. */
export async function readHoldHistory(tx: TenantTx, tenant: string, session?: string): Promise<HoldHistoryRow[]> {
  const where = session === undefined ? eq(legalHolds.tenantId, tenant) : and(eq(legalHolds.tenantId, tenant), eq(legalHolds.sessionId, session));
  const rows = await tx.select().from(legalHolds).where(where).orderBy(asc(legalHolds.sessionId), asc(legalHolds.setAt));
  return rows.map((r) => ({
    tenant: r.tenantId,
    session: r.sessionId,
    reason: r.reason,
    setBy: r.setBy,
    setAt: r.setAt,
    clearedAt: r.clearedAt,
    clearedBy: r.clearedBy,
    clearReason: r.clearReason,
    setStoredAt: r.setStoredAt,
    clearedStoredAt: r.clearedStoredAt,
  }));
}

/** The holds in force for a tenant, or for one session of it. */
export async function readHolds(tx: TenantTx, tenant: string, session?: string): Promise<HoldRow[]> {
  const inForce = isNull(legalHolds.clearedAt);
  const where = session === undefined ? and(eq(legalHolds.tenantId, tenant), inForce) : and(eq(legalHolds.tenantId, tenant), eq(legalHolds.sessionId, session), inForce);
  const rows = await tx.select().from(legalHolds).where(where).orderBy(asc(legalHolds.sessionId));
  return rows.map((r) => ({ tenant: r.tenantId, session: r.sessionId, reason: r.reason, setBy: r.setBy, setAt: r.setAt }));
}
