import { and, desc, eq, lte, type SQL } from 'drizzle-orm';
import type { SealedSnapshot } from '../../events';
import { snapshots } from '../schema';
import type { TenantTx } from '../types';

/** Stores a snapshot; one that exists at that seq already is kept (two writers folded the same prefix). */
export async function insertSnapshot(tx: TenantTx, s: SealedSnapshot): Promise<void> {
  await tx
    .insert(snapshots)
    .values({ tenantId: s.tenant, sessionId: s.session, seq: s.seq, at: s.at, headHash: s.headHash, keyVersion: s.keyVersion, nonce: s.nonce, ciphertext: s.ciphertext })
    .onConflictDoNothing();
}

/** The latest snapshot at or before a point (a seq, a time, or both), or null. One index lookup. */
export async function nearestSnapshot(tx: TenantTx, tenant: string, session: string, point: { atSeq?: number; at?: Date }): Promise<SealedSnapshot | null> {
  const where: SQL[] = [eq(snapshots.tenantId, tenant), eq(snapshots.sessionId, session)];
  if (point.atSeq !== undefined) where.push(lte(snapshots.seq, point.atSeq));
  if (point.at !== undefined) where.push(lte(snapshots.at, point.at));
  const [r] = await tx.select().from(snapshots).where(and(...where)).orderBy(desc(snapshots.seq)).limit(1);
  return r ? toSnapshot(r) : null;
}

/** Every snapshot's place in the chain (seq and head), for verify: no content. */
export async function snapshotHeads(tx: TenantTx, tenant: string, session: string): Promise<{ seq: number; headHash: Uint8Array }[]> {
  return tx
    .select({ seq: snapshots.seq, headHash: snapshots.headHash })
    .from(snapshots)
    .where(and(eq(snapshots.tenantId, tenant), eq(snapshots.sessionId, session)))
    .orderBy(snapshots.seq);
}

/** Deletes a session's snapshots (shredding, purge: derived data goes with the key). Returns how many. */
export async function deleteSnapshots(tx: TenantTx, tenant: string, session: string): Promise<number> {
  const rows = await tx
    .delete(snapshots)
    .where(and(eq(snapshots.tenantId, tenant), eq(snapshots.sessionId, session)))
    .returning({ seq: snapshots.seq });
  return rows.length;
}

function toSnapshot(r: typeof snapshots.$inferSelect): SealedSnapshot {
  return { tenant: r.tenantId, session: r.sessionId, seq: r.seq, at: r.at, headHash: r.headHash, keyVersion: r.keyVersion, nonce: r.nonce, ciphertext: r.ciphertext };
}
