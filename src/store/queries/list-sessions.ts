import { and, asc, eq, gt } from 'drizzle-orm';
import { sessions } from '../schema';
import type { TenantTx } from '../types';
import { toSessionRow, type SessionRow } from './read-session';

/** A page of a tenant's sessions in id order, after `afterSession`. */
export async function listSessions(tx: TenantTx, tenant: string, afterSession: string | null, limit: number): Promise<SessionRow[]> {
  const where = afterSession === null ? eq(sessions.tenantId, tenant) : and(eq(sessions.tenantId, tenant), gt(sessions.sessionId, afterSession));
  const rows = await tx.select().from(sessions).where(where).orderBy(asc(sessions.sessionId)).limit(limit);
  return rows.map(toSessionRow);
}
