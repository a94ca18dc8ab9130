import { and, eq, isNull, ne, or } from 'drizzle-orm';
import { sessions, tombstones } from '../schema';
import type { TenantTx } from '../types';

/** What is kept of a purged session (schema.ts, `tombstones`). */
export interface TombstoneRow {
  tenant: string;
  session: string;
  headSeq: number;
  headHash: Uint8Array | null;
  archiveDigest: Uint8Array;
  lastAt: Date | null;
  dueAt: Date;
  purgedAt: Date;
  purgedBy: string;
  policy: string;
  objectsDeletedAt: Date | null;
}

/**
 * Purges an archived session in the database: its tombstone is written, its data key
 * deleted and its status set to `purged`, in the caller's transaction. Returns false,
 * writing nothing, if the session is not archived (any more).
 */
export async function purgeSession(tx: TenantTx, t: Omit<TombstoneRow, 'objectsDeletedAt'>): Promise<boolean> {
  const changed = await tx
    .update(sessions)
    .set({ status: 'purged', wrappedDataKey: null })
    .where(and(eq(sessions.tenantId, t.tenant), eq(sessions.sessionId, t.session), eq(sessions.status, 'archived')))
    .returning({ id: sessions.sessionId });
  if (changed.length !== 1) return false;
  await tx.insert(tombstones).values({
    tenantId: t.tenant,
    sessionId: t.session,
    headSeq: t.headSeq,
    headHash: t.headHash,
    archiveDigest: t.archiveDigest,
    lastAt: t.lastAt,
    dueAt: t.dueAt,
    purgedAt: t.purgedAt,
    purgedBy: t.purgedBy,
    policy: t.policy,
  });
  return true;
}

/** Stamps a tombstone with the time its archive objects were deleted (once). */
export async function markObjectsDeleted(tx: TenantTx, tenant: string, session: string, at: Date): Promise<void> {
  await tx
    .update(tombstones)
    .set({ objectsDeletedAt: at })
    .where(and(eq(tombstones.tenantId, tenant), eq(tombstones.sessionId, session), isNull(tombstones.objectsDeletedAt)));
}

/** A session's tombstone, or null. */
export async function readTombstone(tx: TenantTx, tenant: string, session: string): Promise<TombstoneRow | null> {
  const [r] = await tx.select().from(tombstones).where(and(eq(tombstones.tenantId, tenant), eq(tombstones.sessionId, session))).limit(1);
  return r ? toRow(r) : null;
}

/**
 * Tombstones whose archive objects are not yet deleted (a purge interrupted after its
 * commit), of sessions that are purged: the vault writes both in one transaction, so a
 * tombstone of a session that is not (one written in SQL before 0068, or by the owner)
 * never has the session's archive deleted.
 */
export async function pendingTombstones(tx: TenantTx, tenant: string): Promise<TombstoneRow[]> {
  const rows = await tx
    .select({ t: tombstones })
    .from(tombstones)
    .innerJoin(sessions, and(eq(sessions.tenantId, tombstones.tenantId), eq(sessions.sessionId, tombstones.sessionId)))
    .where(and(eq(tombstones.tenantId, tenant), isNull(tombstones.objectsDeletedAt), eq(sessions.status, 'purged')));
  return rows.map((r) => toRow(r.t));
}

/** Tombstones of sessions that are not purged, or that the vault does not hold (written in SQL before 0068, or by the owner): verify names each. */
export async function strayTombstones(tx: TenantTx, tenant: string, session?: string): Promise<{ session: string; headSeq: number }[]> {
  return tx
    .select({ session: tombstones.sessionId, headSeq: tombstones.headSeq })
    .from(tombstones)
    .leftJoin(sessions, and(eq(sessions.tenantId, tombstones.tenantId), eq(sessions.sessionId, tombstones.sessionId)))
    .where(and(eq(tombstones.tenantId, tenant), or(isNull(sessions.sessionId), ne(sessions.status, 'purged')), session === undefined ? undefined : eq(tombstones.sessionId, session)))
    .orderBy(tombstones.sessionId);
}

function toRow(r: typeof tombstones.$inferSelect): TombstoneRow {
  return {
    tenant: r.tenantId,
    session: r.sessionId,
    headSeq: r.headSeq,
    headHash: r.headHash,
    archiveDigest: r.archiveDigest,
    lastAt: r.lastAt,
    dueAt: r.dueAt,
    purgedAt: r.purgedAt,
    purgedBy: r.purgedBy,
    policy: r.policy,
    objectsDeletedAt: r.objectsDeletedAt,
  };
}
