import { tenants } from '../schema';
import type { TenantTx } from '../types';

/**
 * Inserts a tenant; returns false if it already existed. `wrapsSigned` where the vault
 * creating it signs its key wraps: from then on it opens no unsigned one (drizzle/0051).
 */
export async function insertTenant(tx: TenantTx, t: { tenant: string; createdAt: Date; wrapsSigned: boolean }): Promise<boolean> {
  const rows = await tx
    .insert(tenants)
    .values({ tenantId: t.tenant, createdAt: t.createdAt, wrapsSigned: t.wrapsSigned })
    .onConflictDoNothing()
    .returning({ id: tenants.tenantId });
  return rows.length === 1;
}
