import { and, eq } from 'drizzle-orm';
import { sessions } from '../schema';
import type { TenantTx } from '../types';
import type { WrapColumns } from './insert-tenant-key';

export interface SessionRow extends WrapColumns {
  tenant: string;
  session: string;
  agent: string | null;
  status: 'active' | 'archived' | 'purged';
  createdAt: Date;
  headSeq: number;
  headHash: Uint8Array | null;
  firstAt: Date | null;
  lastAt: Date | null;
  dataKeyVersion: number;
  tenantKeyVersion: number;
  wrappedDataKey: Uint8Array | null;
  /** The retention floor (`7y`) the session was created or archived under; null for sessions older than floors. */
  retainFloor: string | null;
}

export function toSessionRow(r: typeof sessions.$inferSelect): SessionRow {
  return {
    tenant: r.tenantId,
    session: r.sessionId,
    agent: r.agent,
    status: r.status as SessionRow['status'],
    createdAt: r.createdAt,
    headSeq: r.headSeq,
    headHash: r.headHash,
    firstAt: r.firstAt,
    lastAt: r.lastAt,
    dataKeyVersion: r.dataKeyVersion,
    tenantKeyVersion: r.tenantKeyVersion,
    wrappedDataKey: r.wrappedDataKey,
    retainFloor: r.retainFloor,
    wrapSeq: r.wrapSeq,
    wrapKeyId: r.wrapKeyId,
    wrapSignature: r.wrapSignature,
    wrapStoredAt: r.wrapStoredAt,
  };
}

/** One session's row, or null; locked until the transaction ends when `forUpdate`. */
export async function readSession(tx: TenantTx, tenant: string, session: string, forUpdate = false): Promise<SessionRow | null> {
  const q = tx
    .select()
    .from(sessions)
    .where(and(eq(sessions.tenantId, tenant), eq(sessions.sessionId, session)))
    .limit(1);
  const [row] = forUpdate ? await q.for('update') : await q;
  return row ? toSessionRow(row) : null;
}
