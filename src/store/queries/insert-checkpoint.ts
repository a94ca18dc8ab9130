import { checkpoints } from '../schema';
import type { TenantTx } from '../types';

export interface CheckpointRow {
  tenant: string;
  session: string;
  seq: number;
  keyId: string;
  hash: Uint8Array;
  signedAt: Date;
  note: string;
}

/** Stores a signed checkpoint; a checkpoint of the same head by the same key already stored is kept. */
export async function insertCheckpoint(tx: TenantTx, c: CheckpointRow): Promise<void> {
  await tx
    .insert(checkpoints)
    .values({ tenantId: c.tenant, sessionId: c.session, seq: c.seq, keyId: c.keyId, hash: c.hash, signedAt: c.signedAt, note: c.note })
    .onConflictDoNothing();
}
