import { desc } from 'drizzle-orm';
import { accessLog } from '../schema';
import type { VaultDb } from '../types';
import type { AccessRecord } from '../../domain';

/** The last record of the access trail (its seq and hash), or null when it is empty. */
export async function lastAccess(db: VaultDb): Promise<{ seq: number; hash: Uint8Array } | null> {
  const [row] = await db.select({ seq: accessLog.seq, hash: accessLog.hash }).from(accessLog).orderBy(desc(accessLog.seq)).limit(1);
  return row ?? null;
}

/**
 * Appends access records (already chained, in seq order) in one statement, so all or none
 * are stored; a concurrent writer that took one of the seqs makes it throw
 * unique_violation (23505).
 */
export async function appendAccess(db: VaultDb, records: readonly (AccessRecord & { hash: Uint8Array; keyId: string | null; signature: Uint8Array | null })[]): Promise<void> {
  if (records.length === 0) return;
  await db.insert(accessLog).values(
    records.map((r) => ({
      seq: r.seq,
      at: r.at,
      actor: r.actor,
      action: r.action,
      tenantId: r.tenant,
      sessionId: r.session,
      reason: r.reason,
      outcome: r.outcome,
      hash: r.hash,
      keyId: r.keyId,
      signature: r.signature,
    })),
  );
}
