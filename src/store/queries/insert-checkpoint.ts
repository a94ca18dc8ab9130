import { sql } from 'drizzle-orm';
import type { TenantTx } from '../types';

export interface CheckpointRow {
  tenant: string;
  session: string;
  seq: number;
  keyId: string;
  hash: Uint8Array;
  signedAt: Date;
  note: string;
  /** When the database stored it, by its own clock (drizzle/0055); null for one stored before 0055. */
  storedAt: Date | null;
}

/**
 * Stores a signed checkpoint; a checkpoint of the same head by the same key already stored
 * is kept. Its columns named, not drizzle's insert, which would name `stored_at` too: the
 * database stamps that column, and refuses it from a role that writes checkpoints.
 */
export async function insertCheckpoint(tx: TenantTx, c: Omit<CheckpointRow, 'storedAt'>): Promise<void> {
  await tx.execute(
    sql`INSERT INTO checkpoints (tenant_id, session_id, seq, key_id, hash, signed_at, note)
        VALUES (${c.tenant}, ${c.session}, ${c.seq}, ${c.keyId}, decode(${Buffer.from(c.hash).toString('hex')}, 'hex'), ${c.signedAt.toISOString()}::timestamptz, ${c.note})
        ON CONFLICT DO NOTHING`,
  );
}
