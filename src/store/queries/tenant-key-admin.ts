import { and, asc, eq, sql } from 'drizzle-orm';
import { sessions, tenantKeys } from '../schema';
import type { TenantTx } from '../types';
import type { TenantKeyRow } from './insert-tenant-key';

/** Every key version of a tenant with how many session keys each still wraps, oldest first. Locks the rows when `forUpdate`. */
export async function listTenantKeys(tx: TenantTx, tenant: string, forUpdate = false): Promise<(TenantKeyRow & { sessions: number })[]> {
  const q = tx.select().from(tenantKeys).where(eq(tenantKeys.tenantId, tenant)).orderBy(asc(tenantKeys.version));
  const rows = forUpdate ? await q.for('update') : await q;
  const counts = await tx
    .select({ version: sessions.tenantKeyVersion, n: sql<number>`count(*)::int` })
    .from(sessions)
    .where(and(eq(sessions.tenantId, tenant), sql`${sessions.wrappedDataKey} IS NOT NULL`))
    .groupBy(sessions.tenantKeyVersion);
  const byVersion = new Map(counts.map((c) => [c.version, Number(c.n)]));
  return rows.map((r) => ({
    tenant: r.tenantId,
    version: r.version,
    masterKeyId: r.masterKeyId,
    wrappedKey: r.wrappedKey,
    state: r.state as TenantKeyRow['state'],
    createdAt: r.createdAt,
    wrapSeq: r.wrapSeq,
    wrapKeyId: r.wrapKeyId,
    wrapSignature: r.wrapSignature,
    wrapStoredAt: r.wrapStoredAt,
    sessions: byVersion.get(r.version) ?? 0,
  }));
}

/** Sets a key version's state; `destroyed` also deletes the wrapped key. */
export async function setTenantKeyState(tx: TenantTx, tenant: string, version: number, state: TenantKeyRow['state']): Promise<void> {
  await tx
    .update(tenantKeys)
    .set(state === 'destroyed' ? { state, wrappedKey: null } : { state })
    .where(and(eq(tenantKeys.tenantId, tenant), eq(tenantKeys.version, version)));
}
