import { and, asc, eq, gt, gte, type SQL } from 'drizzle-orm';
import { accessLog } from '../schema';
import type { VaultDb } from '../types';
import type { AccessRecord } from '../../domain';

/** An access record as stored: the record, its chain hash, and the signature of the trail head at it. */
export type AccessRow = AccessRecord & { hash: Uint8Array; keyId: string | null; signature: Uint8Array | null };

/** A page of the access trail in seq order after `afterSeq`, optionally for one tenant and since a time. */
export async function readAccess(db: VaultDb, afterSeq: number, limit: number, filter: { tenant?: string; since?: Date } = {}): Promise<AccessRow[]> {
  const conditions: SQL[] = [gt(accessLog.seq, afterSeq)];
  if (filter.tenant !== undefined) conditions.push(eq(accessLog.tenantId, filter.tenant));
  if (filter.since !== undefined) conditions.push(gte(accessLog.at, filter.since));
  const rows = await db.select().from(accessLog).where(and(...conditions)).orderBy(asc(accessLog.seq)).limit(limit);
  return rows.map((r) => ({ seq: r.seq, at: r.at, actor: r.actor, action: r.action, tenant: r.tenantId, session: r.sessionId, reason: r.reason, outcome: r.outcome, hash: r.hash, keyId: r.keyId, signature: r.signature }));
}
