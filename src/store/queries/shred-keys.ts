import { and, eq, isNotNull } from 'drizzle-orm';
import { sessions, tenantKeys } from '../schema';
import type { TenantTx } from '../types';

/** Deletes the wrapped data key of one session, or of every session of the tenant. Returns how many were deleted. */
export async function shredSessionKeys(tx: TenantTx, tenant: string, session?: string): Promise<number> {
  const where =
    session === undefined
      ? and(eq(sessions.tenantId, tenant), isNotNull(sessions.wrappedDataKey))
      : and(eq(sessions.tenantId, tenant), eq(sessions.sessionId, session), isNotNull(sessions.wrappedDataKey));
  const rows = await tx.update(sessions).set({ wrappedDataKey: null }).where(where).returning({ id: sessions.sessionId });
  return rows.length;
}

/** Destroys every tenant key version of the tenant (wrapped keys deleted, state destroyed). */
export async function destroyAllTenantKeys(tx: TenantTx, tenant: string): Promise<void> {
  await tx.update(tenantKeys).set({ state: 'destroyed', wrappedKey: null }).where(eq(tenantKeys.tenantId, tenant));
}
