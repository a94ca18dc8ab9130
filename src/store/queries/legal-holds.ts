import { and, asc, eq } from 'drizzle-orm';
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

/** Lifts a hold; returns false if none was in force. */
export async function deleteHold(tx: TenantTx, tenant: string, session: string): Promise<boolean> {
  const rows = await tx
    .delete(legalHolds)
    .where(and(eq(legalHolds.tenantId, tenant), eq(legalHolds.sessionId, session)))
    .returning({ id: legalHolds.sessionId });
  return rows.length === 1;
}

/** The holds in force for a tenant, or for one session of it. */
export async function readHolds(tx: TenantTx, tenant: string, session?: string): Promise<HoldRow[]> {
  const where = session === undefined ? eq(legalHolds.tenantId, tenant) : and(eq(legalHolds.tenantId, tenant), eq(legalHolds.sessionId, session));
  const rows = await tx.select().from(legalHolds).where(where).orderBy(asc(legalHolds.sessionId));
  return rows.map((r) => ({ tenant: r.tenantId, session: r.sessionId, reason: r.reason, setBy: r.setBy, setAt: r.setAt }));
}
