import { and, asc, eq, gt, isNotNull, sql } from 'drizzle-orm';
import type { SealedSnapshot } from '../../events';
import { snapshots } from '../schema';
import type { TenantTx } from '../types';

/**
 * A snapshot as stored: sealed, and signed by the checkpoint key (none where the vault that
 * wrote it signs nothing); on one read, when the database stored it, by its own clock
 * (drizzle/0056; null before it). The vault never writes `storedAt`: the database stamps it.
 */
export type StoredSnapshot = SealedSnapshot & { keyId: string | null; signature: Uint8Array | null; storedAt?: Date | null };

/** Stores a snapshot; one that exists at that seq already is kept (two writers folded the same prefix). */
export async function insertSnapshot(tx: TenantTx, s: StoredSnapshot): Promise<void> {
  await tx
    .insert(snapshots)
    .values({ tenantId: s.tenant, sessionId: s.session, seq: s.seq, at: s.at, headHash: s.headHash, keyVersion: s.keyVersion, nonce: s.nonce, ciphertext: s.ciphertext, keyId: s.keyId, signature: s.signature })
    .onConflictDoNothing();
}

/** Every snapshot's place in the chain (seq and head), and whether it carries a signature, for verify: no content. */
export async function snapshotHeads(tx: TenantTx, tenant: string, session: string): Promise<{ seq: number; headHash: Uint8Array; signed: boolean }[]> {
  return tx
    .select({ seq: snapshots.seq, headHash: snapshots.headHash, signed: sql<boolean>`${snapshots.signature} IS NOT NULL` })
    .from(snapshots)
    .where(and(eq(snapshots.tenantId, tenant), eq(snapshots.sessionId, session)))
    .orderBy(snapshots.seq);
}

/**
 * A session's signed snapshots after seq `after`, whole, `limit` at a time by seq: for
 * verify, which checks each signature over its sealed bytes (a page at a time, as a
 * snapshot may be large).
 */
export async function signedSnapshots(tx: TenantTx, tenant: string, session: string, after: number, limit: number): Promise<StoredSnapshot[]> {
  const rows = await tx
    .select()
    .from(snapshots)
    .where(and(eq(snapshots.tenantId, tenant), eq(snapshots.sessionId, session), gt(snapshots.seq, after), isNotNull(snapshots.signature)))
    .orderBy(asc(snapshots.seq))
    .limit(limit);
  return rows.map((r) => ({ tenant: r.tenantId, session: r.sessionId, seq: r.seq, at: r.at, headHash: r.headHash, keyVersion: r.keyVersion, nonce: r.nonce, ciphertext: r.ciphertext, keyId: r.keyId, signature: r.signature, storedAt: r.storedAt }));
}

/** Deletes a session's snapshots (shredding, purge: derived data goes with the key). Returns how many. */
export async function deleteSnapshots(tx: TenantTx, tenant: string, session: string): Promise<number> {
  const rows = await tx
    .delete(snapshots)
    .where(and(eq(snapshots.tenantId, tenant), eq(snapshots.sessionId, session)))
    .returning({ seq: snapshots.seq });
  return rows.length;
}
