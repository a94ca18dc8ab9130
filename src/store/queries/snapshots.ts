import { and, eq } from 'drizzle-orm';
import type { SealedSnapshot } from '../../events';
import { snapshots } from '../schema';
import type { TenantTx } from '../types';

/** A snapshot as stored: sealed, and signed by the checkpoint key (none where the vault that wrote it signs nothing). */
export type StoredSnapshot = SealedSnapshot & { keyId: string | null; signature: Uint8Array | null };

/** Stores a snapshot; one that exists at that seq already is kept (two writers folded the same prefix). */
export async function insertSnapshot(tx: TenantTx, s: StoredSnapshot): Promise<void> {
  await tx
    .insert(snapshots)
    .values({ tenantId: s.tenant, sessionId: s.session, seq: s.seq, at: s.at, headHash: s.headHash, keyVersion: s.keyVersion, nonce: s.nonce, ciphertext: s.ciphertext, keyId: s.keyId, signature: s.signature })
    .onConflictDoNothing();
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
