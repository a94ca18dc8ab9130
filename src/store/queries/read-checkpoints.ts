import { and, asc, desc, eq, gt, inArray, lte } from 'drizzle-orm';
import { checkpoints } from '../schema';
import type { TenantTx } from '../types';
import type { CheckpointRow } from './insert-checkpoint';

/** A page of a session's checkpoints in seq order, after `afterSeq`. */
export async function readCheckpoints(tx: TenantTx, tenant: string, session: string, afterSeq: number, limit: number): Promise<CheckpointRow[]> {
  const rows = await tx
    .select()
    .from(checkpoints)
    .where(and(eq(checkpoints.tenantId, tenant), eq(checkpoints.sessionId, session), gt(checkpoints.seq, afterSeq)))
    .orderBy(asc(checkpoints.seq), asc(checkpoints.keyId))
    .limit(limit);
  return rows.map(toCheckpointRow);
}

/**
 * A session's checkpoints at `seq` by the keys named: the ones a signature check needs,
 * whatever other rows stand there (the key id is part of the key, so each key has one).
 */
export async function readCheckpointsAt(tx: TenantTx, tenant: string, session: string, seq: number, keyIds: readonly string[]): Promise<CheckpointRow[]> {
  if (keyIds.length === 0) return [];
  const rows = await tx
    .select()
    .from(checkpoints)
    .where(and(eq(checkpoints.tenantId, tenant), eq(checkpoints.sessionId, session), eq(checkpoints.seq, seq), inArray(checkpoints.keyId, [...keyIds])));
  return rows.map(toCheckpointRow);
}

/** A session's latest checkpoints at or before `seq`, newest first: the head's own, if it has any, then those before it. */
export async function readCheckpointsUpTo(tx: TenantTx, tenant: string, session: string, seq: number, limit: number): Promise<CheckpointRow[]> {
  const rows = await tx
    .select()
    .from(checkpoints)
    .where(and(eq(checkpoints.tenantId, tenant), eq(checkpoints.sessionId, session), lte(checkpoints.seq, seq)))
    .orderBy(desc(checkpoints.seq), asc(checkpoints.keyId))
    .limit(limit);
  return rows.map(toCheckpointRow);
}

/** A stored checkpoint row as the vault reads it. */
export function toCheckpointRow(r: typeof checkpoints.$inferSelect): CheckpointRow {
  return { tenant: r.tenantId, session: r.sessionId, seq: r.seq, keyId: r.keyId, hash: r.hash, signedAt: r.signedAt, note: r.note, storedAt: r.storedAt };
}
